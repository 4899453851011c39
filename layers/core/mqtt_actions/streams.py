"""Kinesis batches (template parameter `RouterBatching=Kinesis`): the route rule puts what its SQL
selects, as JSON, on a stream; Lambda hands the router up to 100 records at a time, each one's
JSON base64 in `kinesis.data`. Pure: decoding and the partial-batch answer only."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StreamRecord:
    """One record of a batch: the rule's event, or why it cannot be one (never retried)."""

    sequence: str
    event: dict[str, Any] | None
    problem: str | None = None


def is_stream_batch(event: Mapping[str, Any]) -> bool:
    """A Kinesis event source batch (`{"Records": [...]}`); the rule's own event has no Records."""
    return isinstance(event.get("Records"), list)


def stream_records(batch: Mapping[str, Any]) -> list[StreamRecord]:
    """Each record decoded; raises ValueError when the batch itself is not Lambda's shape."""
    records: list[StreamRecord] = []
    for n, record in enumerate(batch["Records"]):
        kinesis = record.get("kinesis") if isinstance(record, Mapping) else None
        if not isinstance(kinesis, Mapping) or not isinstance(kinesis.get("sequenceNumber"), str):
            msg = f"Records[{n}] has no kinesis.sequenceNumber: not a Kinesis event source batch"
            raise ValueError(msg)
        records.append(_decode(kinesis["sequenceNumber"], kinesis.get("data")))
    return records


def _decode(sequence: str, data: Any) -> StreamRecord:
    try:
        if not isinstance(data, str):
            raise ValueError("kinesis.data is missing")
        event = json.loads(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeError
        why = f"record {sequence}: kinesis.data is not base64 JSON ({exc})"
        return StreamRecord(sequence, None, why)
    if not isinstance(event, dict):
        why = f"record {sequence}: kinesis.data holds {type(event).__name__}, not the rule's object"
        return StreamRecord(sequence, None, why)
    return StreamRecord(sequence, event)


def batch_response(failed: Sequence[str]) -> dict[str, Any]:
    """The partial-batch answer (`ReportBatchItemFailures`): Lambda retries from the lowest
    sequence number listed and checkpoints everything before it."""
    return {"batchItemFailures": [{"itemIdentifier": s} for s in failed]}
