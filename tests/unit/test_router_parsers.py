"""The router with a device's payload parser: the parser runs once, before the conditions, on the
points of a message that matched some action; what it returns is what every action sees. A
parser that fails runs no action and sends the message to the inspector and the dead-letter
queue with its error and console lines; the next message is routed as usual."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mqtt_actions.actions import parse_actions
from mqtt_actions.parsers import DeviceParser, Parser, device_context
from mqtt_actions.router import PARSER_STEP, RouterDeps, route
from tests.support.router_fakes import SETTINGS, Memory, event, in_memory_deps

PARSERS = Path(__file__).resolve().parents[1] / "data" / "parsers"
STORE = {"id": "store", "topics": ["home/#"], "type": "insert_bucket"}
HOT = {
    "id": "hot",
    "topics": ["home/#"],
    "type": "sms",
    "to": ["+15555550100"],
    "message": "$VARIABLE$=$VALUE$",
    "when": [{"variable": "temperature", "op": ">", "value": 30}],
}
FORECAST = {"id": "forecast", "topics": ["home/#"], "type": "run_analysis", "analyses": ["f"]}


class _Parsers:
    """ParserLookup: one parser for sensor-01, none for the others; counts the lookups."""

    def __init__(self, parser: Parser) -> None:
        self.found = DeviceParser(parser, device_context("sensor-01"))
        self.asked: list[str] = []

    def for_device(self, device: str) -> DeviceParser | None:
        self.asked.append(device)
        return self.found if device == "sensor-01" else None


def deps_with(
    name: str, memory: Memory, actions: list[dict[str, object]]
) -> tuple[RouterDeps, _Parsers]:
    source = (PARSERS / name).read_text(encoding="utf-8")
    parsers = _Parsers(Parser("javascript", source, name))
    deps = in_memory_deps(parse_actions({"actions": actions}), memory, clock=lambda: 1.0)
    return dataclasses.replace(deps, parsers=parsers), parsers


def test_conditions_rows_and_analyses_see_the_parsed_points() -> None:
    memory = Memory()
    deps, _ = deps_with("hex_buffer.js", memory, [STORE, HOT, FORECAST])

    summary = route(event("home/sensor-01", b"010C1C1395"), deps, SETTINGS)  # 31.00 °C

    assert [(r.action_id, r.outcome.value) for r in summary.results] == [
        (PARSER_STEP, "done"),
        ("store", "done"),
        ("hot", "done"),
        ("forecast", "done"),
    ]
    assert [row["variable"] for _, row in memory.rows] == [
        "protocol_version",
        "temperature",
        "humidity",
    ]
    assert memory.sms == [("+15555550100", "protocol_version=1")]  # $VARIABLE$: first point
    parser_step = summary.results[0]
    assert parser_step.detail["logs"] == ["received 5 bytes on home/sensor-01"]
    assert parser_step.detail["points"] == 3
    assert memory.messages[0].points == 3


def test_a_failing_parser_runs_no_action_and_dead_letters_the_message() -> None:
    memory = Memory()
    deps, _ = deps_with("hostile_throw.js", memory, [STORE, HOT])

    summary = route(event("home/sensor-01", b"0109"), deps, SETTINGS)

    [step] = summary.results
    assert (step.action_id, step.outcome.value) == (PARSER_STEP, "failed")
    assert "Error: unknown frame type 0109" in (step.reason or "")
    assert memory.rows == []
    assert memory.sms == []
    [letter] = memory.dead_letters
    assert letter["kind"] == "parser_failed"
    assert letter["logs"] == ["about to fail on 0109"]
    assert letter["parser"] == "hostile_throw.js (javascript)"
    assert letter["event"]["traceid"] == "t-1"
    assert memory.outcomes == [step]  # the inspector has it


def test_other_devices_and_unmatched_messages_skip_the_parser() -> None:
    memory = Memory()
    deps, parsers = deps_with("hostile_throw.js", memory, [STORE])

    other = route(event("home/sensor-02", b"0109"), deps, SETTINGS)
    unmatched = route(event("away/sensor-01", b"0109", traceid="t-2"), deps, SETTINGS)

    assert [r.outcome.value for r in other.results] == ["done"]
    assert unmatched.results == ()
    assert parsers.asked == ["sensor-02"]  # no action matched: no lookup, no parser run
    assert memory.dead_letters == []
