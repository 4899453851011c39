"""Device buckets in DynamoDB: one item per data point, with deterministic keys so a retried
message rewrites its rows instead of duplicating them."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from mqtt_actions.adapters.dynamo import put_items


def point_time_ms(point: Mapping[str, Any], default_ms: int) -> int:
    """The point's own ISO-8601 `time` when it has one, else the message's receive time."""
    raw = point.get("time")
    if isinstance(raw, str) and raw:
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            return int(parsed.timestamp() * 1000)
        except ValueError:
            return default_ms
    return default_ms


def bucket_item(
    device: str, point: Mapping[str, Any], *, traceid: str, index: int, timestamp: int
) -> dict[str, Any]:
    """The DynamoDB item (low-level attribute values) of one point."""
    variable = str(point.get("variable", ""))
    at = point_time_ms(point, timestamp)
    ts = f"{at:013d}#{traceid}#{index:04d}"
    item: dict[str, Any] = {
        "device": {"S": device},
        "sk": {"S": f"{variable}#{ts}"},
        "ts": {"S": ts},
        "variable": {"S": variable},
        "time": {"N": str(at)},
        "traceid": {"S": traceid},
        "data": {"S": json.dumps(point, separators=(",", ":"), ensure_ascii=False)},
    }
    value = point.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        item["value_n"] = {"N": str(Decimal(str(value)))}
    return item


class DynamoBucket:
    def __init__(self, table: str, client: Any, sleep: Any = time.sleep) -> None:
        self._table = table
        self._client = client
        self._sleep = sleep

    def insert(
        self, device: str, points: Sequence[Mapping[str, Any]], *, traceid: str, timestamp: int
    ) -> int:
        items = [
            bucket_item(device, p, traceid=traceid, index=i, timestamp=timestamp)
            for i, p in enumerate(points)
        ]
        put_items(self._client, self._table, items, what="bucket rows", sleep=self._sleep)
        return len(items)

    def query(
        self,
        device: str,
        *,
        variable: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first. With `variable`, reads the main key; without, the by-time index."""
        lo = f"{since_ms or 0:013d}"
        hi = f"{until_ms if until_ms is not None else 9_999_999_999_999:013d}~"
        names = {"#d": "device", "#k": "sk" if variable else "ts"}
        values: dict[str, Any] = {":d": {"S": device}}
        if variable:
            values[":lo"], values[":hi"] = {"S": f"{variable}#{lo}"}, {"S": f"{variable}#{hi}"}
        else:
            values[":lo"], values[":hi"] = {"S": lo}, {"S": hi}
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#d = :d AND #k BETWEEN :lo AND :hi",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if not variable:
            kwargs["IndexName"] = "ByTime"
        rows: list[dict[str, Any]] = []
        while len(rows) < limit:
            page = self._client.query(**kwargs)
            rows.extend(
                json.loads(it["data"]["S"]) | {"_time": int(it["time"]["N"])}
                for it in page["Items"]
            )
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return rows[:limit]
