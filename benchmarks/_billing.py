"""Billing arithmetic for benchmarks/cost.py: the dated price table and the metering rules.

Pure (no I/O): DynamoDB item sizes and request units, IoT Core 5 KB message units, SQS 64 KB
chunks, and the secondary-index writes a table's definition in template.yaml implies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

PRICES_CHECKED = "2026-12-02"  # the day the prices below were last compared with their sources


@dataclass(frozen=True)
class Price:
    usd: float  # dollars per `unit`
    unit: str
    source: str
    checked: str  # how far this number was confirmed here


# us-east-1, on-demand, without free tiers or volume discounts. Prices change: re-check them.
PRICES: dict[str, Price] = {
    "iot_message": Price(
        1.00 / 1e6,
        "message (5 KB unit), first 1 billion a month",
        "https://aws.amazon.com/iot-core/pricing/ ; metering: "
        "https://aws.amazon.com/iot-core/pricing/additional-details/",
        "rate seen in a transcription of the pricing page (Europe example, $1/M) and the 5 KB "
        "metering on the additional-details page; the us-east-1 cell itself is not rendered",
    ),
    "iot_rule": Price(
        0.15 / 1e6,
        "rule triggered",
        "https://aws.amazon.com/iot-core/pricing/",
        "not found in the stored copies searched here; the project's starting figure",
    ),
    "iot_action": Price(
        0.15 / 1e6,
        "rule action executed",
        "https://aws.amazon.com/iot-core/pricing/",
        "not found in the stored copies searched here; the project's starting figure",
    ),
    "lambda_request": Price(
        0.20 / 1e6,
        "request",
        "https://aws.amazon.com/lambda/pricing/",
        "confirmed in two copies of the pricing table ($0.20 per 1M)",
    ),
    "lambda_gbs_arm64": Price(
        0.0000133334,
        "GB-second, arm64, first 7.5 billion GB-s a month",
        "https://aws.amazon.com/lambda/pricing/",
        "confirmed in two copies of the pricing table",
    ),
    "lambda_gbs_x86_64": Price(
        0.0000166667,
        "GB-second, x86_64, first 6 billion GB-s a month",
        "https://aws.amazon.com/lambda/pricing/",
        "confirmed in two copies of the pricing table",
    ),
    "dynamodb_wru": Price(
        0.625 / 1e6,
        "write request unit (1 KB), on-demand",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "unit definitions confirmed on the page; the number is the November 2024 price (half "
        "of the $1.25 older copies show), not rendered in the stored copy",
    ),
    "dynamodb_rru": Price(
        0.125 / 1e6,
        "read request unit (4 KB strongly consistent, 2 eventually consistent reads)",
        "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        "as dynamodb_wru",
    ),
    "sqs_request": Price(
        0.40 / 1e6,
        "standard-queue request (64 KB chunk)",
        "https://aws.amazon.com/sqs/pricing/",
        "confirmed in a third-party copy ($0.40 per 1M, 64 KB chunks)",
    ),
    "sns_sms_us": Price(
        0.00581,
        "SMS to a US number (transactional, before carrier fees)",
        "https://aws.amazon.com/sns/sms-pricing/",
        "not found in the stored copies searched here; varies by country and carrier",
    ),
    "ses_email": Price(
        0.10 / 1000,
        "e-mail sent",
        "https://aws.amazon.com/ses/pricing/",
        "confirmed in a third-party copy ($0.10 per 1,000)",
    ),
    "kinesis_shard_hour": Price(
        0.015,
        "provisioned shard-hour",
        "https://aws.amazon.com/kinesis/data-streams/pricing/",
        "unit confirmed on the page; the number is not rendered in the stored copy",
    ),
    "kinesis_put_unit": Price(
        0.014 / 1e6,
        "PUT payload unit (25 KB)",
        "https://aws.amazon.com/kinesis/data-streams/pricing/",
        "unit (25 KB chunks) confirmed on the page; the number is not rendered there",
    ),
}

# What each priced unit of a line item is called in the table.
KB = 1024


# ---------------------------------------------------------------- DynamoDB item size


def attribute_value_size(value: Mapping[str, Any]) -> int:
    """Bytes DynamoDB counts for one low-level attribute value ({"S": ...}, {"N": ...}, ...)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(str(raw).encode("utf-8"))
    if kind == "N":
        return number_size(str(raw))
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode("utf-8")) for s in raw)
    if kind == "NS":
        return sum(number_size(str(n)) for n in raw)
    if kind == "BS":
        return sum(len(b) for b in raw)
    if kind == "L":
        return 3 + sum(1 + attribute_value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + attribute_value_size(v) for k, v in raw.items())
    msg = f"unknown DynamoDB attribute type {kind!r}"
    raise ValueError(msg)


