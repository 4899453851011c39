"""TagoIO's Python SDK import paths (tago-io/sdk-python, `tagoio-sdk` on PyPI), backed by
`mqtt_actions.tagoio`, so a TagoIO analysis runs here unchanged:

    from tagoio_sdk import Analysis, Account, Device, Resources, Services
    from tagoio_sdk.modules.Utils.envToJson import envToJson
    from tagoio_sdk.modules.Account.Device_Type import DeviceInfoList   # types: any *_Type module

A module the SDK has and this package does not (it reaches TagoIO's cloud) fails to import with
an error naming it and what to use instead (`tagoio_sdk._paths`)."""

from __future__ import annotations

from mqtt_actions.tagoio import Account, Analysis, Device, Resources, Services
from tagoio_sdk._paths import install

install()

__all__ = ["Account", "Analysis", "Device", "Resources", "Services"]
