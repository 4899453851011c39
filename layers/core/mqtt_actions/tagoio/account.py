"""`Account(params={"token": ...})` and `Resources()`: the device registry of this deployment
(token and certificate devices: `mqtt-actions devices create|set`), as TagoIO's
`devices.listDevice`, `info`, `paramList`, `paramSet`, `tokenList`, `amount`,
`getDeviceData` / `sendDeviceData` and `buckets.amount` (tago-io/sdk-python
`Resources/Devices.py`, `Resources/Buckets.py`).

The account token: any text. TagoIO checks it on its API; here the function's IAM role is the
authority (what it may read and write is in template.yaml), so the token is not checked and
not needed. Every other Account/Resources call raises UnsupportedCallError when called.
"""

from __future__ import annotations

import fnmatch
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from mqtt_actions.analysis import InvalidMessageError, NotConfiguredError
from mqtt_actions.device_profiles import DeviceParam, DeviceProfile
from mqtt_actions.tagoio import delegation
from mqtt_actions.tagoio.common import (
    DEVICES_TABLE,
    RESOURCES_INSTEAD,
    TagoRun,
    UnknownDeviceError,
    Unsupported,
    current,
    fields,
)
from mqtt_actions.tagoio.device import get_data, now_ms, rows_store, send_data
from mqtt_actions.tagoio_query import naive_utc

DEFAULT_AMOUNT = 20
MAX_AMOUNT = 10_000
ALL_FIELDS = ("id", "name", "tags", "bucket", "type", "active", "created_at", "last_input")


def _profiles(run: TagoRun, call: str) -> dict[str, DeviceProfile]:
    """Every registered device, plus token devices from before the registry (no tags)."""
    found: dict[str, DeviceProfile] = {}
    registry = run.stores.profiles()
    if registry is None:
        raise NotConfiguredError(
            f"{call} needs {DEVICES_TABLE}: add `{DEVICES_TABLE}: !Ref DevicesTable` (and "
            "dynamodb:Scan/GetItem on it) to the function's Environment (`mqtt-actions analyses "
            "add-tagoio` does)"
        )
    for profile in registry.all():
        found[profile.device] = profile
    tokens = run.stores.tokens()
    if tokens is not None:
        for _hash, record in tokens.all():
            found.setdefault(
                record.device, DeviceProfile(record.device, created_at=record.created_at)
            )
    return found


def _profile(run: TagoRun, device_id: object, call: str) -> DeviceProfile:
    if not isinstance(device_id, str) or not device_id:
        raise InvalidMessageError(f"{call} takes the device id (its name here), got {device_id!r}")
    registry = run.stores.profiles()
    profile = registry.get(device_id) if registry is not None else None
    if profile is None:
        profile = _profiles(run, call).get(device_id)
    if profile is None:
        raise UnknownDeviceError(
            f"{call}: no device {device_id!r} in this deployment (see `mqtt-actions devices list`)"
        )
    return profile


def _last_input(run: TagoRun, device: str) -> Any:
    store = run.stores.rows()
    if store is None:
        return None
    newest = store.rows(device, limit=1)
    return naive_utc(newest[0].time_ms) if newest else None


