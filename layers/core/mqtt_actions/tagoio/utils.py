"""TagoIO's `Utils`: `envToJson`, `getTokenByName`, `getDevice` (tago-io/sdk-python
`Utils/*.py`); `sendDownlink` and the rest raise when called."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mqtt_actions.analysis import InvalidMessageError
from mqtt_actions.tagoio.account import Account
from mqtt_actions.tagoio.common import Unsupported
from mqtt_actions.tagoio.device import Device


def envToJson(environment: object) -> dict[str, Any]:  # noqa: N802
    """`[{key, value}, ...]` (context.environment) -> `{key: value}`."""
    if not isinstance(environment, Sequence) or isinstance(environment, str):
        raise InvalidMessageError("envToJson takes context.environment ([{key, value}, ...])")
    return {str(e.get("key")): e.get("value") for e in environment if isinstance(e, Mapping)}


def getTokenByName(account: Any, deviceID: Any, names: Any = None) -> str | None:  # noqa: N802, N803
    """A token `Device()` accepts for the device: a delegation token (stored tokens are
    hashes). `names` is accepted and not needed: every device has one such token."""
    del names
    if not isinstance(account, Account):
        raise InvalidMessageError("getTokenByName takes an Account(...) first, as in TagoIO")
    tokens = account.devices.tokenList(deviceID)
    return str(tokens[0]["token"]) if tokens else None


def getDevice(account: Any, device_id: Any) -> Device:  # noqa: N802
    """`Device` for the device, with a delegation token."""
    token = getTokenByName(account, device_id)
    if token is None:
        raise InvalidMessageError(f"getDevice: no token for device {device_id!r}")
    return Device({"token": token})


sendDownlink = Unsupported(  # noqa: N816 - TagoIO's name
    "Utils.sendDownlink",
    "there are no LoRaWAN networks here: publish the downlink on the device's MQTT topic with "
    "Services(...).MQTT.publish",
)


class _Utils:
    """`Utils.envToJson(...)` and friends as attributes, for scripts that import `Utils`."""

    envToJson = staticmethod(envToJson)  # noqa: N815 - TagoIO's names
    getTokenByName = staticmethod(getTokenByName)  # noqa: N815
    getDevice = staticmethod(getDevice)  # noqa: N815
    sendDownlink = sendDownlink  # noqa: N815

    def __getattr__(self, name: str) -> Unsupported:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unsupported(
            f"Utils.{name}", "Utils has envToJson, getTokenByName and getDevice here"
        )


Utils = _Utils()
