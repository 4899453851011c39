"""`from tagoio_sdk.modules.Resources.AccountDeprecated import AccountDeprecated`."""

from mqtt_actions.tagoio import Account as AccountDeprecated

__all__ = ["AccountDeprecated"]
