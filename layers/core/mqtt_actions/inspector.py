"""The live inspector's entries and key design (pure: the DynamoDB adapter stores what this says).

Table `InspectorTable`:
- main key `device` (hash) + `sk` = `<time ms, 13 digits>#<type>#<uid>`: one device over a time
  range is one Query; writes spread over devices.
- index `ByHour` for every device over a time range: hash `hour_shard` = `<yyyy-mm-ddThh>#<n>`,
  range `time_key` = `<time ms>#<device>#<type>#<uid>`. `n` = a stable hash of the entry's key
  modulo SHARDS, so one hour's writes land on SHARDS partitions, not one. A reader fans out over
  the SHARDS partitions of each hour in the range, newest hour first, and merges.
- `uid` is deterministic, so a duplicate delivery rewrites the same item instead of adding one:
  lifecycle events hash their identity (eventType, clientId, sessionIdentifier, versionNumber,
  timestamp, topics...); a publish is its traceid; an action outcome is traceid + action id +
  outcome (a retried message that failed first and then succeeded shows both attempts; an
  identical retry is stored once).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, assert_never

from pydantic import BaseModel, ConfigDict, Field

from mqtt_actions.lifecycle import (
    Connected,
    ConnectFailed,
    Disconnected,
    LifecycleEvent,
    Subscribed,
    Unsubscribed,
    last_will_note,
)
from mqtt_actions.ports import ActionResult, MessageRecord

SHARDS = 8  # partitions per hour in the ByHour index; readers must use the same number
PREVIEW_LIMIT = 1024  # characters of payload kept per publish
HOUR_MS = 3_600_000
MAX_TIME_MS = 9_999_999_999_999  # 13 digits: year 2286


class EntryType(StrEnum):
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    CONNECT_FAILED = "connect_failed"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PUBLISH = "publish"
    ACTION = "action"


# Entries at the same millisecond read in the order things happen.
_TYPE_RANK = {t: i for i, t in enumerate(EntryType)}
_PRESENCE = frozenset({EntryType.CONNECT, EntryType.DISCONNECT})


class InspectorEntry(BaseModel):
    """One line of the inspector: a lifecycle event, a publish, or one action's outcome."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    device: str = Field(min_length=1, description="the MQTT client id")
    type: EntryType
    time: int = Field(ge=0, le=MAX_TIME_MS, description="ms since the epoch (IoT Core's clock)")
    uid: str = Field(min_length=1, description="deterministic; unique per device, time and type")
    traceid: str | None = Field(default=None, description="publish and action: the message")
    session: str | None = Field(default=None, description="lifecycle: sessionIdentifier")
    version: int | None = Field(default=None, description="connect/disconnect: versionNumber")
    qos: int | None = Field(
        default=None, description="None in the cloud: IoT rules cannot see QoS; the local stack can"
    )
    details: dict[str, Any] = Field(default_factory=dict)
    recorded: int | None = Field(
        default=None,
        description="when it was stored, ms: entries of the same ms read in this order",
    )

    @property
    def sk(self) -> str:
        return sort_key(self.time, self.type, self.uid)

    @property
    def key(self) -> tuple[str, str]:
        """What makes an entry unique (DynamoDB's primary key)."""
        return (self.device, self.sk)


def sort_key(time_ms: int, entry_type: EntryType, uid: str) -> str:
    return f"{time_ms:013d}#{entry_type.value}#{uid}"


def time_bound(time_ms: int, *, upper: bool) -> str:
    """A `sk`/`time_key` bound: every key at `time_ms` sorts between the lower and upper bound."""
    return f"{time_ms:013d}~" if upper else f"{time_ms:013d}"


def hour_of(time_ms: int) -> str:
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H")


def shard_of(device: str, sk: str, shards: int = SHARDS) -> int:
    """Stable across processes (crc32, not Python's salted hash())."""
    return zlib.crc32(f"{device}\x00{sk}".encode()) % shards


def hour_shard(entry: InspectorEntry, shards: int = SHARDS) -> str:
    return f"{hour_of(entry.time)}#{shard_of(entry.device, entry.sk, shards)}"


def time_key(entry: InspectorEntry) -> str:
    return f"{entry.time:013d}#{entry.device}#{entry.type.value}#{entry.uid}"


