"""What every TagoIO-shaped call shares: the run it belongs to, its stores, its errors, and the
object that stands for a call with no counterpart here (it raises when called, never earlier)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from mqtt_actions.analysis import AnalysisError, Context, InvalidMessageError

if TYPE_CHECKING:
    from mqtt_actions.ports import DeviceRegistry
    from mqtt_actions.tagoio_query import Row

DEVICE_TOKENS_TABLE: Final = "DEVICE_TOKENS_TABLE"
DEVICES_TABLE: Final = "DEVICES_TABLE"
BUCKET_TABLE: Final = "BUCKET_TABLE"


class UnsupportedCallError(AnalysisError):
    """A TagoIO SDK call with no counterpart here; the message says what to use instead."""

    def __init__(self, call: str, instead: str) -> None:
        super().__init__(f"{call} has no counterpart in MQTT Actions: {instead}")
        self.call = call


class UnknownTokenError(AnalysisError):
    """`Device({"token"})` with a token no device has (or a revoked or expired one)."""


class UnknownDeviceError(AnalysisError):
    """An Account call naming a device the registry does not hold."""


class DeviceTokenLookup(Protocol):
    def device_for(self, token_hash: str) -> str | None: ...


class DeviceTokenList(DeviceTokenLookup, Protocol):
    def all(self) -> list[tuple[str, Any]]: ...


class BucketRows(Protocol):
    """A device's stored rows by id: what getData, editData and deleteData need."""

    def rows(
        self,
        device: str,
        *,
        variables: tuple[str, ...] = (),
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int,
    ) -> list[Row]: ...

    def rewrite(self, device: str, key: str, changes: Mapping[str, Any]) -> bool:
        """Merge `changes` into the stored point `key`; False when there is none."""
        ...

    def delete(self, device: str, keys: list[str]) -> int: ...

    def count(self, device: str) -> int: ...


@dataclass
class Stores:
    """The stores a TagoIO call may need, each built on first use (from the function's
    environment by default; tests hand in fakes)."""

    tokens: Callable[[], DeviceTokenList | None]
    profiles: Callable[[], DeviceRegistry | None]
    rows: Callable[[], BucketRows | None]


@dataclass
class TagoRun:
    context: Context
    stores: Stores
    notifications: int = 0


CURRENT: contextvars.ContextVar[TagoRun | None] = contextvars.ContextVar("tagoio_run", default=None)


def current(call: str) -> TagoRun:
    run = CURRENT.get()
    if run is None:
        raise AnalysisError(
            f"{call} works inside an analysis run only: call it from the function given to "
            "Analysis(...).init(...), not at import time"
        )
    return run


def fields(call: str, data: object) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidMessageError(f"{call} takes one dict, as in TagoIO's SDK; got {kind(data)}")
    return {str(k): v for k, v in data.items()}


def one_object(call: str, positional: object, keyword: object, name: str) -> dict[str, Any]:
    """The SDK's two forms, `send({...})` and `send(name={...})`: exactly one of them."""
    if positional is not None and keyword is not None:
        raise InvalidMessageError(f"{call}: give the object once, positionally or as {name}=")
    given = positional if positional is not None else keyword
    if given is None:
        raise InvalidMessageError(f"{call} needs the object: {call}({name}={{...}})")
    return fields(call, given)


def kind(value: object) -> str:
    return type(value).__name__


def hint(token: str) -> str:
    """A token named without showing it: its last 4 characters."""
    return f"'…{token[-4:]}'" if len(token) > 8 else "(short token)"


class Unsupported:
    """Any attribute chain under a TagoIO API we do not have; calling it raises, naming it."""

    def __init__(self, path: str, instead: str) -> None:
        self._path = path
        self._instead = instead

    def __getattr__(self, name: str) -> Unsupported:
        if name.startswith("__"):
            raise AttributeError(name)
        return Unsupported(f"{self._path}.{name}", self._instead)

    def __call__(self, *args: object, **kwargs: object) -> Any:
        raise UnsupportedCallError(f"{self._path}(...)", self._instead)

    def __repr__(self) -> str:
        return f"<{self._path}: not available in MQTT Actions>"


RESOURCES_INSTEAD: Final = (
    "devices are managed with `mqtt-actions devices ...` (Account.devices.listDevice, info, "
    "paramList, paramSet, tokenList and amount work), actions with an actions file "
    "(`mqtt-actions actions apply`), stored data with Device(...).getData / sendData"
)
