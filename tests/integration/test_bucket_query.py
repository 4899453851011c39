"""`DynamoBucket.query` without a variable: the loose scan of the main key plus the sparse
`ByTime` index, checked against a plain model of the rows on the template's table in moto."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from mqtt_actions.adapters.bucket import DynamoBucket, bucket_item, row_ts
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration

T0 = 1_764_072_000_000  # 2025-11-25T12:00:00Z
DEVICE = "sensor-01"

# Variables whose keys `<variable>#<time>#...` sort next to, inside or around one another.
AWKWARD = [
    "t",
    "t2",
    "t#x",
    "t#1",
    "t#",
    f"t#{T0}",  # a key prefix equal to one of t's own rows
    "t!",  # "!" sorts before "#"
    "t$",  # "$" is the character after "#"
    "#",
    "##",
    "a b",
    "~",
    "temperatura en °C",
    "温度",
    "🌡",
    "x" * 100,
]


@dataclass
class Stored:
    """What was written, to compute the expected answer without DynamoDB."""

    rows: list[dict[str, Any]]

    def expected(
        self,
        *,
        variable: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 100,
    ) -> list[tuple[str, Any, int]]:
        lo, hi = since_ms or 0, until_ms if until_ms is not None else 9_999_999_999_999
        kept = [
            it
            for it in self.rows
            if (variable is None or it["variable"]["S"] == variable)
            and lo <= int(it["time"]["N"]) <= hi
        ]
        kept.sort(key=row_ts, reverse=True)
        return [_point_of(it) for it in kept[:limit]]


def _point_of(item: dict[str, Any]) -> tuple[str, Any, int]:
    point = json.loads(item["data"]["S"])
    return point["variable"], point["value"], int(item["time"]["N"])


def _got(rows: Sequence[dict[str, Any]]) -> list[tuple[str, Any, int]]:
    return [(r["variable"], r["value"], r["_time"]) for r in rows]


@pytest.fixture
def bucket(aws_env: Aws) -> DynamoBucket:
    return DynamoBucket(aws_env.tables["BucketTable"], aws_env.dynamodb)


@pytest.fixture
def queries(aws_env: Aws) -> Iterator[list[dict[str, Any]]]:
    """Every Query request the bucket sends, as sent."""
    seen: list[dict[str, Any]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        seen.append(params)

    events = aws_env.dynamodb.meta.events
    events.register("provide-client-params.dynamodb.Query", record)
    yield seen
    events.unregister("provide-client-params.dynamodb.Query", record)


def _write(
    bucket: DynamoBucket, variables: Sequence[str], messages: int, *, seed: int = 7
) -> Stored:
    """`messages` messages, each with 1-3 points of random variables at random times."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for m in range(messages):
        points = [
            {"variable": rng.choice(variables), "value": m * 10 + i}
            for i in range(rng.randint(1, 3))
        ]
        at = T0 + rng.randrange(0, 3_600_000)
        bucket.insert(DEVICE, points, traceid=f"trace-{m:04d}", timestamp=at)
        rows.extend(
            bucket_item(DEVICE, p, traceid=f"trace-{m:04d}", index=i, timestamp=at)
            for i, p in enumerate(points)
        )
    return Stored(rows)


def _indexed(aws_env: Aws) -> list[dict[str, Any]]:
    return aws_env.dynamodb.scan(TableName=aws_env.tables["BucketTable"], IndexName="ByTime")[
        "Items"
    ]


def test_rows_of_plain_variables_are_not_in_the_time_index(
    aws_env: Aws, bucket: DynamoBucket
) -> None:
    bucket.insert(
        DEVICE,
        [{"variable": "temperature", "value": 21}, {"variable": "t#1", "value": 1}],
        traceid="trace-1",
        timestamp=T0,
    )
    assert [it["variable"]["S"] for it in _indexed(aws_env)] == ["t#1"]


