"""Reading the inspector back: one device or all (shards, hours, retention), newest N, types,
and `mqtt-actions inspect` (table, --json, --follow) over the real adapter."""

from __future__ import annotations

import argparse
import io
import json

import pytest

from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions.inspector import SHARDS, EntryType, InspectorEntry
from mqtt_actions.lifecycle import parse_lifecycle
from mqtt_actions.ports import ActionResult, MessageRecord, Outcome
from mqtt_actions_cli.inspect import add_inspect_parser, run_inspect
from tests.inspector.conftest import Handler
from tests.inspector.support import (
    ALL_OUTCOMES,
    HOUR,
    NOW_S,
    SAMPLES,
    T0,
    items,
    message,
    sample,
)
from tests.integration.conftest import Aws

# --- queries ----------------------------------------------------------------------------------


def fill(inspector: DynamoInspector, devices: int, hours: int, per_hour: int) -> int:
    """Publishes of `devices` devices over `hours` hours ending at T0 + 2h59m."""
    count = 0
    start = T0 + 3 * HOUR - hours * HOUR
    for d in range(devices):
        for h in range(hours):
            for n in range(per_hour):
                at = start + h * HOUR + (n * 997 + d * 31) % HOUR
                inspector.record_message(message(f"t-{d}-{h}-{n}", device=f"dev-{d:02d}", at=at))
                count += 1
    return count


def test_one_device_over_a_time_range(inspector: DynamoInspector) -> None:
    for i in range(10):
        inspector.record_message(message(f"t{i}", at=T0 + i * 1000))
    inspector.record_message(message("other", device="sensor-99", at=T0 + 5000))
    got = inspector.query(device="sensor-01", since_ms=T0 + 2000, until_ms=T0 + 6000)
    assert [e.time for e in got] == [T0 + i * 1000 for i in range(2, 7)]  # bounds included
    assert {e.device for e in got} == {"sensor-01"}


def test_one_device_newest_n_oldest_first(inspector: DynamoInspector) -> None:
    for i in range(10):
        inspector.record_message(message(f"t{i}", at=T0 + i * 1000))
    got = inspector.query(device="sensor-01", limit=3)
    assert [e.time for e in got] == [T0 + 7000, T0 + 8000, T0 + 9000]


def test_all_devices_across_shards_and_hours(inspector: DynamoInspector, aws_env: Aws) -> None:
    total = fill(inspector, devices=12, hours=3, per_hour=4)
    shards = {it["hour_shard"]["S"] for it in items(aws_env)}
    assert len(shards) == 3 * SHARDS  # every shard of every hour took writes
    got = inspector.query(since_ms=T0, limit=1000)
    assert len(got) == total
    assert [e.time for e in got] == sorted(e.time for e in got)
    assert len({e.device for e in got}) == 12


def test_all_devices_newest_n_across_hours(inspector: DynamoInspector) -> None:
    fill(inspector, devices=5, hours=3, per_hour=6)
    everything = inspector.query(since_ms=T0, limit=1000)
    got = inspector.query(since_ms=T0, limit=7)
    assert got == everything[-7:]


def test_all_devices_time_range_is_inclusive_and_exact(inspector: DynamoInspector) -> None:
    fill(inspector, devices=4, hours=3, per_hour=5)
    everything = inspector.query(since_ms=T0, limit=1000)
    lo, hi = everything[3].time, everything[-4].time
    got = inspector.query(since_ms=lo, until_ms=hi, limit=1000)
    assert got == [e for e in everything if lo <= e.time <= hi]


def test_type_filter_on_both_paths(
    handler: Handler, inspector: DynamoInspector, aws_env: Aws
) -> None:
    for name in SAMPLES:
        handler(sample(name))
    inspector.record_message(message(at=T0 + 5))
    inspector.record_outcomes(message(at=T0 + 5), ALL_OUTCOMES[:2])
    one = inspector.query(device="sensor-01", types=[EntryType.SUBSCRIBE, "unsubscribe"])
    assert [e.type.value for e in one] == ["subscribe", "unsubscribe"]
    every = inspector.query(since_ms=T0 - HOUR, types=["disconnect"])
    assert sorted(e.device for e in every) == ["sensor-01", "sensor-02"]
    actions = inspector.query(since_ms=T0 - HOUR, types=["action"], limit=1)
    assert [e.details["action_id"] for e in actions] == ["store"]  # newest key at that ms


