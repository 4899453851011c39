"""`from tagoio_sdk.modules.Utils.getTokenByName import getTokenByName`."""

from mqtt_actions.tagoio.utils import getTokenByName

__all__ = ["getTokenByName"]
