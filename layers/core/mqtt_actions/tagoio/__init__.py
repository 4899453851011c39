"""TagoIO's Python SDK on this project: TagoIO analyses run unchanged.

A script as written for TagoIO (`from tagoio_sdk import Analysis, Account, Device, Services`,
`Analysis(...).init(my_analysis)` at its top level) runs with
`Handler: mqtt_actions.tagoio.handler` and `TAGOIO_SCRIPT=<file>.py`
(`mqtt-actions analyses add-tagoio SCRIPT.py --name NAME` declares it). The layer's `tagoio_sdk`
package gives the SDK's import paths, backed by this package:

- `analysis`: `Analysis(...).init`, the context (`log`, `environment`, `token`), the handler;
- `device`: `Device({"token"})` with `sendData`, `getData`, `editData`, `deleteData`;
- `account`: `Account(...)` / `Resources()` with `devices.*` and `buckets.amount`;
- `services`: `Services(...)` with `MQTT.publish`, `email.send`, `sms.send`, `Notification.send`;
- `utils`: `envToJson`, `getTokenByName`, `getDevice`.

The shapes follow tago-io/sdk-python (src/tagoio_sdk/modules/). Every call with no counterpart
raises `UnsupportedCallError` naming it and what to use instead, when called. Nothing here needs
AWS or the environment at import time.
"""

from __future__ import annotations

from mqtt_actions.tagoio.account import Account, Resources
from mqtt_actions.tagoio.analysis import (
    Analysis,
    ScriptError,
    ScriptHandler,
    TagoContext,
    TagoIOAnalysisFunction,
    handler,
)
from mqtt_actions.tagoio.common import (
    DeviceTokenLookup,
    UnknownDeviceError,
    UnknownTokenError,
    Unsupported,
    UnsupportedCallError,
)
from mqtt_actions.tagoio.device import Device
from mqtt_actions.tagoio.services import Services
from mqtt_actions.tagoio.utils import Utils
from mqtt_actions.tokens import token_hash

Network = Unsupported("Network", "there are no networks or connectors; devices publish JSON")

__all__ = [
    "Account",
    "Analysis",
    "Device",
    "DeviceTokenLookup",
    "Network",
    "Resources",
    "ScriptError",
    "ScriptHandler",
    "Services",
    "TagoContext",
    "TagoIOAnalysisFunction",
    "UnknownDeviceError",
    "UnknownTokenError",
    "UnsupportedCallError",
    "Utils",
    "handler",
    "token_hash",
]
