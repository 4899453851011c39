"""`mqtt-actions inspect` reading the real adapter (DynamoInspector.query) on moto."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions.lifecycle import parse_lifecycle
from mqtt_actions.ports import ActionResult, MessageRecord, Outcome
from mqtt_actions_cli.inspect import add_inspect_parser, run_inspect
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events" / "lifecycle"
T0 = 1_764_072_000_000  # 2025-11-25T12:00:00Z


def sample(name: str, **change: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data | change


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
def inspector(aws_env: Aws, clock: Clock) -> DynamoInspector:
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


def test_table_of_every_device(inspector: DynamoInspector, clock: Clock) -> None:
    out = io.StringIO()
    assert run_inspect(args("--since", "1h"), inspector.query, out=out, env={}, clock=clock) == 0
    lines = out.getvalue().splitlines()
    assert [line.split()[3] for line in lines[1:]] == [
        "connect",
        "publish",
        "action",
        "disconnect",
    ]
    assert lines[-1].endswith("CONNECTION_LOST · not by the client · last will: sent · version 3")


def test_json_of_one_device_and_type(inspector: DynamoInspector, clock: Clock) -> None:
    out = io.StringIO()
    run_inspect(
        args("-d", "sensor-01", "-t", "action", "--json", "--since", "1h"),
        inspector.query,
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


def test_follow_shows_what_lands_between_polls(inspector: DynamoInspector, clock: Clock) -> None:
    def sleep(_seconds: float) -> None:
        clock.now_ms += 1000
        event = sample("subscribed", timestamp=clock.now_ms - 200, topics=[f"t/{clock.now_ms}"])
        inspector.record_lifecycle(parse_lifecycle(event))

    out = io.StringIO()
    run_inspect(
        args("--since", "1h", "--follow", "--json"),
        inspector.query,
        out=out,
        clock=clock,
        sleep=sleep,
        max_iterations=3,
    )
    types = [json.loads(line)["type"] for line in out.getvalue().splitlines()]
    assert types == ["connect", "publish", "action", "disconnect"] + ["subscribe"] * 3