def number_size(text: str) -> int:
    """A number: about one byte per two significant digits, plus one."""
    digits = Decimal(text).normalize().as_tuple().digits
    return math.ceil(len(digits) / 2) + 1


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    """Attribute names (UTF-8) plus their values, as DynamoDB sizes an item."""
    return sum(len(name.encode("utf-8")) + attribute_value_size(v) for name, v in item.items())


def write_units(size_bytes: int) -> int:
    """Write request units for one item: one per started KB, at least one."""
    return max(1, math.ceil(size_bytes / KB))


def read_units(size_bytes: int, *, consistent: bool) -> float:
    """Read request units for `size_bytes` read: one per started 4 KB, half when eventual."""
    units = max(1, math.ceil(size_bytes / (4 * KB)))
    return float(units) if consistent else units / 2


# ---------------------------------------------------------------- IoT Core, SQS


def iot_message_units(payload_bytes: int, topic: str) -> int:
    """IoT Core meters a publish on its payload plus topic, in 5 KB units."""
    return max(1, math.ceil((payload_bytes + len(topic.encode("utf-8"))) / (5 * KB)))


def kinesis_put_units(record_bytes: int) -> int:
    """A Kinesis PUT is billed per started 25 KB of its record."""
    return max(1, math.ceil(record_bytes / (25 * KB)))


def sqs_requests(body_bytes: int) -> int:
    """An SQS request is billed per started 64 KB chunk of its payload."""
    return max(1, math.ceil(body_bytes / (64 * KB)))


# ---------------------------------------------------------------- secondary indexes


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]  # the index's own key attributes (an item lacking one is not indexed)
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    table_keys: tuple[str, ...]
    included: tuple[str, ...] = ()

    def projected_size(self, item: Mapping[str, Mapping[str, Any]]) -> int | None:
        """Size of the item's copy in this index, None when the item is not in it (sparse)."""
        if any(k not in item for k in self.keys):
            return None
        if self.projection == "ALL":
            return item_size(item)
        kept = set(self.keys) | set(self.table_keys) | set(self.included)
        return item_size({k: v for k, v in item.items() if k in kept})


def table_indexes(properties: Mapping[str, Any]) -> list[Index]:
    """The secondary indexes of an AWS::DynamoDB::Table's Properties (template.yaml)."""
    table_keys = tuple(k["AttributeName"] for k in properties["KeySchema"])
    found = []
    for kind in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
        for index in properties.get(kind, []):
            projection = index.get("Projection", {})
            found.append(
                Index(
                    name=index["IndexName"],
                    keys=tuple(k["AttributeName"] for k in index["KeySchema"]),
                    projection=projection.get("ProjectionType", "KEYS_ONLY"),
                    table_keys=table_keys,
                    included=tuple(projection.get("NonKeyAttributes", [])),
                )
            )
    return found


def put_write_units(item: Mapping[str, Mapping[str, Any]], indexes: list[Index]) -> tuple[int, int]:
    """(table WRU, index WRU) for putting `item` as a new item: every index holding it is written
    too, each copy billed by its own size."""
    index_units = 0
    for index in indexes:
        size = index.projected_size(item)
        if size is not None:
            index_units += write_units(size)
    return write_units(item_size(item)), index_units
