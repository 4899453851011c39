"""`mqtt-actions bucket query` against the template's bucket table on moto."""

from __future__ import annotations

import pytest

from mqtt_actions.adapters.bucket import DynamoBucket
from mqtt_actions_cli.target import Target
from tests.integration.cli_support import moto_target, run
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration

T0 = 1_764_072_000_000  # 2025-11-25T12:00:00Z


@pytest.fixture
def target(aws_env: Aws) -> Target:
    bucket = DynamoBucket(aws_env.tables["BucketTable"], aws_env.dynamodb)
    for minute in range(3):
        bucket.insert(
            "sensor-01",
            [
                {
                    "variable": "temperature",
                    "value": 20 + minute,
                    "unit": "C",
                    "metadata": {"topic": "home/kitchen/temperature"},
                },
                {
                    "variable": "humidity",
                    "value": 40 + minute,
                    "metadata": {"topic": "home/kitchen/temperature"},
                },
            ],
            traceid=f"trace-{minute}",
            timestamp=T0 + minute * 60_000,
        )
    return moto_target(aws_env)


def test_newest_first_as_a_table(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, ["bucket", "query", "sensor-01"], target)
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].split() == ["TIME", "VARIABLE", "VALUE", "UNIT", "TOPIC"]
    assert lines[1].startswith("2025-11-25T12:02:00.000Z")
    assert len(lines) == 1 + 6 + 1
    assert lines[-1] == "6 data points of device 'sensor-01', newest first"


def test_one_variable_in_a_time_range_as_json(
    target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(
        capsys,
        [
            "bucket",
            "query",
            "sensor-01",
            "--variable",
            "temperature",
            "--since",
            "2025-11-25T12:00:30Z",
            "--until",
            "2025-11-25T12:05:00Z",
            "--json",
        ],
        target,
    )
    assert ran.code == 0, ran.err
    points = ran.json()["points"]
    assert [p["value"] for p in points] == [22, 21]
    assert points[0]["time_iso"] == "2025-11-25T12:02:00.000Z"
    assert points[0]["metadata"] == {"topic": "home/kitchen/temperature"}


def test_limit(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, ["bucket", "query", "sensor-01", "--limit", "2", "--json"], target)
    assert len(ran.json()["points"]) == 2


def test_an_empty_bucket_says_so(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, ["bucket", "query", "nobody"], target)
    assert ran.code == 0
    assert ran.out.strip() == "no data points for device 'nobody' in that time range"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--limit", "0"], "--limit 0 is out of range"),
        (["--since", "soon"], "--since 'soon' is neither a duration nor an ISO-8601 time"),
        (
            ["--since", "2025-11-25T13:00:00Z", "--until", "2025-11-25T12:00:00Z"],
            "--since is after",
        ),
    ],
)
def test_usage_errors(
    argv: list[str], message: str, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["bucket", "query", "sensor-01", *argv], target)
    assert ran.code == 2
    assert message in ran.err