def _info(run: TagoRun, profile: DeviceProfile, wanted: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in wanted:
        if name in ("id", "bucket") or name == "name":
            out[name] = profile.device
        elif name == "tags":
            out[name] = profile.tags_list()
        elif name == "type":
            out[name] = "mutable"
        elif name == "active":
            out[name] = True
        elif name == "created_at":
            out[name] = naive_utc(profile.created_at) if profile.created_at else None
        elif name == "last_input":
            out[name] = _last_input(run, profile.device)
        elif name == "params":
            out[name] = profile.params_list()
        else:
            raise InvalidMessageError(
                f"listDevice: field {name!r} is not kept here; fields: {', '.join(ALL_FIELDS)}"
            )
    return out


def _tags_match(profile: DeviceProfile, wanted: object) -> bool:
    if not isinstance(wanted, Sequence) or isinstance(wanted, str):
        raise InvalidMessageError("listDevice: filter.tags is a list of {key, value}")
    for tag in wanted:
        if not isinstance(tag, Mapping):
            raise InvalidMessageError("listDevice: filter.tags is a list of {key, value}")
        key, value = tag.get("key"), tag.get("value")
        if not any(
            (key is None or k == key) and (value is None or v == value) for k, v in profile.tags
        ):
            return False
    return True


class _Devices:
    def listDevice(self, queryObj: Any = None) -> list[dict[str, Any]]:  # noqa: N802, N803
        """`{page, amount, fields, filter: {name ('*' wildcards), id, tags: [{key, value}]},
        orderBy: [field, asc|desc]}`; devices sorted by name."""
        run = current("Account.devices.listDevice")
        query = fields("Account.devices.listDevice", queryObj or {})
        unknown = sorted(
            set(query) - {"page", "amount", "fields", "filter", "orderBy", "resolveBucketName"}
        )
        if unknown:
            raise InvalidMessageError(f"listDevice: unknown key(s) {', '.join(unknown)}")
        wanted = query.get("fields") or list(ALL_FIELDS)
        page, amount = int(query.get("page") or 1), int(query.get("amount") or DEFAULT_AMOUNT)
        if page < 1 or not 1 <= amount <= MAX_AMOUNT:
            raise InvalidMessageError(f"listDevice: page >= 1 and amount 1 to {MAX_AMOUNT:,}")
        flt = fields("listDevice filter", query.get("filter") or {})
        chosen = []
        for profile in sorted(_profiles(run, "listDevice").values(), key=lambda p: p.device):
            name = flt.get("name")
            if isinstance(name, str) and not fnmatch.fnmatchcase(profile.device, name):
                continue
            if isinstance(flt.get("id"), str) and profile.device != flt["id"]:
                continue
            if "tags" in flt and not _tags_match(profile, flt["tags"]):
                continue
            chosen.append(profile)
        order = query.get("orderBy")
        if isinstance(order, Sequence) and len(order) == 2 and order[1] == "desc":
            chosen.reverse()
        start = (page - 1) * amount
        return [_info(run, p, wanted) for p in chosen[start : start + amount]]

    def info(self, deviceID: Any) -> dict[str, Any]:  # noqa: N803
        run = current("Account.devices.info")
        profile = _profile(run, deviceID, "devices.info")
        return _info(run, profile, [*ALL_FIELDS, "params"])

    def paramList(self, deviceID: Any, sentStatus: Any = None) -> list[dict[str, Any]]:  # noqa: N802, N803
        run = current("Account.devices.paramList")
        params = _profile(run, deviceID, "devices.paramList").params_list()
        if sentStatus is None:
            return params
        return [p for p in params if p["sent"] == bool(sentStatus)]

    def paramSet(self, deviceID: Any, configObj: Any, paramID: Any = None) -> str:  # noqa: N802, N803
        """Create parameters or change them (by `id`, else by `key`): TagoIO's `{key, value,
        sent, id?}` or a list of them."""
        run = current("Account.devices.paramSet")
        profile = _profile(run, deviceID, "devices.paramSet")
        batch = [configObj] if isinstance(configObj, Mapping) else configObj
        if not isinstance(batch, Sequence) or isinstance(batch, str):
            raise InvalidMessageError("paramSet takes {key, value, sent} or a list of them")
        params = list(profile.params)
        for item in batch:
            given = fields("devices.paramSet", item)
            if paramID is not None and isinstance(configObj, Mapping):
                given["id"] = paramID
            index = next(
                (i for i, p in enumerate(params) if given.get("id") and p.id == given["id"]),
                next((i for i, p in enumerate(params) if p.key == given.get("key")), None),
            )
            if index is None:
                if not isinstance(given.get("key"), str) or not given["key"]:
                    raise InvalidMessageError("paramSet: a new parameter needs a key")
                params.append(
                    DeviceParam(
                        secrets.token_hex(12), given["key"], str(given.get("value", "")),
                        bool(given.get("sent", False)),
                    )
                )  # fmt: skip
                continue
            old = params[index]
            params[index] = DeviceParam(
                old.id,
                str(given.get("key", old.key)),
                str(given.get("value", old.value)),
                bool(given.get("sent", old.sent)),
            )
        registry = run.stores.profiles()
        assert registry is not None  # _profile needed it  # noqa: S101
        registry.put(
            DeviceProfile(
                profile.device, profile.kind, profile.created_at, now_ms(run), profile.tags,
                tuple(params), profile.extra,
            )
        )  # fmt: skip
        return "Successfully Updated"

    def tokenList(self, deviceID: Any, queryObj: Any = None) -> list[dict[str, Any]]:  # noqa: N802, N803
        """One delegation token (15 minutes, this container only): stored tokens are hashes."""
        run = current("Account.devices.tokenList")
        profile = _profile(run, deviceID, "devices.tokenList")
        at = now_ms(run)
        return [
            {
                "name": "mqtt-actions delegation",
                "token": delegation.issue(profile.device, at),
                "permission": "full",
                "created_at": naive_utc(at),
                "expire_time": naive_utc(at + delegation.LIFETIME_MS),
                "last_authorization": None,
            }
        ]

    def amount(self, deviceID: Any) -> int:  # noqa: N803
        run = current("Account.devices.amount")
        profile = _profile(run, deviceID, "devices.amount")
        return rows_store(run, "devices.amount").count(profile.device)

    def getDeviceData(self, deviceID: Any, queryParams: Any = None) -> list[dict[str, Any]]:  # noqa: N802, N803
        run = current("Account.devices.getDeviceData")
        return get_data(run, _profile(run, deviceID, "getDeviceData").device, queryParams)

    def sendDeviceData(self, deviceID: Any, data: Any) -> str:  # noqa: N802, N803
        run = current("Account.devices.sendDeviceData")
        return send_data(run, _profile(run, deviceID, "sendDeviceData").device, data)

    def __getattr__(self, name: str) -> Unsupported:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unsupported(f"Account.devices.{name}", RESOURCES_INSTEAD)


class _Buckets:
    def amount(self, bucketID: Any) -> int:  # noqa: N803
        """Data points stored for the device (a bucket is its device here)."""
        run = current("Account.buckets.amount")
        profile = _profile(run, bucketID, "buckets.amount")
        return rows_store(run, "buckets.amount").count(profile.device)

    def __getattr__(self, name: str) -> Unsupported:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unsupported(f"Account.buckets.{name}", RESOURCES_INSTEAD)


class Account:
    """`Account(params={"token": ...})`: the token is any text (see the module's note)."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params = dict(params or {})
        self.devices = _Devices()
        self.buckets = _Buckets()

    def __getattr__(self, name: str) -> Unsupported:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unsupported(f"{type(self).__name__}.{name}", RESOURCES_INSTEAD)


class Resources(Account):
    """`Resources()`: TagoIO's newer entry point; the same devices here."""
