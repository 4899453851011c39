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
from collections.abc import Iterable, Mapping, Sequence
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
from mqtt_actions.ports import ActionResult, MessageRecord, Outcome

SHARDS = 8  # partitions per hour in the ByHour index; readers must use the same number
# Characters of payload kept per publish: 256 keeps a message's item (publish, a few outcomes,
# keys) under DynamoDB's 1 KB write unit; benchmarks/cost.py measures the item sizes.
PREVIEW_LIMIT = 256
HOUR_MS = 3_600_000
MAX_TIME_MS = 9_999_999_999_999  # 13 digits: year 2286


class InspectorLevel(StrEnum):
    """What the router records (template parameter InspectorLevel; lifecycle events always).

    - all: every message and every action outcome.
    - outcomes: a message only when some action did more than store it or did not run as
      asked: any outcome but `done` of an insert_bucket (or of the device's payload parser)
      and `condition_false` (so an SMS sent,
      a webhook posted, a duplicate or a refusal shows; a message its actions only stored, or
      that matched no action, does not).
    - errors: a message only when some action failed, was refused (refused, points_refused,
      loop_refused) or throttled: the failures and what went to the dead-letter queue.
    A message kept at any level is kept whole: the publish and every outcome, for context.
    """

    ALL = "all"
    OUTCOMES = "outcomes"
    ERRORS = "errors"


_ERROR_OUTCOMES = frozenset(
    {
        Outcome.FAILED,
        Outcome.THROTTLED,
        Outcome.REFUSED,
        Outcome.POINTS_REFUSED,
        Outcome.LOOP_REFUSED,
    }
)


# Done steps that are the routine of a stored message: a parser that ran, a row stored.
_ROUTINE_DONE = frozenset({"insert_bucket", "payload_parser"})


def worth_recording(level: InspectorLevel, results: Sequence[ActionResult]) -> bool:
    """Whether a message with these outcomes is recorded at `level` (see InspectorLevel)."""
    if level is InspectorLevel.ALL:
        return True
    if level is InspectorLevel.ERRORS:
        return any(r.outcome in _ERROR_OUTCOMES for r in results)
    return any(
        r.outcome is not Outcome.CONDITION_FALSE
        and not (r.outcome is Outcome.DONE and r.action_type in _ROUTINE_DONE)
        for r in results
    )


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
    if len(preview) > PREVIEW_LIMIT and message.encoding is None:  # base64 is cut by the router
        preview = preview[:PREVIEW_LIMIT] + "…"
    extra = {"encoding": message.encoding} if message.encoding else {}
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
            **extra,
        }
        | ({"by": message.source} if message.source else {}),
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


def lifecycle_entry(
    event: LifecycleEvent, device: str | None = None, extra: Mapping[str, Any] | None = None
) -> InspectorEntry:
    """The entry of a lifecycle event, filed under `device` (the client id's binding names it:
    mqtt_actions.bindings; default the client id), with `extra` details."""
    details: dict[str, Any] = {"principal": event.principal_identifier, **(extra or {})}
    device = device or event.client_id
    if device != event.client_id:
        details["client_id"] = event.client_id
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
        device=device,
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


# ---------------------------------------------------------------- one item per message

# JSON of the entries packed in one item; DynamoDB refuses items over 400 KB.
ITEM_ENTRIES_BYTES = 300_000
# Fields every item holds as attributes of its own: left out of the entries' JSON.
_ITEM_FIELDS = frozenset({"device", "time", "traceid"})


class Bundle(BaseModel):
    """Entries stored as one DynamoDB item: a message's publish and its outcomes (one write
    unit, not 1 + N). The first entry names the item; the others share its device, time and
    traceid. A bundle of more than one entry has a digest of its entries' keys in its item key,
    so a retried message whose outcomes differ adds an item and keeps the earlier attempt, and
    an identical retry rewrites the same item."""

    model_config = ConfigDict(frozen=True)

    entries: tuple[InspectorEntry, ...] = Field(min_length=1)

    @property
    def primary(self) -> InspectorEntry:
        return self.entries[0]

    @property
    def suffix(self) -> str:
        if len(self.entries) == 1:
            return ""
        keys = "\x00".join(sorted(e.sk for e in self.entries))
        return "#" + hashlib.sha256(keys.encode()).hexdigest()[:12]

    @property
    def sk(self) -> str:
        return self.primary.sk + self.suffix

    @property
    def types(self) -> list[str]:
        return sorted({e.type.value for e in self.entries})

    def entry_json(self) -> str:
        """The first entry, without what the item's own attributes hold."""
        return self.primary.model_dump_json(exclude=set(_ITEM_FIELDS), exclude_none=True)

    def more_json(self) -> str | None:
        """The other entries, compact: an action outcome as {a, t, o, r?, d?}."""
        if len(self.entries) == 1:
            return None
        return json.dumps(
            [_pack(e, self.primary) for e in self.entries[1:]],
            separators=(",", ":"),
            ensure_ascii=False,
        )


