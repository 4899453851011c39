"""`from tagoio_sdk.modules.Utils.sendDownlink import sendDownlink`."""

from mqtt_actions.tagoio.utils import sendDownlink

__all__ = ["sendDownlink"]
