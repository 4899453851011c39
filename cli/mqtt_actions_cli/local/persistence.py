"""Saving and restoring the local stack's state (see state.py for what and where).

Collected from moto's backends directly (this process runs them; `moto_private.py`, the one
place that reads them): a scan through the API would cost the handlers seconds of CPU at every
save of a big bucket. Restored through the API, so
what comes back is validated like any write. Saved by a thread every SAVE_SECONDS when
something changed (less often when a save takes long: at most SAVE_SHARE of the time), and once
more at shutdown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from mqtt_actions_cli.deadletters import ORIGINAL_ID, ORIGINAL_SENT_MS
from mqtt_actions_cli.local.moto_private import queue_messages, table_items
from mqtt_actions_cli.local.output import log
from mqtt_actions_cli.local.state import (
    SAVE_SECONDS,
    Snapshot,
    StateDir,
    decode_payload,
    encode_payload,
)

# How the banner names what was restored, by the template's logical ids.
LABELS: Final[Mapping[str, str]] = {
    "ActionsTable": "actions",
    "BucketTable": "bucket rows",
    "InspectorTable": "inspector entries",
}
ACTION_PK: Final = "ACTION"  # the actions table also holds rate-limit windows (pk RATE#...)
BATCH: Final = 25  # DynamoDB BatchWriteItem's limit
SAVE_SHARE: Final = 0.1  # at most this share of the time goes to saving
COLLECT_ATTEMPTS: Final = 5  # moto's dicts change under a running stack: try again


class Persistence:
    def __init__(
        self,
        state: StateDir,
        tables: Mapping[str, str],
        queues: Mapping[str, str],
        clients: Mapping[str, Any],
        retained: Callable[[], dict[str, dict[str, Any]]],
        outbox: Callable[[], list[dict[str, Any]]],
    ) -> None:
        self.state = state
        self._tables = dict(tables)  # logical id -> table name
        self._queues = dict(queues)  # logical id -> queue URL
        self._clients = clients
        self._retained = retained
        self._outbox = outbox
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one save at a time

    # -- restore
    def restore(self, snapshot: Snapshot) -> None:
        """Tables and queues back into moto (the outbox and retained messages: the caller)."""
        dynamodb, sqs = self._clients["dynamodb"], self._clients["sqs"]
        for logical_id, items in snapshot.tables.items():
            table = self._tables.get(logical_id)
            if table is None:
                log.warning(
                    "state: table %s is no longer in the template; not restored", logical_id
                )
                continue
            for start in range(0, len(items), BATCH):
                requests = [{"PutRequest": {"Item": i}} for i in items[start : start + BATCH]]
                pending: dict[str, Any] = {table: requests}
                while pending:
                    pending = dynamodb.batch_write_item(RequestItems=pending)["UnprocessedItems"]
        for logical_id, messages in snapshot.queues.items():
            url = self._queues.get(logical_id)
            if url is None:
                continue
            for message in messages:
                kwargs: dict[str, Any] = {"QueueUrl": url, "MessageBody": str(message["body"])}
                attributes = {**_original(message), **(message.get("attributes") or {})}
                if attributes:
                    kwargs["MessageAttributes"] = attributes
                sqs.send_message(**kwargs)

    @staticmethod
    def summary(snapshot: Snapshot) -> str:
        actions = [i for i in snapshot.tables.get("ActionsTable", []) if _pk(i) == ACTION_PK]
        counted = Snapshot(
            tables={**snapshot.tables, "ActionsTable": actions},
            queues=snapshot.queues,
            outbox=snapshot.outbox,
            retained=snapshot.retained,
        )
        return counted.summary(LABELS)

    # -- save
    def collect(self) -> Snapshot:
        for attempt in range(COLLECT_ATTEMPTS):
            try:
                return Snapshot(
                    tables={logical: table_items(name) for logical, name in self._tables.items()},
                    queues={
                        logical: queue_messages(url.rpartition("/")[2])
                        for logical, url in self._queues.items()
                    },
                    outbox=self._outbox(),
                    retained=self._retained(),
                )
            except RuntimeError:  # "dictionary changed size during iteration"
                if attempt == COLLECT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def mark_changed(self) -> None:
        self._dirty.set()

    def save_now(self) -> None:
        with self._lock:
            self._dirty.clear()
            try:
                self.state.save(self.collect())
            except (OSError, RuntimeError) as exc:
                self._dirty.set()  # try again at the next tick
                log.error("state: could not save to %s: %s", self.state.path, exc)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="state", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pause = SAVE_SECONDS
        while not self._stop.wait(pause):
            if self._dirty.is_set():
                started = time.monotonic()
                self.save_now()
                # A big state takes a while to collect (~40 µs an item), with the GIL the
                # handlers need: never more than SAVE_SHARE of the time.
                pause = max(SAVE_SECONDS, (time.monotonic() - started) / SAVE_SHARE)

    def stop(self) -> None:
        """Stop the saver and save once more (Ctrl-C loses nothing)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=SAVE_SECONDS * 4)
        self.save_now()


def _pk(item: Mapping[str, Any]) -> str | None:
    pk = item.get("pk")
    return pk.get("S") if isinstance(pk, dict) else None


def retained_json(topic_messages: Mapping[str, tuple[bytes, int, int]]) -> dict[str, Any]:
    """The broker's retained messages as saved: topic -> {payload (base64), qos, at (ms)}."""
    return {
        topic: {"payload": encode_payload(payload), "qos": qos, "at": at}
        for topic, (payload, qos, at) in topic_messages.items()
    }


def retained_from_json(saved: Mapping[str, Any]) -> dict[str, tuple[bytes, int, int]]:
    """The reverse of `retained_json`; entries that do not decode are skipped with a warning."""
    out: dict[str, tuple[bytes, int, int]] = {}
    for topic, message in saved.items():
        try:
            out[topic] = (
                decode_payload(message["payload"]),
                int(message.get("qos", 0)),
                int(message.get("at", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("state: retained message on %r not restored: %s", topic, exc)
    return out


def _original(message: Mapping[str, Any]) -> dict[str, Any]:
    """A restored message is a new SQS message: it carries its first id and send time as
    attributes (deadletters.ORIGINAL_ID), which `dlq list` and `dlq replay --id` use. A message
    restored before keeps the ones it already carries (they come after these)."""
    kept: dict[str, Any] = {}
    if message.get("id"):
        kept[ORIGINAL_ID] = {"DataType": "String", "StringValue": str(message["id"])}
    if isinstance(message.get("sent_ms"), int):
        kept[ORIGINAL_SENT_MS] = {"DataType": "Number", "StringValue": str(message["sent_ms"])}
    return kept
