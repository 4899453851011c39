"""template.yaml ships every sample analysis the way the SDK and the router expect them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.analysis import AnalysisEvent
from mqtt_actions_cli.cfn import load_template, resources

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted(p.parent.name for p in (ROOT / "functions" / "analyses").glob("*/app.py"))
TEMPLATE = load_template()
FUNCTIONS = resources(TEMPLATE, "AWS::Serverless::Function")


def analysis_functions() -> dict[str, tuple[str, dict[str, Any]]]:
    """analysis name -> (logical id, properties), found by CodeUri."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for logical_id, props in FUNCTIONS.items():
        code = str(props.get("CodeUri", ""))
        if code.startswith("functions/analyses/"):
            found[code.removeprefix("functions/analyses/")] = (logical_id, props)
    return found


ANALYSES = analysis_functions()


def statements(props: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for policy in props.get("Policies", []):
        for statement in policy.get("Statement", []):
            if "Fn::If" in statement:  # [condition, if true, if false]
                out.extend(s for s in statement["Fn::If"][1:] if "Sid" in s)
            else:
                out.append(statement)
    return out


def sub_map(value: Any) -> dict[str, str]:
    """'{"a":"${LogicalId}"}' under !Sub -> {"a": "LogicalId"}."""
    text = value["Fn::Sub"]
    return {k: re.fullmatch(r"\$\{(\w+)\}", v)[1] for k, v in json.loads(text).items()}  # type: ignore[index]


def test_the_samples_exist() -> None:
    assert SAMPLES == ["forward", "silent_devices", "tagoio_port", "threshold_alert"]


@pytest.mark.parametrize("name", SAMPLES)
def test_each_sample_is_a_function_that_retries_twice_then_dead_letters(name: str) -> None:
    assert name in ANALYSES, f"functions/analyses/{name} has no function in template.yaml"
    _, props = ANALYSES[name]
    assert props["Handler"] == "app.lambda_handler"
    assert props["Environment"]["Variables"]["ANALYSIS_NAME"] == name
    invoke = props["EventInvokeConfig"]
    assert invoke["MaximumRetryAttempts"] == 2
    assert invoke["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
    }


@pytest.mark.parametrize("name", SAMPLES)
def test_each_sample_policy_names_its_resources(name: str) -> None:
    _, props = ANALYSES[name]
    for statement in statements(props):
        resource = statement.get("Resource", statement.get("NotResource"))
        assert resource not in ("*", ["*"]), f"{name}: {statement['Sid']} allows '*'"
        assert "*" not in json.dumps(statement.get("Action")), statement["Sid"]


def test_the_router_may_invoke_exactly_the_declared_analyses() -> None:
    router = FUNCTIONS["RouterFunction"]
    declared = sub_map(router["Environment"]["Variables"]["ANALYSIS_FUNCTIONS"])
    assert declared == {name: logical_id for name, (logical_id, _) in ANALYSES.items()}
    (invoke,) = [s for s in statements(router) if s["Action"] == "lambda:InvokeFunction"]
    assert sorted(r["Fn::GetAtt"][0] for r in invoke["Resource"]) == sorted(declared.values())


@pytest.mark.parametrize("name", SAMPLES)
def test_an_analysis_may_invoke_exactly_what_it_may_start(name: str) -> None:
    _, props = ANALYSES[name]
    raw = props["Environment"]["Variables"].get("ANALYSIS_FUNCTIONS")
    declared = sorted(sub_map(raw).values()) if raw else []
    allowed = sorted(
        s["Resource"]["Fn::GetAtt"][0]
        for s in statements(props)
        if s["Action"] == "lambda:InvokeFunction"
    )
    assert allowed == declared


def test_silent_devices_runs_on_a_schedule_with_a_schedule_trigger() -> None:
    _, props = ANALYSES["silent_devices"]
    (event,) = props["Events"].values()
    assert event["Type"] == "ScheduleV2"
    assert event["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    sent = json.loads(event["Properties"]["Input"])
    parsed = AnalysisEvent.parse(sent)
    assert parsed.trigger.type == "schedule"
    assert parsed.trigger.traceid == "<aws.scheduler.execution-id>"
    assert sent["trigger"]["time"] == "<aws.scheduler.scheduled-time>"
