"""`from tagoio_sdk.modules.Resources.Resources import Resources`."""

from mqtt_actions.tagoio import Resources

__all__ = ["Resources"]
