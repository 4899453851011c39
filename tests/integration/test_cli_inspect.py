"""`mqtt-actions inspect` plugged into the main command: the target's inspector table on moto."""

from __future__ import annotations

import time

import pytest

from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions.ports import ActionResult, MessageRecord, Outcome
from mqtt_actions_cli.target import Target
from tests.integration.cli_support import moto_target, run
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration


@pytest.fixture
def target(aws_env: Aws) -> Target:
    table = aws_env.tables["InspectorTable"]
    message = MessageRecord(
        device="sensor-01",
        topic="home/kitchen/temperature",
        traceid="trace-1",
        timestamp=int(time.time() * 1000) - 60_000,
        size=12,
        preview='{"value":31}',
        points=1,
        matched=1,
    )
    inspector = DynamoInspector(table, aws_env.dynamodb, 7)
    inspector.record_message(message)
    inspector.record_outcomes(
        message,
        [ActionResult(action_id="store", action_type="insert_bucket", outcome=Outcome.DONE)],
    )
    return moto_target(aws_env, InspectorTableName=table)


def test_inspect_reads_the_targets_inspector(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["inspect", "--since", "10m"], target)
    assert ran.code == 0, ran.err
    assert "home/kitchen/temperature" in ran.out
    assert "store (insert_bucket) done" in ran.out


def test_inspect_json_and_a_device(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, ["inspect", "--device", "sensor-01", "--json", "--stack", "s"], target)
    assert ran.code == 0, ran.err
    assert [line.count('"type"') for line in ran.out.splitlines()] == [1, 1]


def test_inspect_help_has_examples_and_the_target_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = run(capsys, ["inspect", "--help"])
    assert ran.code == 0
    assert "examples:\n  mqtt-actions inspect" in ran.out
    for option in ("--json", "--local", "--stack NAME", "--region REGION", "--follow"):
        assert option in ran.out


def test_inspect_needs_the_inspector_output(
    aws_env: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["inspect"], moto_target(aws_env))
    assert ran.code == 1
    assert "has no output 'InspectorTableName'" in ran.err
