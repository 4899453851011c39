"""The inspector port: DynamoDB (InspectorTable, keys in mqtt_actions.inspector), or logs only.

For the router the inspector is an observer: a failed inspector write is logged with the entries
it could not store (so nothing is lost) and never fails the message or its actions. For the
lifecycle handler the write is the job, so there it raises and Lambda retries.

One item per message: the publish entry of a message that matched actions is held until its
outcomes come (`record_outcomes`), and all of them go in one item (`inspector.Bundle`: one write
unit where the entries fit in 1 KB, against one per entry before). Anything else this instance
does first (another message, a lifecycle event, a query, `flush`) writes a held entry on its own,
so it is never left behind; a message whose route crashed before its outcomes is delivered again
by Lambda, and its publish entry (same key) is written then. Readers unpack the items into the
same entries as before.

`level` (InspectorLevel, template parameter) decides which messages are recorded at all;
lifecycle events are always recorded.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from mqtt_actions.adapters.dynamo import put_items
from mqtt_actions.inspector import (
    MAX_TIME_MS,
    SHARDS,
    Bundle,
    EntryType,
    InspectorEntry,
    InspectorLevel,
    bundles,
    hour_of,
    hours_newest_first,
    lifecycle_entry,
    message_entry,
    order_entries,
    outcome_entries,
    shard_of,
    time_bound,
    time_key,
    unpack,
    worth_recording,
)
from mqtt_actions.lifecycle import LifecycleEvent
from mqtt_actions.ports import ActionResult, MessageRecord, Outcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(child=True)

DAY_SECONDS = 86_400
INDEX = "ByHour"
CLOCK_SKEW_MS = 60_000  # "until now" also reads entries stamped by a clock slightly ahead


class InspectorWriteError(RuntimeError):
    """DynamoDB kept refusing some entries (throttling) after bounded retries."""


class LoggingInspector:
    """Structured logs only (no table configured: INSPECTOR_TABLE empty)."""

    def record_message(self, message: MessageRecord) -> None:
        logger.info("message", extra=message.model_dump(exclude={"preview"}))

    def record_outcomes(self, message: MessageRecord, results: Sequence[ActionResult]) -> None:
        for result in results:
            level = logger.warning if result.outcome is Outcome.FAILED else logger.info
            level("action outcome", extra={"traceid": message.traceid, **result.model_dump()})

    def record_lifecycle(
        self,
        event: LifecycleEvent,
        device: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> InspectorEntry:
        entry = lifecycle_entry(event, device, extra)
        logger.info("lifecycle", extra=entry.model_dump(mode="json"))
        return entry


class DynamoInspector:
    """Implements the router's InspectorLog port, records lifecycle events, and answers queries."""

    def __init__(
        self,
        table: str,
        client: DynamoDBClient,
        retention_days: int,
        clock: Callable[[], float] = time.time,
        *,
        shards: int = SHARDS,
        sleep: Callable[[float], None] = time.sleep,
        level: InspectorLevel = InspectorLevel.ALL,
    ) -> None:
        if retention_days < 1:
            msg = f"retention_days must be at least 1, got {retention_days}"
            raise ValueError(msg)
        self._table = table
        self._client = client
        self._retention_days = retention_days
        self._clock = clock
        self._shards = shards
        self._sleep = sleep
        self._level = level
        self._held: tuple[str, InspectorEntry] | None = None  # (traceid, publish entry)

    # ------------------------------------------------------------ InspectorLog (router)

    def record_message(self, message: MessageRecord) -> None:
        self.flush()
        entry = message_entry(message)
        if message.matched > 0:  # its outcomes follow: write both at once
            self._held = (message.traceid, entry)
        elif self._level is InspectorLevel.ALL:
            self._observe([entry])

    def record_outcomes(self, message: MessageRecord, results: Sequence[ActionResult]) -> None:
        held, self._held = self._held, None
        entries = outcome_entries(message, results) if results else []
        if held is not None and held[0] != message.traceid:
            self._flush_held(held)
            held = None
        if not worth_recording(self._level, results):
            return
        if held is not None:
            entries.insert(0, held[1])
        if entries:
            self._observe(entries)

    def flush(self) -> None:
        """Write a publish entry still held for its outcomes."""
        held, self._held = self._held, None
        self._flush_held(held)

    def _flush_held(self, held: tuple[str, InspectorEntry] | None) -> None:
        # Its outcomes never came (the route crashed): at `all` the publish shows on its own;
        # at the other levels nothing is known to be worth recording yet.
        if held is not None and self._level is InspectorLevel.ALL:
            self._observe([held[1]])

    def _observe(self, entries: list[InspectorEntry]) -> None:
        try:
            self.write(entries)
        # ValueError: an entry that cannot be encoded (DynamoDB's item size or UTF-8).
        except (ClientError, BotoCoreError, InspectorWriteError, ValueError) as exc:
            logger.error(
                "inspector write failed; the entries are in this log line",
                extra={
                    "error": f"{type(exc).__name__}: {exc}",
                    "entries": [e.model_dump(mode="json") for e in entries],
                },
            )

    # ------------------------------------------------------------ lifecycle (InspectorFunction)

    def record_lifecycle(
        self,
        event: LifecycleEvent,
        device: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> InspectorEntry:
        """Store one lifecycle event (a duplicate rewrites the same item) under `device` (default
        its client id); raises on failure."""
        self.flush()
        (stored,) = self.write([lifecycle_entry(event, device, extra)])
        return stored

    # ------------------------------------------------------------ writing

    def write(self, entries: Sequence[InspectorEntry]) -> list[InspectorEntry]:
        """Put the entries (a key written again is replaced); returns them as stored."""
        now = self._clock()
        expires_at = int(now) + self._retention_days * DAY_SECONDS
        recorded = int(now * 1000)
        # BatchWriteItem refuses a batch that names one key twice: keep the last of each.
        unique = [
            e.model_copy(update={"recorded": recorded})
            for e in {e.key: e for e in entries}.values()
        ]
        items = {}
        for bundle in bundles(unique):
            items[bundle.sk] = self._item(bundle, expires_at)
        put_items(
            self._client,
            self._table,
            list(items.values()),
            what="inspector entries",
            sleep=self._sleep,
            error=InspectorWriteError,
        )
        return unique

    def _item(self, bundle: Bundle, expires_at: int) -> dict[str, Any]:
        entry, sk = bundle.primary, bundle.sk
        item: dict[str, Any] = {
            "device": {"S": entry.device},
            "sk": {"S": sk},
            "hour_shard": {
                "S": f"{hour_of(entry.time)}#{shard_of(entry.device, sk, self._shards)}"
            },
            "time_key": {"S": time_key(entry) + bundle.suffix},
            "type": {"S": entry.type.value},
            "time": {"N": str(entry.time)},
            "expires_at": {"N": str(expires_at)},
            "entry": {"S": bundle.entry_json()},
        }
        if entry.traceid:
            item["traceid"] = {"S": entry.traceid}
        more = bundle.more_json()
        if more is not None:
            item["more"] = {"S": more}
            if len(bundle.types) > 1:
                item["types"] = {"SS": bundle.types}
        return item

    # ------------------------------------------------------------ reading

    def query(
        self,
        *,
        device: str | None = None,
        since_ms: int = 0,
        until_ms: int | None = None,
        types: Collection[EntryType | str] | None = None,
        limit: int = 100,
    ) -> list[InspectorEntry]:
        """The newest `limit` entries in [since_ms, until_ms], returned oldest first (connects and
        disconnects in versionNumber order). Without `device`: every device, from the ByHour index,
        no further back than the retention period."""
        self.flush()
        if limit < 1:
            return []
        wanted = sorted({EntryType(t).value for t in types}) if types else []
        if device is not None:
            until = MAX_TIME_MS if until_ms is None else until_ms
            query = self._device_query(device, since_ms, until, wanted)
            found = self._collect(query, limit, wanted)
            return order_entries(found)
        until = int(self._clock() * 1000) + CLOCK_SKEW_MS if until_ms is None else until_ms
        oldest = until - (self._retention_days + 1) * DAY_SECONDS * 1000
        return order_entries(self._all_devices(max(since_ms, oldest), until, wanted, limit))

    def _all_devices(
        self, since_ms: int, until_ms: int, wanted: list[str], limit: int
    ) -> list[InspectorEntry]:
        collected: list[InspectorEntry] = []
        with ThreadPoolExecutor(max_workers=self._shards) as pool:
            for hour in hours_newest_first(since_ms, until_ms):
                need = limit - len(collected)
                read = partial(self._read_shard, hour, since_ms, until_ms, wanted, need)
                shards = pool.map(read, range(self._shards))
                newest = sorted(itertools.chain.from_iterable(shards), key=time_key, reverse=True)
                collected.extend(newest[:need])
                if len(collected) >= limit:
                    break
        return collected

    def _read_shard(
        self, hour: str, since_ms: int, until_ms: int, wanted: list[str], need: int, shard: int
    ) -> list[InspectorEntry]:
        query = self._shard_query(f"{hour}#{shard}", since_ms, until_ms, wanted)
        return self._collect(query, need, wanted)

    def _device_query(
        self, device: str, since_ms: int, until_ms: int, wanted: list[str]
    ) -> dict[str, Any]:
        return self._range_query("device", device, "sk", since_ms, until_ms, wanted, index=None)

    def _shard_query(
        self, partition: str, since_ms: int, until_ms: int, wanted: list[str]
    ) -> dict[str, Any]:
        return self._range_query(
            "hour_shard", partition, "time_key", since_ms, until_ms, wanted, index=INDEX
        )

    def _range_query(
        self,
        hash_name: str,
        hash_value: str,
        range_name: str,
        since_ms: int,
        until_ms: int,
        wanted: list[str],
        *,
        index: str | None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#h = :h AND #r BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": {"#h": hash_name, "#r": range_name},
            "ExpressionAttributeValues": {
                ":h": {"S": hash_value},
                ":lo": {"S": time_bound(max(since_ms, 0), upper=False)},
                ":hi": {"S": time_bound(min(until_ms, MAX_TIME_MS), upper=True)},
            },
            "ScanIndexForward": False,  # newest first: `limit` keeps the most recent
        }
        if index:
            kwargs["IndexName"] = index
        if wanted:
            # An item holding several types (a message's publish and outcomes) lists them.
            names = [f":t{i}" for i in range(len(wanted))]
            holds = " OR ".join(f"contains(#ts, {n})" for n in names)
            kwargs["FilterExpression"] = f"#t IN ({', '.join(names)}) OR {holds}"
            kwargs["ExpressionAttributeNames"]["#t"] = "type"
            kwargs["ExpressionAttributeNames"]["#ts"] = "types"
            for name, value in zip(names, wanted, strict=True):
                kwargs["ExpressionAttributeValues"][name] = {"S": value}
        return kwargs

    def _collect(
        self, kwargs: dict[str, Any], need: int, wanted: list[str]
    ) -> list[InspectorEntry]:
        # Limit counts items read before the type filter, so page until `need` pass it.
        kwargs = dict(kwargs, Limit=need if "FilterExpression" not in kwargs else max(need, 100))
        found: list[InspectorEntry] = []
        while len(found) < need:
            page = self._client.query(**kwargs)
            for it in page["Items"]:
                found.extend(e for e in _entries(it) if not wanted or e.type.value in wanted)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:need]


def _entries(item: dict[str, Any]) -> list[InspectorEntry]:
    """The entries one item holds (one, or a message's publish and outcomes)."""
    fields: dict[str, Any] = {
        "device": item["device"]["S"],
        "type": item["type"]["S"],
        "time": int(item["time"]["N"]),
    }
    if "traceid" in item:
        fields["traceid"] = item["traceid"]["S"]
    more = item.get("more", {}).get("S")
    return unpack(fields, item["entry"]["S"], more)
