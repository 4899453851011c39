"""The device registry: tags, configuration parameters and per-device settings of token and
certificate devices (`devices create NAME --tag/--param`, `devices set NAME ...`, `devices show`).
Operations over a Target; no argparse, no printing (cmd_devices does both).

A feature that keeps a setting per device (e.g. a payload parser) passes it as
`DeviceUpdate.extra[name]`; nothing here changes for it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping, Sequence

from mqtt_actions.adapters.device_profiles import DynamoDeviceProfiles
from mqtt_actions.device_profiles import (
    KIND_CERTIFICATE,
    KIND_TOKEN,
    DeviceProfile,
    DeviceProfileError,
    DeviceUpdate,
    apply_update,
    parse_pairs,
)
from mqtt_actions.ports import DeviceRegistry
from mqtt_actions_cli.ops.errors import NotFoundError, UsageError
from mqtt_actions_cli.target import Target

PARAM_ID_BYTES = 12  # 24 hex digits, the shape of TagoIO's ids


def registry_for(target: Target) -> DeviceRegistry:
    return DynamoDeviceProfiles(target.output("DevicesTableName"), target.client("dynamodb"))


def new_ids() -> Iterator[str]:
    while True:
        yield secrets.token_hex(PARAM_ID_BYTES)


def make_update(
    *,
    tags: Sequence[str] = (),
    params: Sequence[str] = (),
    untag: Sequence[str] = (),
    unparam: Sequence[str] = (),
    extra: Mapping[str, str | None] | None = None,
) -> DeviceUpdate:
    """A DeviceUpdate from the command line's texts; UsageError names the option and the fix."""
    try:
        return DeviceUpdate(
            set_tags=parse_pairs("--tag", tags),
            remove_tags=tuple(untag),
            set_params=parse_pairs("--param", params),
            remove_params=tuple(unparam),
            extra=dict(extra or {}),
        )
    except DeviceProfileError as exc:
        raise UsageError(str(exc), hint="see `mqtt-actions devices set --help`") from None


def register(
    registry: DeviceRegistry, device: str, kind: str, update: DeviceUpdate, *, now_ms: int
) -> DeviceProfile:
    """At `devices create`: the device's profile, created or (a second token) updated."""
    current = registry.get(device) or DeviceProfile(device, kind=kind, created_at=now_ms)
    return _store(registry, current, update, now_ms)


def _store(
    registry: DeviceRegistry, current: DeviceProfile, update: DeviceUpdate, now_ms: int
) -> DeviceProfile:
    try:
        changed = apply_update(current, update, now_ms=now_ms, new_id=new_ids())
    except DeviceProfileError as exc:
        raise UsageError(str(exc), hint="see `mqtt-actions devices show NAME`") from None
    registry.put(changed)
    return changed


def _known_kind(target: Target, device: str) -> str | None:
    """token / certificate for a device created before the registry existed, else None."""
    from mqtt_actions_cli.ops import tokens

    if tokens.store_for(target).by_device(device):
        return KIND_TOKEN
    if not target.is_local:
        iot = target.client("iot")
        try:
            iot.describe_thing(thingName=device)
        except iot.exceptions.ResourceNotFoundException:
            return None
        return KIND_CERTIFICATE
    return None


def set_profile(target: Target, device: str, update: DeviceUpdate, *, now_ms: int) -> DeviceProfile:
    """`devices set NAME ...`: change a registered device's tags, parameters or settings."""
    if update.is_empty():
        raise UsageError(
            f"devices set {device}: nothing to change",
            hint="give --tag KEY=VALUE, --param KEY=VALUE, --untag KEY or --unparam KEY",
        )
    registry = registry_for(target)
    current = registry.get(device)
    if current is None:
        kind = _known_kind(target, device)
        if kind is None:
            raise NotFoundError(
                f"no device {device!r} in {target.describe()}",
                hint="create it first: mqtt-actions devices create NAME --token "
                "(see `mqtt-actions devices list`)",
            )
        current = DeviceProfile(device, kind=kind, created_at=now_ms)
    return _store(registry, current, update, now_ms)


def show(target: Target, device: str) -> DeviceProfile:
    profile = registry_for(target).get(device)
    if profile is None:
        kind = _known_kind(target, device)
        if kind is None:
            raise NotFoundError(
                f"no device {device!r} in {target.describe()}",
                hint="see `mqtt-actions devices list`",
            )
        return DeviceProfile(device, kind=kind)
    return profile


def all_profiles(target: Target) -> dict[str, DeviceProfile]:
    return {p.device: p for p in registry_for(target).all()}
