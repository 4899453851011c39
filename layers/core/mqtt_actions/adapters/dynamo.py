"""DynamoDB batch writes shared by the adapters: 25 items a request, unprocessed items retried
with bounded backoff, then an error that says how many rows were left."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH = 25
MAX_UNPROCESSED_ROUNDS = 8


class BatchWriteError(RuntimeError):
    """DynamoDB kept returning unprocessed items."""


def put_items(
    client: DynamoDBClient,
    table: str,
    items: Sequence[dict[str, Any]],
    *,
    what: str = "items",
    sleep: Callable[[float], None] = time.sleep,
    error: type[Exception] = BatchWriteError,
) -> None:
    """Put every item (low-level attribute values) with BatchWriteItem."""
    for start in range(0, len(items), BATCH):
        pending: dict[str, Any] = {
            table: [{"PutRequest": {"Item": it}} for it in items[start : start + BATCH]]
        }
        for attempt in range(MAX_UNPROCESSED_ROUNDS):
            pending = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                break
            sleep(min(0.05 * 2**attempt, 1.0))
        else:
            left = len(pending.get(table, []))
            msg = f"DynamoDB left {left} {what} unprocessed after {MAX_UNPROCESSED_ROUNDS} tries"
            raise error(msg)
