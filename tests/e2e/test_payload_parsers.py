"""Payload parsers end to end through the local stack: a device publishes raw data with a real
MQTT client, its TagoIO-style parser (attached with `devices set --parser`) turns it into the
variables it was on TagoIO, the rows land in its bucket, and an action whose `when` reads a
parsed variable fires. Hostile parsers are stopped or refused, each with its inspector entry and
dead letter, and the device's next message is processed."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions_cli.main import main
from tests.e2e.conftest import Client, LocalStack, wait_until

pytestmark = pytest.mark.e2e

PARSERS = Path(__file__).resolve().parents[1] / "data" / "parsers"
Connect = Callable[[str], Client]


@pytest.fixture
def cli(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Any]:
    """`mqtt-actions ARGV --json` against the running stack, in this process; its JSON."""
    monkeypatch.setenv("MQTT_ACTIONS_CONTROL_PORT", str(urlsplit(stack.control_url).port))

    def run(*argv: str) -> Any:
        capsys.readouterr()
        code = main([*argv, "--local", "--json"])
        out = capsys.readouterr()
        assert code == 0, out.err
        return json.loads(out.out)

    return run


def device_with(cli: Callable[..., Any], name: str, parser: str, *options: str) -> str:
    cli("devices", "create", name, "--token", *options)
    cli("devices", "set", name, "--parser", str(PARSERS / parser))
    return name


def rows(stack: LocalStack, device: str) -> dict[str, Any]:
    return {r["variable"]: r for r in stack.bucket_all(device)}


def test_tagoio_parsers_turn_raw_payloads_into_their_variables_and_when_fires(
    stack: LocalStack, connect: Connect, cli: Callable[..., Any]
) -> None:
    run = uuid.uuid4().hex[:6]
    stack.apply(f"""
actions:
  - id: parse-store-{run}
    topics: ["parse{run}/#"]
    type: insert_bucket
  - id: parse-hot-{run}
    topics: ["parse{run}/#"]
    when: [{{variable: temperature, op: ">", value: 30}}]
    type: sms
    to: ["+15555550142"]
    message: "$DEVICE$ hot"
""")
    hexdev = device_with(cli, f"hex-{run}", "hex_buffer.js")
    jsondev = device_with(cli, f"json-{run}", "json_normalise.js")
    unitdev = device_with(cli, f"unit-{run}", "unit_conversion.js")
    filterdev = device_with(cli, f"filter-{run}", "filter_variables.js")
    paramdev = device_with(
        cli, f"param-{run}", "device_param.js", "--param", "offset=1.5", "--tag", "site=lisbon"
    )

    connect(hexdev).publish(f"parse{run}/{hexdev}", "010C1C1395")  # 31.00 °C, 50.13 %
    connect(jsondev).publish(f"parse{run}/kitchen/telemetry", '{"temp": 21.5, "hum": 40}')
    connect(unitdev).publish(
        f"parse{run}/{unitdev}", json.dumps({"variable": "temperature", "value": 86, "unit": "F"})
    )
    connect(filterdev).publish(
        f"parse{run}/{filterdev}",
        json.dumps([{"variable": "level", "value": 3}, {"variable": "rssi", "value": -90}]),
    )
    connect(paramdev).publish(
        f"parse{run}/{paramdev}", json.dumps({"variable": "temperature", "value": 20})
    )

    hex_rows = wait_until(lambda: len(rows(stack, hexdev)) == 3 and rows(stack, hexdev), "hex")
    assert (hex_rows["temperature"]["value"], hex_rows["temperature"]["unit"]) == (31, "°C")
    assert hex_rows["humidity"]["value"] == 50.13
    assert hex_rows["temperature"]["metadata"]["mqtt_topic"] == f"parse{run}/{hexdev}"
    assert "payload" not in hex_rows  # only the parser's result is stored

    json_rows = wait_until(lambda: len(rows(stack, jsondev)) == 2 and rows(stack, jsondev), "json")
    assert json_rows["temperature"]["metadata"] == {"room": "kitchen"}
    unit_rows = wait_until(lambda: rows(stack, unitdev), "unit")
    assert (unit_rows["temperature"]["value"], unit_rows["temperature"]["unit"]) == (30, "°C")
    filter_rows = wait_until(lambda: rows(stack, filterdev), "filter")
    assert set(filter_rows) == {"level"}
    param_rows = wait_until(lambda: len(rows(stack, paramdev)) == 3 and rows(stack, paramdev), "p")
    assert param_rows["temperature_calibrated"]["value"] == 21.5
    assert param_rows["site"]["value"] == "lisbon"

    # `when: temperature > 30` held for the hex device only (31.00 from 0x0C1C); the unit
    # device's raw 86 (°F) would have fired it, its parsed 30 °C does not.
    sms = wait_until(
        lambda: [s for s in stack.outbox("sms") if s["to"] == "+15555550142"], "the SMS"
    )
    assert [s["message"] for s in sms] == [f"{hexdev} hot"]

    inspector = DynamoInspector(stack.outputs["InspectorTableName"], stack.client("dynamodb"), 1)
    steps = [
        e.details
        for e in inspector.query(device=hexdev)
        if e.details.get("action_id") == "payload_parser"
    ]
    assert steps[0]["outcome"] == "done"
    assert steps[0]["detail"]["logs"] == [f"received 5 bytes on parse{run}/{hexdev}"]


@pytest.mark.parametrize(
    ("parser", "message"),
    [
        ("hostile_loop.js", "time limit of 2 s"),
        ("hostile_require.js", 'require("fs") is not available'),
        ("hostile_garbage.js", "result is a number"),
        ("hostile_throw.js", "Error: unknown frame type 0109"),
    ],
)
def test_a_hostile_parser_is_dead_lettered_and_the_next_message_is_processed(
    stack: LocalStack, connect: Connect, cli: Callable[..., Any], parser: str, message: str
) -> None:
    run = uuid.uuid4().hex[:6]
    stack.apply(f"""
actions:
  - id: bad-store-{run}
    topics: ["bad{run}/#"]
    type: insert_bucket
""")
    device = device_with(cli, f"bad-{run}", parser)
    client = connect(device)
    client.publish(f"bad{run}/{device}", "0109")

    letters: list[dict[str, Any]] = []

    def dead_letter() -> dict[str, Any] | None:
        letters.extend(stack.dead_letters())
        return next(
            (d for d in letters if d.get("event", {}).get("topic") == f"bad{run}/{device}"), None
        )

    dead = wait_until(dead_letter, f"the {parser} message in the dead-letter queue")
    assert dead["kind"] == "parser_failed"
    assert message in dead["reason"]
    assert dead["parser"] == f"{parser} (javascript)"
    inspector = DynamoInspector(stack.outputs["InspectorTableName"], stack.client("dynamodb"), 1)
    [failed] = [
        e.details
        for e in inspector.query(device=device)
        if e.details.get("action_id") == "payload_parser"
    ]
    assert failed["outcome"] == "failed"
    assert failed["detail"]["logs"] == dead["logs"]
    assert stack.bucket_all(device) == []

    # The parser fixed: the device's next message is parsed and stored.
    cli("devices", "set", device, "--parser", str(PARSERS / "hex_buffer.js"))
    client.publish(f"bad{run}/{device}", "0109611395")
    stored = wait_until(lambda: rows(stack, device), "the next message's rows")
    assert stored["temperature"]["value"] == 24.01
