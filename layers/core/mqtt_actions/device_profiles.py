"""What the device registry knows of a device besides its credentials: TagoIO's device tags
(`[{key, value}]`) and configuration parameters (`[{id, key, value, sent}]`), as in the public
SDK's `TagsObj` and `ConfigurationParams` (tago-io/sdk-python, `Resources/Device_Type.py`).
Pure: no I/O. Stored by `adapters/device_profiles.py`; read by analyses and the router through
`ports.DeviceProfiles`.

Other features keep their own per-device settings in `extra` (text values by name), so a new
`devices set --OPTION` needs no change to the storage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

# Our own bounds (TagoIO publishes none): they keep a device's item far under DynamoDB's 400 KB.
KEY_MAX: Final = 128
VALUE_MAX: Final = 1024
TAGS_MAX: Final = 50
PARAMS_MAX: Final = 100
EXTRA_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)

KIND_TOKEN: Final = "token"  # noqa: S105 - a kind of device, not a secret
KIND_CERTIFICATE: Final = "certificate"


class DeviceProfileError(ValueError):
    """A tag, parameter or setting that cannot be stored; the message names it and the fix."""


@dataclass(frozen=True)
class DeviceParam:
    """A configuration parameter: `sent` is TagoIO's flag for 'the device has received it'."""

    id: str
    key: str
    value: str
    sent: bool = False

    def as_tagoio(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "value": self.value, "sent": self.sent}


@dataclass(frozen=True)
class DeviceProfile:
    """One device of the registry. `kind` is token or certificate; times in ms."""

    device: str
    kind: str = KIND_TOKEN
    created_at: int = 0
    updated_at: int = 0
    tags: tuple[tuple[str, str], ...] = ()
    params: tuple[DeviceParam, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)

    def tag(self, key: str) -> str | None:
        return next((value for k, value in self.tags if k == key), None)

    def param(self, key: str) -> DeviceParam | None:
        return next((p for p in self.params if p.key == key), None)

    def tags_list(self) -> list[dict[str, str]]:
        """TagoIO's form: `[{"key", "value"}]`."""
        return [{"key": k, "value": v} for k, v in self.tags]

    def params_list(self) -> list[dict[str, Any]]:
        """TagoIO's form: `[{"id", "key", "value", "sent"}]`."""
        return [p.as_tagoio() for p in self.params]

    def as_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "kind": self.kind,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "tags": self.tags_list(),
            "params": self.params_list(),
            **({"extra": dict(self.extra)} if self.extra else {}),
        }


@dataclass(frozen=True)
class DeviceUpdate:
    """A change to a profile: `set_*` add or replace by key, `remove_*` drop by key, `extra`
    sets a named setting (None removes it)."""

    set_tags: tuple[tuple[str, str], ...] = ()
    remove_tags: tuple[str, ...] = ()
    set_params: tuple[tuple[str, str], ...] = ()
    remove_params: tuple[str, ...] = ()
    extra: Mapping[str, str | None] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (
            self.set_tags or self.remove_tags or self.set_params or self.remove_params or self.extra
        )


def _check_text(option: str, what: str, text: str, limit: int, *, allow_empty: bool) -> None:
    if not text and not allow_empty:
        raise DeviceProfileError(f"{option}: the {what} is empty; write KEY=VALUE")
    if len(text) > limit:
        msg = f"{option}: the {what} {text[:40]!r}... is {len(text)} characters; at most {limit}"
        raise DeviceProfileError(msg)
    if not text.isprintable():
        raise DeviceProfileError(f"{option}: the {what} {text!r} holds control characters")


def check_key(option: str, key: str) -> None:
    _check_text(option, "key", key, KEY_MAX, allow_empty=False)
    if key != key.strip():
        raise DeviceProfileError(f"{option}: the key {key!r} has spaces around it")


def parse_pairs(option: str, values: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """`KEY=VALUE` texts (the value may hold `=` and be empty) -> pairs; a key given twice keeps
    its last value. DeviceProfileError names the option and the text."""
    pairs: dict[str, str] = {}
    for text in values:
        key, sep, value = text.partition("=")
        if not sep:
            raise DeviceProfileError(
                f"{option} {text!r}: write KEY=VALUE (e.g. {option} type=temp)"
            )
        check_key(option, key)
        _check_text(option, "value", value, VALUE_MAX, allow_empty=True)
        pairs.pop(key, None)
        pairs[key] = value
    return tuple(pairs.items())


def check_extra_name(name: str) -> None:
    if not EXTRA_NAME.fullmatch(name):
        raise DeviceProfileError(f"device setting name {name!r} is not [a-z][a-z0-9_]*")


def _merge(
    current: Sequence[tuple[str, str]], changes: Sequence[tuple[str, str]], remove: Sequence[str]
) -> list[tuple[str, str]]:
    merged = dict(current)
    for key in remove:
        merged.pop(key, None)
    merged.update(changes)
    return list(merged.items())


def apply_update(
    profile: DeviceProfile, update: DeviceUpdate, *, now_ms: int, new_id: Iterable[str]
) -> DeviceProfile:
    """`profile` with `update` applied. A parameter whose value changes is unsent again (TagoIO
    marks a parameter sent once the device has read it); a new one takes the next id of
    `new_id`. Raises DeviceProfileError when a bound is passed or a removed key is unknown."""
    for option, keys, known in (
        ("--untag", update.remove_tags, {k for k, _ in profile.tags}),
        ("--unparam", update.remove_params, {p.key for p in profile.params}),
    ):
        for key in keys:
            if key not in known:
                have = ", ".join(sorted(known)) or "none"
                msg = (
                    f"{option} {key!r}: device {profile.device!r} has no such key (it has: {have})"
                )
                raise DeviceProfileError(msg)
    tags = _merge(profile.tags, update.set_tags, update.remove_tags)
    if len(tags) > TAGS_MAX:
        raise DeviceProfileError(f"--tag: {len(tags)} tags, at most {TAGS_MAX} per device")
    old = {p.key: p for p in profile.params}
    ids = iter(new_id)
    params: list[DeviceParam] = []
    for key, value in _merge(
        [(p.key, p.value) for p in profile.params], update.set_params, update.remove_params
    ):
        before = old.get(key)
        if before is None:
            params.append(DeviceParam(next(ids), key, value))
        elif before.value != value:
            params.append(replace(before, value=value, sent=False))
        else:
            params.append(before)
    if len(params) > PARAMS_MAX:
        raise DeviceProfileError(f"--param: {len(params)} parameters, at most {PARAMS_MAX}")
    extra = dict(profile.extra)
    for name, setting in update.extra.items():
        check_extra_name(name)
        if setting is None:
            extra.pop(name, None)
        else:
            extra[name] = setting
    return replace(profile, tags=tuple(tags), params=tuple(params), extra=extra, updated_at=now_ms)
