"""The live inspector: query a time range, or follow it as it grows (what `inspect --follow`
prints and the console's Live page streams). Both read the stack's inspector table (the local
stack keeps it in moto's DynamoDB, like AWS; every device at once through the `ByHour` index).

The functions take any reader of entries: a Target's (`reader`, the layer's `InspectorEntry`), or
the local stack's control API's (reads.py: plain JSON, so `mqtt-actions inspect` imports no
pydantic); `Entry` is what they and the inspect command read of an entry."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, cast

from mqtt_actions_cli.target import Target

if TYPE_CHECKING:  # the layer's models load with `reader`, not with this module
    from mqtt_actions.inspector import EntryType, InspectorEntry

FOLLOW_LOOKBACK_MS = 120_000  # a follow re-reads this far back: entries can be stored late
FOLLOW_LIMIT = 1000
MAX_LOOKBACK_MS = 15 * 60_000  # however far behind the writer falls, never read further back
DEFAULT_RETENTION_DAYS = 7


class Entry(Protocol):
    """What readers of the inspector use of an entry (`InspectorEntry` has it all)."""

    @property
    def device(self) -> str: ...
    @property
    def type(self) -> str: ...  # an EntryType value
    @property
    def time(self) -> int: ...
    @property
    def session(self) -> str | None: ...
    @property
    def version(self) -> int | None: ...
    @property
    def qos(self) -> int | None: ...
    @property
    def details(self) -> dict[str, Any]: ...
    @property
    def key(self) -> tuple[str, str]: ...
    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...


class InspectorQuery[E: Entry = InspectorEntry](Protocol):
    def __call__(
        self,
        *,
        device: str | None = None,
        since_ms: int = 0,
        until_ms: int | None = None,
        types: Collection[EntryType | str] | None = None,
        limit: int = 100,
    ) -> Sequence[E]: ...


def _reading[E: Entry](source: Target | InspectorQuery[E]) -> InspectorQuery[E]:
    if isinstance(source, Target):  # then E is its default, InspectorEntry: what reader gives
        return cast("InspectorQuery[E]", reader(source))
    return source


def reader(target: Target) -> InspectorQuery:
    """The target's inspector, read with `DynamoInspector.query`."""
    from mqtt_actions.adapters.inspector import DynamoInspector

    raw = target.parameters.get("InspectorRetentionDays") or target.outputs.get(
        "InspectorRetentionDays", ""
    )
    retention = int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_RETENTION_DAYS
    inspector = DynamoInspector(
        target.output("InspectorTableName"), target.client("dynamodb"), retention
    )
    return inspector.query


def query[E: Entry = InspectorEntry](
    source: Target | InspectorQuery[E],
    *,
    device: str | None = None,
    types: Collection[str] | None = None,
    since_ms: int = 0,
    until_ms: int | None = None,
    limit: int = 100,
) -> list[E]:
    """The newest `limit` entries in the range, oldest first."""
    read = _reading(source)
    return list(read(device=device, since_ms=since_ms, until_ms=until_ms, types=types, limit=limit))


def latest[E: Entry = InspectorEntry](
    source: Target | InspectorQuery[E], *, device: str, types: Collection[str] | None = None
) -> E | None:
    """The device's newest entry of any time (None: it has none)."""
    found = query(source, device=device, types=types, since_ms=0, limit=1)
    return found[-1] if found else None


def follow[E: Entry = InspectorEntry](
    source: Target | InspectorQuery[E],
    *,
    device: str | None = None,
    types: Collection[str] | None = None,
    since_ms: int,
    limit: int = 100,
    poll_seconds: float = 1.0,
    lookback_ms: int = FOLLOW_LOOKBACK_MS,
    recent_ms: int | None = None,
    sweep_polls: int = 1,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    max_polls: int | None = None,
) -> Iterator[list[E]]:
    """First the newest `limit` entries since `since_ms`, then, every `poll_seconds`, the entries
    that were not there before (an empty list when none: a consumer can stop between polls).
    Each entry is yielded once; what the look-back window has left behind is forgotten, so the
    memory stays bounded however long it runs. Ends after `max_polls` polls (None: never).

    Entries are read by their own time, but a writer that falls behind (a busy stack, Lambda
    retries) stores them late: the window reaches back `lookback_ms`, or twice the lateness the
    last poll saw, whichever is longer (at most MAX_LOOKBACK_MS). A fast follower (the console,
    5 polls a second) reads only the last `recent_ms` (or twice the lateness) on most polls and
    the whole `lookback_ms` every `sweep_polls`-th poll: entries stored very late still come,
    a little later, and each poll reads a few entries instead of the whole window."""
    read = _reading(source)
    read_at = int(clock() * 1000)  # when the last read began: what is stored later is new
    first = list(read(device=device, since_ms=since_ms, until_ms=None, types=types, limit=limit))
    seen = {e.key: e.time for e in first}
    yield first
    polls = 0
    late_ms = 0
    while max_polls is None or polls < max_polls:
        sleep(poll_seconds)
        polls += 1
        now_ms = int(clock() * 1000)
        sweep = recent_ms is None or polls % max(sweep_polls, 1) == 0
        base = lookback_ms if sweep or recent_ms is None else recent_ms
        reach = min(max(base, 2 * late_ms), MAX_LOOKBACK_MS)
        # From when the last read began, not from now: a slow read (a console's first, on a
        # busy machine) would otherwise leave behind what was stored while it ran.
        window_ms = max(since_ms, min(now_ms, read_at) - reach)
        read_at = now_ms
        found = read(
            device=device, since_ms=window_ms, until_ms=None, types=types, limit=FOLLOW_LIMIT
        )
        fresh = [e for e in found if e.key not in seen]
        late_ms = max((now_ms - e.time for e in fresh), default=0)
        seen.update((e.key, e.time) for e in fresh)
        if sweep:  # forget only what the whole window has left behind
            seen = {k: t for k, t in seen.items() if t >= window_ms - reach}
        yield fresh