def test_many_variables_newest_first_across_all_of_them(
    bucket: DynamoBucket, queries: list[dict[str, Any]]
) -> None:
    variables = [f"v{n:02d}" for n in range(40)]
    stored = _write(bucket, variables, 300)
    queries.clear()
    got = bucket.query(DEVICE, limit=1000)
    assert _got(got) == stored.expected(limit=1000)
    assert len(got) == len(stored.rows)
    # one Limit-1 query per variable and one that finds none left, one range query per
    # variable, one query of the index
    assert len(queries) == 2 * 40 + 2


@pytest.mark.parametrize("limit", [1, 2, 7, 50, 500])
def test_awkward_variable_names_none_skipped_none_repeated(
    bucket: DynamoBucket, limit: int
) -> None:
    stored = _write(bucket, AWKWARD, 120)
    assert {it["variable"]["S"] for it in stored.rows} == set(AWKWARD)
    assert _got(bucket.query(DEVICE, limit=limit)) == stored.expected(limit=limit)


@pytest.mark.parametrize("variable", AWKWARD)
def test_one_variable_is_only_that_variable(bucket: DynamoBucket, variable: str) -> None:
    stored = _write(bucket, AWKWARD, 120)
    got = bucket.query(DEVICE, variable=variable, limit=1000)
    assert _got(got) == stored.expected(variable=variable, limit=1000)
    assert got


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (T0 + 600_000, None),
        (None, T0 + 600_000),
        (T0 + 600_000, T0 + 1_200_000),
        (T0 + 3_600_000, None),  # after every row
    ],
)
def test_time_range(bucket: DynamoBucket, since: int | None, until: int | None) -> None:
    stored = _write(bucket, AWKWARD, 120)
    got = bucket.query(DEVICE, since_ms=since, until_ms=until, limit=30)
    assert _got(got) == stored.expected(since_ms=since, until_ms=until, limit=30)


def test_time_range_bounds_are_inclusive(bucket: DynamoBucket) -> None:
    for n, variable in enumerate(["a", "b", "c#1", "d"]):
        bucket.insert(
            DEVICE, [{"variable": variable, "value": n}], traceid=f"t{n}", timestamp=T0 + n
        )
    got = bucket.query(DEVICE, since_ms=T0 + 1, until_ms=T0 + 2)
    assert _got(got) == [("c#1", 2, T0 + 2), ("b", 1, T0 + 1)]


def test_rows_written_with_ts_before_still_read_once(aws_env: Aws, bucket: DynamoBucket) -> None:
    """Rows of the earlier format (every row with `ts`, so in the index too) next to new ones."""
    old = [
        bucket_item(
            DEVICE, {"variable": v, "value": n}, traceid=f"old-{n}", index=0, timestamp=T0 + n
        )
        for n, v in enumerate(["t", "t2", "humidity", "t", "t#x"])
    ]
    for item in old:
        item["ts"] = {"S": row_ts(item)}
        aws_env.dynamodb.put_item(TableName=aws_env.tables["BucketTable"], Item=item)
    new = _write(bucket, ["t", "humidity", "t#x", "co2"], 10)
    stored = Stored(old + new.rows)
    assert _got(bucket.query(DEVICE, limit=1000)) == stored.expected(limit=1000)
    assert _got(bucket.query(DEVICE, limit=3)) == stored.expected(limit=3)
    assert _got(bucket.query(DEVICE, variable="t")) == stored.expected(variable="t")


def test_other_devices_are_not_read(bucket: DynamoBucket) -> None:
    bucket.insert("sensor-00", [{"variable": "zz", "value": 0}], traceid="a", timestamp=T0)
    bucket.insert("sensor-02", [{"variable": "aa", "value": 2}], traceid="b", timestamp=T0)
    bucket.insert(DEVICE, [{"variable": "m", "value": 1}], traceid="c", timestamp=T0)
    assert _got(bucket.query(DEVICE)) == [("m", 1, T0)]
    assert bucket.query("nobody") == []
