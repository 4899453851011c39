"""Small pure pieces of the CLI: tables, times, control port, device policies."""

from __future__ import annotations

import pytest

from mqtt_actions_cli.errors import UsageError
from mqtt_actions_cli.iot_policy import (
    PolicyInputError,
    check_thing_name,
    device_policy,
    policy_patterns,
)
from mqtt_actions_cli.output import cell, iso_ms, table
from mqtt_actions_cli.target import DEFAULT_CONTROL_PORT, control_port
from mqtt_actions_cli.timeparse import parse_when

NOW = 1_764_072_000.0  # 2025-11-25T12:00:00Z


def test_table_aligns_columns_and_keeps_cells_on_one_line() -> None:
    text = table(["id", "value"], [("a", "x\ny"), ("long-id", 3)])
    assert text.splitlines() == ["ID       VALUE", "a        x y", "long-id  3"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, ""), (True, "yes"), ([1, "a"], '[1,"a"]'), ("a" * 70, "a" * 59 + "…")],
)
def test_cell(value: object, expected: str) -> None:
    assert cell(value) == expected


def test_iso_ms() -> None:
    assert iso_ms(1_764_072_000_123) == "2025-11-25T12:00:00.123Z"
    assert iso_ms(None) == ""


@pytest.mark.parametrize(
    ("text", "expected_ms"),
    [
        ("90s", (NOW - 90) * 1000),
        ("15m", (NOW - 900) * 1000),
        ("1h", (NOW - 3600) * 1000),
        ("2d", (NOW - 172800) * 1000),
        ("1w", (NOW - 604800) * 1000),
        ("2025-11-25T11:00:00Z", (NOW - 3600) * 1000),
        ("2025-11-25T11:00:00", (NOW - 3600) * 1000),  # no zone: UTC
        ("2025-11-25T12:00:00+01:00", (NOW - 3600) * 1000),
    ],
)
def test_parse_when(text: str, expected_ms: float) -> None:
    assert parse_when(text, option="--since", now=NOW) == int(expected_ms)


def test_parse_when_names_the_option_and_the_forms() -> None:
    with pytest.raises(UsageError) as caught:
        parse_when("yesterday", option="--until", now=NOW)
    assert "--until 'yesterday'" in caught.value.message
    assert "--until 15m" in caught.value.hint


@pytest.mark.parametrize(
    ("env", "port"),
    [
        ({}, DEFAULT_CONTROL_PORT),
        ({"MQTT_ACTIONS_CONTROL_PORT": "5000"}, 5000),
        ({"MQTT_ACTIONS_AWS_PORT": "4600"}, 4601),
        ({"MQTT_ACTIONS_CONTROL_PORT": "5000", "MQTT_ACTIONS_AWS_PORT": "4600"}, 5000),
    ],
)
def test_control_port(env: dict[str, str], port: int) -> None:
    assert control_port(env) == port


@pytest.mark.parametrize("raw", ["abc", "0", "70000"])
def test_control_port_refuses_what_is_not_a_port(raw: str) -> None:
    with pytest.raises(UsageError, match="MQTT_ACTIONS_CONTROL_PORT"):
        control_port({"MQTT_ACTIONS_CONTROL_PORT": raw})


@pytest.mark.parametrize(
    ("topic_filter", "patterns"),
    [
        ("sensor-01/#", ["sensor-01", "sensor-01/*"]),
        ("home/+/temperature", ["home/*/temperature"]),
        ("cmd/valve-3", ["cmd/valve-3"]),
        ("#", ["*"]),
    ],
)
def test_policy_patterns(topic_filter: str, patterns: list[str]) -> None:
    assert policy_patterns(topic_filter, option="--publish") == patterns


@pytest.mark.parametrize(
    ("topic_filter", "why"),
    [
        ("a/#/b", "--publish 'a/#/b'"),
        ("$aws/things/x", "reserved"),
        ("home/*", "wildcards or variables"),
        ("home/${iot:ClientId}", "wildcards or variables"),
        ("", "--publish ''"),
    ],
)
def test_policy_patterns_refuse(topic_filter: str, why: str) -> None:
    with pytest.raises(PolicyInputError, match=why.replace("$", r"\$").replace("*", r"\*")):
        policy_patterns(topic_filter, option="--publish")


@pytest.mark.parametrize("name", ["", "a b", "a/b", "x+y", "x#", "é", "a" * 129])
def test_thing_names_refused(name: str) -> None:
    with pytest.raises(PolicyInputError, match="not a valid thing name"):
        check_thing_name(name)


def test_device_policy_connects_only_as_its_own_thing() -> None:
    policy = device_policy(
        partition="aws",
        region="eu-west-1",
        account="123456789012",
        publish=["dev-1/#"],
        subscribe=["cmd/dev-1"],
    )
    statements = {s["Sid"]: s for s in policy["Statement"]}
    arn = "arn:aws:iot:eu-west-1:123456789012"
    assert statements["ConnectAsItsOwnThingOnly"] == {
        "Sid": "ConnectAsItsOwnThingOnly",
        "Effect": "Allow",
        "Action": "iot:Connect",
        "Resource": f"{arn}:client/${{iot:Connection.Thing.ThingName}}",
        "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
    }
    assert statements["Publish"]["Resource"] == [f"{arn}:topic/dev-1", f"{arn}:topic/dev-1/*"]
    assert statements["Subscribe"]["Resource"] == [f"{arn}:topicfilter/cmd/dev-1"]
    assert statements["Receive"]["Resource"] == [f"{arn}:topic/cmd/dev-1"]
    everything = [r for s in policy["Statement"] for r in [s["Resource"]] if r == "*"]
    assert everything == []
