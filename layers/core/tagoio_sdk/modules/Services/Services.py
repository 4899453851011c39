"""`from tagoio_sdk.modules.Services.Services import Services`."""

from mqtt_actions.tagoio import Services

__all__ = ["Services"]