def test_all_devices_reads_no_further_back_than_the_retention(aws_env: Aws) -> None:
    # Items past their TTL may linger a while before DynamoDB deletes them; the fan-out over
    # hours stops at the retention (+1 day) instead of walking back to since_ms=0.
    table = aws_env.tables["InspectorTable"]
    inspector = DynamoInspector(table, aws_env.dynamodb, retention_days=1, clock=lambda: NOW_S)
    old = T0 - 3 * 24 * HOUR
    inspector.record_message(message("old", at=old))
    inspector.record_message(message("new", at=T0))
    assert [e.uid for e in inspector.query(since_ms=0, limit=10)] == ["new"]
    assert [e.uid for e in inspector.query(device="sensor-01", since_ms=0)] == ["old", "new"]


def test_entries_round_trip(inspector: DynamoInspector) -> None:
    entry = inspector.record_lifecycle(parse_lifecycle(sample("disconnected_connection_lost")))
    (got,) = inspector.query(device="sensor-02")
    assert got == entry
    assert isinstance(got, InspectorEntry)


# --- mqtt-actions inspect ------------------------------------------------------------------------


def args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mqtt-actions")
    add_inspect_parser(parser.add_subparsers())
    return parser.parse_args(["inspect", *argv])


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> float:
        return self.now_ms / 1000


@pytest.fixture
def clock() -> Clock:
    return Clock(T0 + 20 * 60_000)


@pytest.fixture
def filled(aws_env: Aws, clock: Clock) -> DynamoInspector:
    """A connect, a publish and its outcome, a disconnect: what `mqtt-actions inspect` reads."""
    found = DynamoInspector(aws_env.tables["InspectorTable"], aws_env.dynamodb, 7, clock=clock)
    found.record_lifecycle(parse_lifecycle(sample("connected")))
    message = MessageRecord(
        device="sensor-01",
        topic="home/kitchen/temperature",
        traceid="trace-1",
        timestamp=T0 + 300_000,
        size=21,
        preview='{"temperature": 31.5}',
        points=1,
        matched=1,
    )
    found.record_message(message)
    found.record_outcomes(
        message,
        [ActionResult(action_id="store", action_type="insert_bucket", outcome=Outcome.DONE)],
    )
    found.record_lifecycle(parse_lifecycle(sample("disconnected_connection_lost")))
    return found


def test_table_of_every_device(filled: DynamoInspector, clock: Clock) -> None:
    out = io.StringIO()
    assert run_inspect(args("--since", "1h"), filled.query, out=out, env={}, clock=clock) == 0
    lines = out.getvalue().splitlines()
    assert [line.split()[3] for line in lines[1:]] == [
        "connect",
        "publish",
        "action",
        "disconnect",
    ]
    assert lines[-1].endswith("CONNECTION_LOST · not by the client · last will: sent · version 3")


def test_json_of_one_device_and_type(filled: DynamoInspector, clock: Clock) -> None:
    out = io.StringIO()
    run_inspect(
        args("-d", "sensor-01", "-t", "action", "--json", "--since", "1h"),
        filled.query,
        out=out,
        clock=clock,
    )
    (row,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (row["device"], row["type"], row["details"]["outcome"]) == (
        "sensor-01",
        "action",
        "done",
    )
    assert row["qos"] is None


def test_follow_shows_what_lands_between_polls(filled: DynamoInspector, clock: Clock) -> None:
    def sleep(_seconds: float) -> None:
        clock.now_ms += 1000
        event = sample("subscribed", timestamp=clock.now_ms - 200, topics=[f"t/{clock.now_ms}"])
        filled.record_lifecycle(parse_lifecycle(event))

    out = io.StringIO()
    run_inspect(
        args("--since", "1h", "--follow", "--json"),
        filled.query,
        out=out,
        clock=clock,
        sleep=sleep,
        max_iterations=3,
    )
    types = [json.loads(line)["type"] for line in out.getvalue().splitlines()]
    assert types == ["connect", "publish", "action", "disconnect"] + ["subscribe"] * 3
