"""`from tagoio_sdk.modules.Utils.envToJson import envToJson`."""

from mqtt_actions.tagoio.utils import envToJson

__all__ = ["envToJson"]
