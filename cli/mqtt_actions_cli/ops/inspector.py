"""The live inspector: query a time range, or follow it as it grows (what `inspect --follow`
prints and the console's Live page streams). Both read the stack's inspector table (the local
stack keeps it in moto's DynamoDB, like AWS; every device at once through the `ByHour` index)."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Protocol

from mqtt_actions.inspector import EntryType, InspectorEntry
from mqtt_actions_cli.target import Target

FOLLOW_LOOKBACK_MS = 120_000  # a follow re-reads this far back: entries can be stored late
FOLLOW_LIMIT = 1000
MAX_LOOKBACK_MS = 15 * 60_000  # however far behind the writer falls, never read further back
DEFAULT_RETENTION_DAYS = 7


class InspectorQuery(Protocol):
    def __call__(
        self,
        *,
        device: str | None = None,
        since_ms: int = 0,
        until_ms: int | None = None,
        types: Collection[EntryType | str] | None = None,
        limit: int = 100,
    ) -> Sequence[InspectorEntry]: ...


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


def query(
    source: Target | InspectorQuery,
    *,
    device: str | None = None,
    types: Collection[str] | None = None,
    since_ms: int = 0,
    until_ms: int | None = None,
    limit: int = 100,
) -> list[InspectorEntry]:
    """The newest `limit` entries in the range, oldest first."""
    read = reader(source) if isinstance(source, Target) else source
    return list(read(device=device, since_ms=since_ms, until_ms=until_ms, types=types, limit=limit))


def latest(
    source: Target | InspectorQuery, *, device: str, types: Collection[str] | None = None
) -> InspectorEntry | None:
    """The device's newest entry of any time (None: it has none)."""
    found = query(source, device=device, types=types, since_ms=0, limit=1)
    return found[-1] if found else None


def follow(
    source: Target | InspectorQuery,
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
) -> Iterator[list[InspectorEntry]]:
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
    read = reader(source) if isinstance(source, Target) else source
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
