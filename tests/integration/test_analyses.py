"""The sample analyses through their real handlers against moto, each trigger type, with the
environment template.yaml gives them; and the SDK's services against moto.

Not covered by moto: iot-data GetRetainedMessage (moto 5.2 has no such operation) and Lambda
invoke without Docker; the retained read is tested with a fake and a botocore Stubber
(tests/unit/test_analysis_adapters.py), the invoke with a recording invoker."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from mqtt_actions.adapters import analysis_ports
from mqtt_actions.adapters.bucket import DynamoBucket
from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions.analysis import Context, RateLimitedError, Scope, analysis
from mqtt_actions.ports import Outcome
from mqtt_actions_cli.cfn import load_template
from tests.integration.conftest import SENDER, Aws
from tests.support.analysis_fakes import T0, FakeInvoker, load_sample, sample_event

pytestmark = pytest.mark.integration

PHONE = "+15555550100"
OPS = "ops@example.com"
MINUTE = 60_000


class LambdaContext:
    function_name = "test-fn"
    aws_request_id = "req-1"


def function_env(aws_env: Aws, logical_id: str, params: Mapping[str, str]) -> dict[str, str]:
    """The function's Environment from template.yaml, resolved like CloudFormation would:
    parameters (defaults unless given), tables and queues by their test names, functions by
    `test-<logical id>`."""
    template = load_template()
    defaults = {k: str(v.get("Default", "")) for k, v in template["Parameters"].items()}
    values = defaults | dict(params)
    physical = aws_env.tables | aws_env.queues

    def resolve(value: Any) -> str:
        if isinstance(value, str | int | float):
            return str(value)
        if "Ref" in value:
            name = value["Ref"]
            if name in values:
                return values[name]
            return physical.get(name, f"test-{name}")
        if "Fn::Sub" in value:
            return re.sub(r"\$\{(\w+)\}", lambda m: resolve({"Ref": m[1]}), value["Fn::Sub"])
        raise AssertionError(f"cannot resolve {value!r}")

    variables = template["Resources"][logical_id]["Properties"]["Environment"]["Variables"]
    return {key: resolve(value) for key, value in variables.items()}


Invoke = Callable[..., dict[str, Any]]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> FakeInvoker:
    """Lambda invoke, recorded (moto's Lambda needs Docker)."""
    invoker = FakeInvoker()
    monkeypatch.setattr(analysis_ports, "LambdaInvoker", lambda client: invoker)
    return invoker


@pytest.fixture
def invoke(
    aws_env: Aws, monkeypatch: pytest.MonkeyPatch, recorder: FakeInvoker
) -> Iterator[Invoke]:
    """invoke(logical_id, handler, event, env={...}, **parameters): the handler with that
    function's environment from the template (stack parameters overridable), plus `env`."""
    params = {"EmailSender": SENDER, "AlertEmails": OPS, "AlertPhones": PHONE}

    def _invoke(
        logical_id: str,
        handler: Callable[..., dict[str, Any]],
        event: Any,
        env: Mapping[str, str] | None = None,
        **extra: str,
    ) -> dict[str, Any]:
        env = function_env(aws_env, logical_id, params | extra) | dict(env or {})
        with monkeypatch.context() as m:
            for key, value in env.items():
                m.setenv(key, value)
            return handler(copy.deepcopy(event), LambdaContext())

    return _invoke


def bucket(aws_env: Aws) -> DynamoBucket:
    return DynamoBucket(aws_env.tables["BucketTable"], aws_env.dynamodb)


def reading(
    value: float, *, at: int = T0, traceid: str = "t", variable: str = "temperature_c"
) -> dict[str, Any]:
    event = sample_event("action")
    event["analysis"] = "threshold_alert"
    event["trigger"] |= {"traceid": traceid, "timestamp": at}
    event["scope"] = [{"variable": variable, "value": value, "unit": "°C"}]
    return event


def email_bodies(aws_env: Aws) -> list[str]:
    return [str(m.body) for m in aws_env.emails()]


def inspected(aws_env: Aws, device: str) -> list[tuple[str, str, str | None]]:
    """(analysis, outcome, reason) of every run the inspector table holds for `device`."""
    table = DynamoInspector(aws_env.tables["InspectorTable"], aws_env.dynamodb, 7)
    entries = table.query(device=device, types=["action"], since_ms=0)
    return [
        (e.details["action_id"], e.details["outcome"], e.details["reason"])
        for e in entries
        if e.details["action_type"] == "analysis"
    ]


# --- action -> forward -> threshold_alert (action and analysis triggers) --------------------------


def test_forward_republishes_celsius_and_starts_threshold_alert(
    aws_env: Aws, invoke: Invoke, recorder: FakeInvoker
) -> None:
    forward, alert = load_sample("forward"), load_sample("threshold_alert")

    summary = invoke("ForwardAnalysis", forward.lambda_handler, sample_event("action"))

    assert summary["result"] == {"forwarded": 1}
    ((topic, payload),) = aws_env.mqtt()
    assert topic == "processed/sensor-01/temperature_c"
    assert json.loads(payload) == {"variable": "temperature_c", "value": 37.0, "unit": "°C"}
    ((function, started),) = recorder.calls
    assert function == "test-ThresholdAlertAnalysis"  # from ANALYSIS_FUNCTIONS in the template
    assert started["trigger"]["type"] == "analysis"
    assert started["trigger"]["hops"] == 2
    assert started["scope"] == [{"variable": "temperature_c", "value": 37.0, "unit": "°C"}]

    # The started analysis, through its own handler: 37 °C is above its threshold of 30.
    result = invoke("ThresholdAlertAnalysis", alert.lambda_handler, started)

    assert result["result"] == {"alerts": 1, "state": "above"}
    assert aws_env.sms() == [(PHONE, "sensor-01: temperature_c is 37°C, above 30°C")]
    (mail,) = aws_env.emails()
    assert mail.destinations["ToAddresses"] == [OPS]
    assert mail.subject == "Alert: sensor-01 temperature_c above 30"
    state = bucket(aws_env).query("sensor-01", variable="_alert_temperature_c")
    assert [row["value"] for row in state] == ["above"]
    assert sorted(inspected(aws_env, "sensor-01")) == [
        ("forward", "done", None),
        ("threshold_alert", "done", None),
    ]


def test_forward_without_then_only_publishes(aws_env: Aws, invoke: Invoke, recorder: Any) -> None:
    forward = load_sample("forward")
    event = sample_event("action")
    event["environment"] = {"then": "", "variable": "temp", "output": "celsius"}
    event["scope"] = [
        {"variable": "temp", "value": "212"},
        {"variable": "temp", "value": "hot"},
        {"variable": "other", "value": 1},
    ]
    invoke("ForwardAnalysis", forward.lambda_handler, event)
    assert aws_env.mqtt() == [
        ("processed/sensor-01/celsius", '{"variable":"celsius","value":100.0,"unit":"°C"}'.encode())
    ]
    assert recorder.calls == []


# --- hysteresis ----------------------------------------------------------------------------------


def test_threshold_alert_alerts_once_per_crossing(aws_env: Aws, invoke: Invoke) -> None:
    alert = load_sample("threshold_alert")
    # threshold 30, hysteresis 1 (template): re-armed only at or below 29
    values = [25, 31, 32, 30.5, 29.5, 31, 29, 30.2, 35]
    states = []
    for i, value in enumerate(values):
        event = reading(value, at=T0 + i * MINUTE, traceid=f"msg-{i}")
        states.append(invoke("ThresholdAlertAnalysis", alert.lambda_handler, event)["result"])

    assert [s["alerts"] for s in states] == [0, 1, 0, 0, 0, 0, 0, 1, 0]
    assert [to for to, _ in aws_env.sms()] == [PHONE, PHONE]
    assert len(aws_env.emails()) == 2
    rows = bucket(aws_env).query("sensor-01", variable="_alert_temperature_c")
    assert [r["value"] for r in rows] == ["above", "below", "above"]  # newest first: 3 changes


def test_threshold_alert_sees_its_own_state_when_a_message_comes_twice(
    aws_env: Aws, invoke: Invoke
) -> None:
    alert = load_sample("threshold_alert")
    event = reading(40, traceid="same")
    invoke("ThresholdAlertAnalysis", alert.lambda_handler, event)
    invoke("ThresholdAlertAnalysis", alert.lambda_handler, event)  # e.g. an async duplicate
    assert len(aws_env.sms()) == 1


def test_threshold_alert_without_a_threshold_fails_and_is_reported(
    aws_env: Aws, invoke: Invoke, recorder: FakeInvoker
) -> None:
    alert = load_sample("threshold_alert")
    event = reading(40) | {"environment": {"threshold": "warm"}}
    with pytest.raises(ValueError, match="set ANALYSIS_ENV_threshold to a number"):
        invoke("ThresholdAlertAnalysis", alert.lambda_handler, event)
    ((analysis_name, outcome, reason),) = inspected(aws_env, "sensor-01")
    assert (analysis_name, outcome) == ("threshold_alert", Outcome.FAILED.value)
    assert reason is not None
    assert reason.startswith("NotConfiguredError: set ANALYSIS_ENV_threshold")


# --- schedule -> silent_devices ------------------------------------------------------------------


def test_silent_devices_alerts_once_per_silence_and_when_back(aws_env: Aws, invoke: Invoke) -> None:
    silent = load_sample("silent_devices")
    store = bucket(aws_env)
    store.insert(
        "sensor-01", [{"variable": "t", "value": 1}], traceid="a", timestamp=T0 - 5 * MINUTE
    )
    store.insert(
        "sensor-02", [{"variable": "t", "value": 1}], traceid="b", timestamp=T0 - 120 * MINUTE
    )
    devices = {"WatchedDevices": "sensor-01, sensor-02,sensor-03"}

    def scheduled(minutes_later: int) -> dict[str, Any]:
        event = sample_event("schedule")
        event["trigger"]["traceid"] = f"exec-{minutes_later}"
        event["trigger"]["time"] = f"2025-11-25T12:{minutes_later:02d}:00Z"
        return invoke("SilentDevicesAnalysis", silent.lambda_handler, event, **devices)

    # The EventBridge rule shape is accepted too; same time as the first run.
    first = invoke(
        "SilentDevicesAnalysis", silent.lambda_handler, sample_event("schedule_rule"), **devices
    )
    assert first["result"] == {"silent": ["sensor-02", "sensor-03"], "back": []}
    assert aws_env.sms() == [(PHONE, "No data for 30 minutes: sensor-02, sensor-03")]
    assert len(aws_env.emails()) == 1

    assert scheduled(5)["result"] == {"silent": [], "back": []}  # still silent: no new alert
    assert len(aws_env.sms()) == 1

    store.insert(
        "sensor-02", [{"variable": "t", "value": 2}], traceid="c", timestamp=T0 + 7 * MINUTE
    )
    assert scheduled(10)["result"] == {"silent": [], "back": ["sensor-02"]}
    assert len(aws_env.sms()) == 1  # coming back is e-mailed, not texted
    assert "Sending again: sensor-02" in email_bodies(aws_env)[-1]

    # sensor-01's last data (11:55) is 30+ minutes old at 12:26
    assert scheduled(26)["result"] == {"silent": ["sensor-01"], "back": []}
    # runs without a device are in the inspector under analysis:<name>
    runs = inspected(aws_env, "analysis:silent_devices")
    assert runs == [("silent_devices", "done", None)] * 4


def test_silent_devices_without_devices_says_what_to_set(aws_env: Aws, invoke: Invoke) -> None:
    silent = load_sample("silent_devices")
    with pytest.raises(ValueError, match="ANALYSIS_ENV_devices"):
        invoke("SilentDevicesAnalysis", silent.lambda_handler, sample_event("schedule"))


# --- the SDK's services against moto --------------------------------------------------------------


def test_every_service_against_moto(aws_env: Aws, invoke: Invoke, recorder: FakeInvoker) -> None:
    found: dict[str, Any] = {}

    @analysis
    def handler(context: Context, scope: Scope) -> None:
        services = context.services
        services.mqtt.publish("alerts/sensor-01", {"level": "high"}, qos=1)
        services.mqtt.publish({"topic": "raw/sensor-01", "message": b"\x01\x02"})
        services.email.send(OPS, "Subject", "text body", html="<p>html body</p>")
        services.sms.send(PHONE, "hello")
        services.bucket().insert(scope)
        services.bucket("other").insert({"variable": "h", "value": 50, "unit": "%"})
        found["own"] = services.bucket().query(variable="temperature_c")
        found["other"] = services.bucket("other").query()
        services.analysis.run("threshold_alert", scope)

    env = {"ANALYSIS_FUNCTIONS": '{"threshold_alert": "alert-fn"}'}
    invoke("ThresholdAlertAnalysis", handler, reading(21.5), env=env)

    assert aws_env.mqtt() == [
        ("alerts/sensor-01", b'{"level":"high"}'),
        ("raw/sensor-01", b"\x01\x02"),
    ]
    (mail,) = aws_env.emails()
    assert mail.source == SENDER
    assert mail.subject == "Subject"
    assert aws_env.sms() == [(PHONE, "hello")]
    assert [(p["variable"], p["value"], p["_time"]) for p in found["own"]] == [
        ("temperature_c", 21.5, T0)
    ]
    assert [(p["variable"], p["value"], p["unit"]) for p in found["other"]] == [("h", 50, "%")]
    ((function, started),) = recorder.calls
    assert function == "alert-fn"
    assert started["trigger"]["parent"] == "threshold_alert"


def test_notifications_are_rate_limited_in_dynamodb(aws_env: Aws, invoke: Invoke) -> None:
    @analysis
    def handler(context: Context, scope: Scope) -> None:
        context.services.sms.send(PHONE, "again")

    handler.clock = lambda: T0 / 1000 + 30  # mid-window: the three calls share one window
    limit = {"NOTIFY_RATE_MAX": "2"}
    invoke("ThresholdAlertAnalysis", handler, reading(1), env=limit)
    invoke("ThresholdAlertAnalysis", handler, reading(1), env=limit)
    with pytest.raises(RateLimitedError, match="2 per 60 s"):
        invoke("ThresholdAlertAnalysis", handler, reading(1), env=limit)
    assert len(aws_env.sms()) == 2
    counters = aws_env.dynamodb.scan(TableName=aws_env.tables["ActionsTable"])["Items"]
    assert {c["pk"]["S"] for c in counters} == {"RATE#analysis:threshold_alert:sms"}
