"""The metering arithmetic of benchmarks/cost.py: DynamoDB item sizes and request units, IoT Core
5 KB units, SQS chunks, and the writes a secondary index adds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import _billing as bill


@pytest.mark.parametrize(
    ("item", "size"),
    [
        ({"device": {"S": "sensor-01"}}, 6 + 9),
        ({"é": {"S": "ü"}}, 2 + 2),  # UTF-8 bytes, names too
        ({"n": {"N": "123"}}, 1 + 3),  # 3 significant digits: 2 bytes + 1
        ({"n": {"N": "1.50"}}, 1 + 2),  # trailing zero is not significant
        ({"b": {"B": b"\x00\x01\x02"}}, 1 + 3),
        ({"t": {"BOOL": True}, "z": {"NULL": True}}, 2 + 2),
        ({"l": {"L": [{"S": "ab"}, {"S": "c"}]}}, 1 + 3 + (1 + 2) + (1 + 1)),
        ({"m": {"M": {"k": {"S": "v"}}}}, 1 + 3 + (1 + 1 + 1)),
        ({"s": {"SS": ["a", "bc"]}}, 1 + 3),
    ],
)
def test_item_size(item: dict[str, dict[str, object]], size: int) -> None:
    assert bill.item_size(item) == size


@pytest.mark.parametrize(
    ("size", "units"), [(0, 1), (1, 1), (1024, 1), (1025, 2), (2048, 2), (400 * 1024, 400)]
)
def test_write_units_per_started_kb(size: int, units: int) -> None:
    assert bill.write_units(size) == units


@pytest.mark.parametrize(
    ("size", "consistent", "units"),
    [(0, True, 1.0), (4096, True, 1.0), (4097, True, 2.0), (4096, False, 0.5), (9000, False, 1.5)],
)
def test_read_units_per_started_4kb(size: int, consistent: bool, units: float) -> None:
    assert bill.read_units(size, consistent=consistent) == units


@pytest.mark.parametrize(
    ("payload", "topic", "units"),
    [(0, "a", 1), (5120 - 1, "a", 1), (5120, "a", 2), (5120 * 3, "", 3), (128 * 1024, "t", 26)],
)
def test_iot_messages_per_5kb_of_payload_and_topic(payload: int, topic: str, units: int) -> None:
    assert bill.iot_message_units(payload, topic) == units


def test_kinesis_put_units_per_25kb_record_chunk() -> None:
    assert [bill.kinesis_put_units(n) for n in (1, 25 * 1024, 25 * 1024 + 1, 128 * 1024)] == [
        1,
        1,
        2,
        6,
    ]


def test_sqs_requests_per_64kb_chunk() -> None:
    assert [bill.sqs_requests(n) for n in (1, 65536, 65537, 256 * 1024)] == [1, 1, 2, 4]


TABLE = {
    "KeySchema": [
        {"AttributeName": "device", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "LocalSecondaryIndexes": [
        {
            "IndexName": "ByTime",
            "KeySchema": [
                {"AttributeName": "device", "KeyType": "HASH"},
                {"AttributeName": "ts", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "Keys",
            "KeySchema": [{"AttributeName": "other", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ],
}


def test_every_index_holding_the_item_is_a_write_sized_by_its_projection() -> None:
    indexes = bill.table_indexes(TABLE)
    big = {"device": {"S": "d"}, "sk": {"S": "1"}, "ts": {"S": "1"}, "data": {"S": "x" * 1500}}
    # table 2 KB, ByTime (ALL) 2 KB; not in Keys (no `other`: a sparse index costs nothing)
    assert bill.put_write_units(big, indexes) == (2, 2)
    keyed = big | {"other": {"S": "o"}}
    # Keys (KEYS_ONLY) holds its key and the table's keys only: one unit
    assert bill.put_write_units(keyed, indexes) == (2, 3)


def test_every_price_is_dated_and_sourced() -> None:
    assert bill.PRICES_CHECKED
    for name, price in bill.PRICES.items():
        assert price.usd > 0, name
        assert price.source.startswith("https://aws.amazon.com/"), name
        assert price.checked, name
