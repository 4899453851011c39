"""`from tagoio_sdk.modules.Device.Device import Device`."""

from mqtt_actions.tagoio import Device

__all__ = ["Device"]
