"""`from tagoio_sdk.modules.Utils.getDevice import getDevice`."""

from mqtt_actions.tagoio.utils import getDevice

__all__ = ["getDevice"]
