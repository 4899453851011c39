"""The read commands' data (`bucket query`, `inspect`, `actions list`), from the cheapest place.

On the local stack, the stack answers them itself: its control API runs the same ops function
(local/ops_routes.py) and sends the result as JSON, so the command's process imports neither
boto3 nor pydantic (half of a read's second was importing them; the stack holds them already).
On a deployed stack (`--stack`), or a Target without a control API, the ops function runs here
with boto3. Both give the same JSON: the commands render it the same way, byte for byte
(tests/e2e/test_cli_reads.py compares the two on one stack)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from mqtt_actions_cli.target import Target

if TYPE_CHECKING:
    from mqtt_actions_cli.ops.inspector import Entry, InspectorQuery

BUCKET_QUERY = "bucket.query"
ACTIONS_LIST = "actions.list"
INSPECTOR_QUERY = "inspector.query"


def bucket_page(
    target: Target,
    device: str,
    *,
    variable: str | None,
    since_ms: int | None,
    until_ms: int | None,
    limit: int,
) -> dict[str, Any]:
    """`ops.bucket.query` as JSON: `{"device", "points": [...]}`."""
    params = {
        "device": device,
        "variable": variable,
        "since_ms": since_ms,
        "until_ms": until_ms,
        "limit": limit,
    }
    if target.control is not None:
        return target.control.read(BUCKET_QUERY, params)
    return bucket_page_here(
        target, device, variable=variable, since_ms=since_ms, until_ms=until_ms, limit=limit
    )


def bucket_page_here(
    target: Target,
    device: str,
    *,
    variable: str | None,
    since_ms: int | None,
    until_ms: int | None,
    limit: int,
) -> dict[str, Any]:
    """`bucket_page` run in this process with boto3 (what the stack's read route runs)."""
    from mqtt_actions_cli.ops import bucket

    page = bucket.query(
        target, device, variable=variable, since_ms=since_ms, until_ms=until_ms, limit=limit
    )
    return page.model_dump(mode="json")


def actions_listing(target: Target) -> dict[str, Any]:
    """`ops.actions.listing` as JSON: `{"actions": [config, ...], "rows": [[id, ...], ...]}`."""
    if target.control is not None:
        return target.control.read(ACTIONS_LIST, {})
    return actions_listing_here(target)


def actions_listing_here(target: Target) -> dict[str, Any]:
    """`actions_listing` run in this process with boto3 (what the stack's read route runs)."""
    from mqtt_actions_cli.ops import actions

    return actions.listing(target).model_dump(mode="json")


def inspector_reader(target: Target) -> InspectorQuery[Entry]:
    """A reader of the target's inspector for `ops.inspector.query/follow/latest`."""
    control = target.control
    if control is None:
        from mqtt_actions_cli.ops import inspector

        return inspector.reader(target)

    def read(
        *,
        device: str | None = None,
        since_ms: int = 0,
        until_ms: int | None = None,
        types: Collection[str] | None = None,
        limit: int = 100,
    ) -> list[SentEntry]:
        params = {
            "device": device,
            "since_ms": since_ms,
            "until_ms": until_ms,
            "types": None if types is None else [str(t) for t in types],
            "limit": limit,
        }
        entries = control.read(INSPECTOR_QUERY, params).get("entries")
        return [SentEntry(e) for e in entries if isinstance(e, dict)] if entries else []

    return read


class SentEntry:
    """An inspector entry as the control API sends it (`InspectorEntry.model_dump(mode="json")`),
    read as `ops.inspector.Entry` without building the pydantic model."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @property
    def device(self) -> str:
        return str(self._data["device"])

    @property
    def type(self) -> str:
        return str(self._data["type"])

    @property
    def time(self) -> int:
        return int(self._data["time"])

    @property
    def session(self) -> str | None:
        value = self._data.get("session")
        return None if value is None else str(value)

    @property
    def version(self) -> int | None:
        value = self._data.get("version")
        return None if value is None else int(value)

    @property
    def qos(self) -> int | None:
        value = self._data.get("qos")
        return None if value is None else int(value)

    @property
    def details(self) -> dict[str, Any]:
        value = self._data.get("details")
        return value if isinstance(value, dict) else {}

    @property
    def key(self) -> tuple[str, str]:
        """As `InspectorEntry.key`: the device and `<time, 13 digits>#<type>#<uid>`."""
        return (self.device, f"{self.time:013d}#{self.type}#{self._data['uid']}")

    def model_dump(self, *, mode: str = "json") -> dict[str, Any]:
        """The entry as sent: what `InspectorEntry.model_dump(mode="json")` gave the stack."""
        return dict(self._data)
