"""Device buckets in DynamoDB: one item per data point, with deterministic keys so a retried
message rewrites its rows instead of duplicating them."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Context, Decimal
from typing import TYPE_CHECKING, Any

from mqtt_actions.adapters.dynamo import BatchWriteError, put_items
from mqtt_actions.tagoio_query import Row

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# DynamoDB numbers: 38 significant digits, magnitude from 1E-130 up to (not including) 1E126.
_NUMBER_CONTEXT = Context(prec=38)
_SMALLEST, _TOO_BIG = Decimal("1E-130"), Decimal("1E126")

SEP = "#"  # between the variable and the time in the sort key
# The first string after every "<prefix>#...": "$" is the character after "#".
_PAST_SEP = chr(ord(SEP) + 1)


def dynamo_number(value: int | float) -> str | None:
    """`value` as a DynamoDB number, rounded to 38 significant digits if it has more; None when
    DynamoDB cannot hold its magnitude (1e-200, 1e300). The exact value is always in `data`."""
    try:
        number = _NUMBER_CONTEXT.plus(Decimal(str(value)))
    except ValueError:  # an int past Python's 4,300-digit conversion limit
        return None
    if number.is_zero():
        return "0"
    if not _SMALLEST <= abs(number) < _TOO_BIG:
        return None
    return str(number)


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
    """The DynamoDB item (low-level attribute values) of one point.

    Only a variable holding `#` gets a `ts` attribute, which puts the row in the sparse `ByTime`
    index (a second write unit): its key `<variable>#<ts>` can sort among another variable's
    rows, so the loose scan of `DynamoBucket.query` does not look for it there."""
    variable = str(point.get("variable", ""))
    at = point_time_ms(point, timestamp)
    ts = f"{at:013d}#{traceid}#{index:04d}"
    item: dict[str, Any] = {
        "device": {"S": device},
        "sk": {"S": f"{variable}#{ts}"},
        "variable": {"S": variable},
        "time": {"N": str(at)},
        "traceid": {"S": traceid},
        "data": {"S": json.dumps(point, separators=(",", ":"), ensure_ascii=False)},
    }
    if SEP in variable:
        item["ts"] = {"S": ts}
    value = point.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        number = dynamo_number(value)
        if number is not None:
            item["value_n"] = {"N": number}
    return item


def row_ts(item: Mapping[str, Any]) -> str:
    """`<time ms>#<traceid>#<index>` of a stored row, whether or not it has a `ts` attribute."""
    return str(item["sk"]["S"])[len(item["variable"]["S"]) + 1 :]


class DynamoBucket:
    def __init__(
        self, table: str, client: DynamoDBClient, sleep: Callable[[float], None] = time.sleep
    ) -> None:
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
        """Newest first. With `variable`, one range of the main key. Without: a loose scan of the
        main key (one Limit-1 query finds each key prefix `<variable>#`, one query reads that
        variable's newest `limit` rows in the range) plus one query of the sparse `ByTime` index
        (rows of variables holding `#`, and every row written before `ts` became sparse), merged
        by time. Requests: 2 per variable + 2."""
        lo = f"{since_ms or 0:013d}"
        hi = f"{until_ms if until_ms is not None else 9_999_999_999_999:013d}~"
        if variable is not None:
            items = self._newest(device, variable, lo, hi, limit)
        else:
            found: dict[str, dict[str, Any]] = {}
            for name in self._prefixes(device):
                found.update(
                    (it["sk"]["S"], it) for it in self._newest(device, name, lo, hi, limit)
                )
            found.update((it["sk"]["S"], it) for it in self._indexed(device, lo, hi, limit))
            items = sorted(found.values(), key=row_ts, reverse=True)
        return [
            json.loads(it["data"]["S"]) | {"_time": int(it["time"]["N"])} for it in items[:limit]
        ]

    # --- rows by id: TagoIO's getData / editData / deleteData (mqtt_actions.tagoio) ----------

    def rows(
        self,
        device: str,
        *,
        variables: tuple[str, ...] = (),
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int,
    ) -> list[Row]:
        """Newest first, each with its row id (the sort key) and time; at most `limit`."""
        lo = f"{since_ms or 0:013d}"
        hi = f"{until_ms if until_ms is not None else 9_999_999_999_999:013d}~"
        found: dict[str, dict[str, Any]] = {}
        if variables:
            for variable in dict.fromkeys(variables):
                found.update(
                    (it["sk"]["S"], it) for it in self._newest(device, variable, lo, hi, limit)
                )
        else:
            for name in self._prefixes(device):
                found.update(
                    (it["sk"]["S"], it) for it in self._newest(device, name, lo, hi, limit)
                )
            found.update((it["sk"]["S"], it) for it in self._indexed(device, lo, hi, limit))
        items = sorted(found.values(), key=row_ts, reverse=True)[:limit]
        return [
            Row(it["sk"]["S"], json.loads(it["data"]["S"]), int(it["time"]["N"])) for it in items
        ]

    def rewrite(self, device: str, key: str, changes: Mapping[str, Any]) -> bool:
        """Merge `changes` into a stored point (same id, same time key); False when it is gone."""
        item = self._client.get_item(
            TableName=self._table, Key={"device": {"S": device}, "sk": {"S": key}}
        ).get("Item")
        if item is None:
            return False
        point = {**json.loads(item["data"]["S"]), **changes}
        new = bucket_item(device, point, traceid=item["traceid"]["S"], index=0, timestamp=0)
        item["data"] = new["data"]
        item.pop("value_n", None)
        if "value_n" in new:
            item["value_n"] = new["value_n"]
        self._client.put_item(TableName=self._table, Item=item)
        return True

    def delete(self, device: str, keys: list[str]) -> int:
        for start in range(0, len(keys), 25):
            requests = [
                {"DeleteRequest": {"Key": {"device": {"S": device}, "sk": {"S": key}}}}
                for key in keys[start : start + 25]
            ]
            pending: dict[str, Any] = {self._table: requests}
            for attempt in range(8):
                pending = (
                    self._client.batch_write_item(RequestItems=pending).get("UnprocessedItems")
                    or {}
                )
                if not pending:
                    break
                self._sleep(min(0.05 * 2**attempt, 1.0))
            else:
                left = len(pending.get(self._table, []))
                raise BatchWriteError(f"DynamoDB left {left} deletes unprocessed after 8 tries")
        return len(keys)

    def count(self, device: str) -> int:
        """How many points the device's bucket holds (Select COUNT, paged)."""
        total = 0
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#d = :d",
            "ExpressionAttributeNames": {"#d": "device"},
            "ExpressionAttributeValues": {":d": {"S": device}},
            "Select": "COUNT",
        }
        while True:
            page = self._client.query(**kwargs)
            total += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return total
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _pages(self, kwargs: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while len(items) < limit:
            page = self._client.query(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items[:limit]

    def _newest(
        self, device: str, variable: str, lo: str, hi: str, limit: int
    ) -> list[dict[str, Any]]:
        """`variable`'s newest rows with lo <= ts <= hi, from the main key. The filter drops rows
        of a variable like `t#1` whose keys sort among those of `t`."""
        return self._pages(
            {
                "TableName": self._table,
                "KeyConditionExpression": "#d = :d AND #k BETWEEN :lo AND :hi",
                "FilterExpression": "#v = :v",
                "ExpressionAttributeNames": {"#d": "device", "#k": "sk", "#v": "variable"},
                "ExpressionAttributeValues": {
                    ":d": {"S": device},
                    ":lo": {"S": f"{variable}{SEP}{lo}"},
                    ":hi": {"S": f"{variable}{SEP}{hi}"},
                    ":v": {"S": variable},
                },
                "ScanIndexForward": False,
                "Limit": limit,
            },
            limit,
        )

    def _prefixes(self, device: str) -> list[str]:
        """Each distinct `<p>` of the device's keys `<p>#...`, in key order, one Limit-1 query
        each: after a key of prefix p, every key up to p + "$" starts with p + "#", so the next
        query starts there. p is a variable without `#` or the first part of one with `#`
        (whose rows the `ByTime` index serves)."""
        names: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#d = :d",
            "ExpressionAttributeNames": {"#d": "device", "#k": "sk"},
            "ExpressionAttributeValues": {":d": {"S": device}},
            "ProjectionExpression": "#k",
            "Limit": 1,
        }
        while True:
            page = self._client.query(**kwargs)
            if page["Items"]:
                name = page["Items"][0]["sk"]["S"].split(SEP, 1)[0]
                names.append(name)
                kwargs["KeyConditionExpression"] = "#d = :d AND #k >= :from"
                kwargs["ExpressionAttributeValues"][":from"] = {"S": name + _PAST_SEP}
                kwargs.pop("ExclusiveStartKey", None)
            elif "LastEvaluatedKey" in page:
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            else:
                return names

    def _indexed(self, device: str, lo: str, hi: str, limit: int) -> list[dict[str, Any]]:
        return self._pages(
            {
                "TableName": self._table,
                "IndexName": "ByTime",
                "KeyConditionExpression": "#d = :d AND #k BETWEEN :lo AND :hi",
                "ExpressionAttributeNames": {"#d": "device", "#k": "ts"},
                "ExpressionAttributeValues": {
                    ":d": {"S": device},
                    ":lo": {"S": lo},
                    ":hi": {"S": hi},
                },
                "ScanIndexForward": False,
                "Limit": limit,
            },
            limit,
        )