def bundles(entries: Sequence[InspectorEntry]) -> list[Bundle]:
    """Group entries into items: those of one message (device, time, traceid) together, up to
    ITEM_ENTRIES_BYTES of JSON an item; anything else (lifecycle events) one an item."""
    groups: dict[tuple[str, int, str], list[list[InspectorEntry]]] = {}
    alone: list[Bundle] = []
    for entry in entries:
        if entry.traceid is None:
            alone.append(Bundle(entries=(entry,)))
            continue
        chunks = groups.setdefault((entry.device, entry.time, entry.traceid), [[]])
        size = sum(len(e.model_dump_json()) for e in chunks[-1])
        if chunks[-1] and size + len(entry.model_dump_json()) > ITEM_ENTRIES_BYTES:
            chunks.append([])
        chunks[-1].append(entry)
    packed = [Bundle(entries=tuple(c)) for chunks in groups.values() for c in chunks]
    return packed + alone


def _pack(entry: InspectorEntry, primary: InspectorEntry) -> dict[str, Any]:
    details = entry.details
    compact = entry.type is EntryType.ACTION and entry.uid == (
        f"{entry.traceid}#{details.get('action_id')}#{details.get('outcome')}"
    )
    if compact and details.get("topic") == primary.details.get("topic"):
        out: dict[str, Any] = {
            "a": details["action_id"],
            "t": details["action_type"],
            "o": details["outcome"],
        }
        if details.get("reason") is not None:
            out["r"] = details["reason"]
        if details.get("detail"):
            out["d"] = details["detail"]
        extra = set(details) - {"topic", "action_id", "action_type", "outcome", "reason", "detail"}
        if not extra and entry.qos is None and entry.session is None and entry.version is None:
            return out
    return entry.model_dump(mode="json", exclude={"device", "time", "traceid"}, exclude_none=True)


def unpack(
    item_fields: dict[str, Any], entry_json: str, more_json: str | None
) -> list[InspectorEntry]:
    """The entries of one stored item (also items written before bundles: their JSON is whole).
    `item_fields`: device, type, time and traceid from the item's attributes."""
    first = InspectorEntry.model_validate(item_fields | json.loads(entry_json))
    found = [first]
    for packed in json.loads(more_json) if more_json else []:
        common = {"device": first.device, "time": first.time, "traceid": first.traceid}
        if "a" in packed:
            details = {
                "topic": first.details.get("topic"),
                "action_id": packed["a"],
                "action_type": packed["t"],
                "outcome": packed["o"],
                "reason": packed.get("r"),
                "detail": packed.get("d", {}),
            }
            uid = f"{first.traceid}#{packed['a']}#{packed['o']}"
            data = common | {"type": "action", "uid": uid, "details": details}
        else:
            data = common | packed
        found.append(InspectorEntry.model_validate(data | {"recorded": first.recorded}))
    # Newest key first, as separate items read (a Query with ScanIndexForward=False).
    return sorted(found, key=lambda e: e.sk, reverse=True)


# ---------------------------------------------------------------- reading


def _by_time(entry: InspectorEntry) -> tuple[int, int, int, str, str]:
    return (entry.time, _TYPE_RANK[entry.type], entry.recorded or 0, entry.device, entry.uid)


def order_key(entry: InspectorEntry) -> str:
    """The time order as one string (sorting these sorts like `order_entries` minus the
    versionNumber refill): what a page inserts a late entry by."""
    time_ms, rank, recorded, device, uid = _by_time(entry)
    return f"{time_ms:013d}#{rank}#{recorded:013d}#{device}#{uid}"


def _by_version(entry: InspectorEntry) -> tuple[int, int, int, str]:
    # A connect and the disconnect that ends it share a versionNumber: connect first.
    return (entry.version or 0, _TYPE_RANK[entry.type], entry.time, entry.uid)


def client_of(entry: InspectorEntry) -> str:
    """The MQTT client id of an entry: a token device's entries name it in details (their
    `device` is the device), any other entry's `device` is the client id."""
    client = entry.details.get("client_id")
    return client if isinstance(client, str) and client else entry.device


def order_entries(entries: Iterable[InspectorEntry]) -> list[InspectorEntry]:
    """Oldest first, by time; a client id's connects and disconnects by versionNumber.

    Lifecycle events can arrive late and clocks can disagree, so the slots the presence events of
    one client id take in time order are refilled in versionNumber order; everything else keeps
    its place. versionNumber counts per client id (AWS IoT developer guide, "Lifecycle events"),
    so the numbers of two client ids of one device are never compared. Duplicates (same key) are
    kept once.
    """
    unique = {e.key: e for e in entries}
    timeline = sorted(unique.values(), key=_by_time)
    slots: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, entry in enumerate(timeline):
        if entry.type in _PRESENCE and entry.version is not None:
            slots[(entry.device, client_of(entry))].append(index)
    for positions in slots.values():
        ordered = sorted((timeline[i] for i in positions), key=_by_version)
        for position, entry in zip(positions, ordered, strict=True):
            timeline[position] = entry
    return timeline