def hours_newest_first(since_ms: int, until_ms: int) -> list[str]:
    """Every hour bucket that overlaps [since_ms, until_ms], newest first."""
    if until_ms < since_ms:
        return []
    start = datetime.fromtimestamp(since_ms / 1000, tz=UTC).replace(
        minute=0, second=0, microsecond=0
    )
    hour = datetime.fromtimestamp(until_ms / 1000, tz=UTC).replace(
        minute=0, second=0, microsecond=0
    )
    hours = []
    while hour >= start:
        hours.append(hour.strftime("%Y-%m-%dT%H"))
        hour -= timedelta(hours=1)
    return hours


# ---------------------------------------------------------------- entries from what happened


def message_entry(message: MessageRecord) -> InspectorEntry:
    preview = message.preview
    if len(preview) > PREVIEW_LIMIT:
        preview = preview[:PREVIEW_LIMIT] + "…"
    return InspectorEntry(
        device=message.device,
        type=EntryType.PUBLISH,
        time=message.timestamp,
        uid=message.traceid,
        traceid=message.traceid,
        qos=message.qos,
        details={
            "topic": message.topic,
            "size": message.size,
            "preview": preview,
            "points": message.points,
            "hops": message.hops,
            "matched": message.matched,
        },
    )


def outcome_entries(
    message: MessageRecord, results: Sequence[ActionResult]
) -> list[InspectorEntry]:
    return [
        InspectorEntry(
            device=message.device,
            type=EntryType.ACTION,
            time=message.timestamp,
            uid=f"{message.traceid}#{r.action_id}#{r.outcome.value}",
            traceid=message.traceid,
            details={
                "topic": message.topic,
                "action_id": r.action_id,
                "action_type": r.action_type,
                "outcome": r.outcome.value,
                "reason": r.reason,
                "detail": r.detail,
            },
        )
        for r in results
    ]


def lifecycle_entry(event: LifecycleEvent) -> InspectorEntry:
    details: dict[str, Any] = {"principal": event.principal_identifier}
    if event.thing_name:
        details["thing"] = event.thing_name
    version: int | None = None
    match event:
        case Connected():
            entry_type, version = EntryType.CONNECT, event.version_number
            details["ip"] = event.ip_address
        case Disconnected():
            entry_type, version = EntryType.DISCONNECT, event.version_number
            details |= {
                "reason": event.disconnect_reason,
                "client_initiated": event.client_initiated_disconnect,
                "last_will": event.last_will,
                "last_will_note": last_will_note(event.disconnect_reason),
            }
        case ConnectFailed():
            entry_type = EntryType.CONNECT_FAILED
            details |= {"reason": event.connect_failure_reason, "ip": event.ip_address}
        case Subscribed() | Unsubscribed():
            entry_type = (
                EntryType.SUBSCRIBE if isinstance(event, Subscribed) else EntryType.UNSUBSCRIBE
            )
            details["topics"] = list(event.topics)
        case _:
            assert_never(event)
    return InspectorEntry(
        device=event.client_id,
        type=entry_type,
        time=event.timestamp,
        uid=_digest(event.identity),
        session=event.session_identifier or None,
        version=version,
        details=details,
    )


def _digest(identity: dict[str, Any]) -> str:
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


# ---------------------------------------------------------------- reading


def _by_time(entry: InspectorEntry) -> tuple[int, int, int, str, str]:
    return (entry.time, _TYPE_RANK[entry.type], entry.recorded or 0, entry.device, entry.uid)


def _by_version(entry: InspectorEntry) -> tuple[int, int, int, str]:
    # A connect and the disconnect that ends it share a versionNumber: connect first.
    return (entry.version or 0, _TYPE_RANK[entry.type], entry.time, entry.uid)


def order_entries(entries: Iterable[InspectorEntry]) -> list[InspectorEntry]:
    """Oldest first, by time; a device's connects and disconnects by versionNumber.

    Lifecycle events can arrive late and clocks can disagree, so the slots the presence events of
    one device take in time order are refilled in versionNumber order; everything else keeps its
    place. Duplicates (same key) are kept once.
    """
    unique = {e.key: e for e in entries}
    timeline = sorted(unique.values(), key=_by_time)
    slots: dict[str, list[int]] = defaultdict(list)
    for index, entry in enumerate(timeline):
        if entry.type in _PRESENCE and entry.version is not None:
            slots[entry.device].append(index)
    for positions in slots.values():
        ordered = sorted((timeline[i] for i in positions), key=_by_version)
        for position, entry in zip(positions, ordered, strict=True):
            timeline[position] = entry
    return timeline
