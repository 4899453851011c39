"""`mqtt_actions.tagoio`: TagoIO's Python SDK shapes (tago-io/sdk-python) on our analysis runner,
every port faked; every call without a counterpart raises, naming it and what to use instead."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from mqtt_actions.analysis import AnalysisError, InvalidMessageError, NotConfiguredError
from mqtt_actions.ports import Outcome
from mqtt_actions.tagoio import (
    Account,
    Analysis,
    Device,
    Resources,
    Services,
    TagoContext,
    UnknownTokenError,
    UnsupportedCallError,
    Utils,
    token_hash,
)
from tests.support.analysis_fakes import T0, FakePorts, run, settings

TOKEN = "2ec4a1b0-11e6-4a77-991b-8f63b7670001"


def event(device: str | None = "sensor-01", **extra: Any) -> dict[str, Any]:
    trigger = {"type": "action", "action_id": "act-1", "topic": "t/sensor-01", "traceid": "tr-1"}
    if device:
        trigger["device"] = device
    trigger["timestamp"] = T0
    return {
        "analysis": "sample",
        "trigger": trigger,
        "scope": [{"variable": "temperature", "value": 31}],
        "environment": {"threshold": "30", "to": "ops@example.com"},
    } | extra


@dataclass
class FakeTokens:
    devices: dict[str, str] = field(default_factory=dict)  # hash -> device
    asked: list[str] = field(default_factory=list)

    def device_for(self, token_hash: str) -> str | None:
        self.asked.append(token_hash)
        return self.devices.get(token_hash)


def tago(
    fn: Callable[[Any, Any], object],
    ev: dict[str, Any] | None = None,
    *,
    tokens: FakeTokens | None = None,
    params: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], FakePorts]:
    handler = Analysis({"token": "analysis-token"} if params is None else params).init(fn)
    handler.tokens = tokens
    ports = FakePorts()
    return run(handler, ev or event(), ports), ports


# --- context and scope ---------------------------------------------------------------------------


def test_context_has_tagoio_shapes_and_scope_carries_the_device() -> None:
    seen: dict[str, Any] = {}

    def my_analysis(context: TagoContext, scope: list[dict[str, Any]]) -> None:
        seen.update(
            environment=context.environment,
            token=context.token,
            analysis_id=context.analysis_id,
            scope=scope,
            env=Utils.envToJson(context.environment),
        )
        context.log("scope:", scope[0]["value"], {"a": 1})

    summary, ports = tago(my_analysis)

    assert seen["environment"] == [
        {"key": "threshold", "value": "30"},
        {"key": "to", "value": "ops@example.com"},
    ]
    assert seen["env"] == {"threshold": "30", "to": "ops@example.com"}
    assert (seen["token"], seen["analysis_id"]) == ("analysis-token", "sample")
    assert seen["scope"] == [
        {"device": "sensor-01", "origin": "sensor-01", "variable": "temperature", "value": 31}
    ]
    assert summary["analysis"] == "sample"
    ((_, result),) = ports.inspector.outcomes
    assert result.outcome is Outcome.DONE


def test_context_log_joins_its_arguments_like_tagoio(caplog: pytest.LogCaptureFixture) -> None:
    def my_analysis(context: TagoContext, scope: Any) -> None:
        context.log("value", 31, {"a": 1})

    handler = Analysis().init(my_analysis)
    logged: list[str] = []
    handler.logger.info = lambda msg, *a, **k: logged.append(msg)  # type: ignore[method-assign]
    run(handler, event(), FakePorts())
    assert logged[0] == "value 31 {'a': 1}"


def test_token_and_id_fall_back_to_tagoios_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_ANALYSIS_TOKEN", "env-token")
    monkeypatch.setenv("T_ANALYSIS_ID", "6470f2a1")
    seen: list[tuple[str, str]] = []
    tago(lambda c, s: seen.append((c.token, c.analysis_id)), params={})
    assert seen == [("env-token", "6470f2a1")]


def test_init_returns_a_lambda_handler_named_after_the_function() -> None:
    def my_analysis(context: Any, scope: Any) -> None:
        """Doc."""

    handler = Analysis({"token": "x"}).init(my_analysis)
    assert handler.__name__ == "my_analysis"
    assert callable(handler)
    with pytest.raises(InvalidMessageError, match="takes your function"):
        Analysis().init("not a function")  # type: ignore[arg-type]


def test_a_failing_tagoio_analysis_is_reported_and_raises() -> None:
    def my_analysis(context: Any, scope: Any) -> None:
        raise ValueError("boom")

    handler = Analysis().init(my_analysis)
    ports = FakePorts()
    with pytest.raises(ValueError, match="boom"):
        run(handler, event(), ports)
    ((_, result),) = ports.inspector.outcomes
    assert (result.outcome, result.reason) == (Outcome.FAILED, "ValueError: boom")


# --- Services ---------------------------------------------------------------------------------


def test_mqtt_publish_takes_tagoios_object_with_device_or_bucket() -> None:
    def my_analysis(context: Any, scope: Any) -> None:
        mqtt = Services({"token": context.token}).MQTT
        mqtt.publish({"topic": "alert/a", "message": "hot", "bucket": "6523f0", "options": {}})
        mqtt.publish(
            {
                "topic": "alert/b",
                "message": "{}",
                "device": "d",
                "options": {"qos": 1, "retain": True},
            }
        )

    _, ports = tago(my_analysis)
    assert [(p.topic, p.payload, p.qos, p.retain) for p in ports.publisher.published] == [
        ("alert/a", b"hot", 0, False),
        ("alert/b", b"{}", 1, True),
    ]


def test_email_and_sms_send_take_tagoios_objects() -> None:
    def my_analysis(context: Any, scope: Any) -> None:
        services = Services({"token": context.token})
        services.email.send(
            {
                "to": "ops@example.com, oncall@example.com",
                "subject": "Hot",
                "message": "31",
                "from_name": "Plant",
            }
        )
        services.sms.send({"to": "+15555550100", "message": "31"})

    _, ports = tago(my_analysis)
    assert ports.notifier.emails == [
        {
            "to": ["ops@example.com", "oncall@example.com"],
            "subject": "Hot",
            "text": "31",
            "html": None,
        }
    ]
    assert ports.notifier.sms == [("+15555550100", "31")]


def test_our_clear_errors_come_through_the_tagoio_shapes() -> None:
    def my_analysis(context: Any, scope: Any) -> None:
        Services({}).sms.send({"to": "5555550100", "message": "x"})

    handler = Analysis().init(my_analysis)
    with pytest.raises(AnalysisError, match=r"E\.164"):
        run(handler, event(), FakePorts())


UNSUPPORTED: list[tuple[Callable[[], object], str, str]] = [
    (lambda: Resources({"token": "t"}).dashboards.list(), "Resources.dashboards.list", "devices"),
    (lambda: Account({"token": "t"}).run.notificationCreate("u", {}), "Account.run", "apply"),
    (lambda: Account({"token": "t"}).devices.create({}), "Account.devices.create", "devices"),
    (lambda: Account().files.uploadBase64([]), "Account.files", "devices"),
    (lambda: Services({}).PDF.generate({}), "Services.PDF.generate", "library"),
    (lambda: Services({}).Attachment.upload({}), "Services.Attachment.upload", "attach the file"),
    (lambda: Services({}).console.log("x"), "Services.console.log", "context.log"),
    (lambda: Device({"token": TOKEN}).info(), "Device.info", "devices.info"),
    (lambda: Utils.sendDownlink({}, "id", {}), "Utils.sendDownlink", "MQTT.publish"),
    (lambda: Utils.getVersion(), "Utils.getVersion", "envToJson"),
    (
        lambda: Services({}).email.send({"to": "a@example.com", "template": {"name": "t"}}),
        "'template'",
        "subject and message",
    ),
]


@pytest.mark.parametrize(("call", "name", "instead"), UNSUPPORTED)
def test_calls_without_a_counterpart_raise_naming_the_call_and_what_to_use(
    call: Callable[[], object], name: str, instead: str
) -> None:
    caught: list[UnsupportedCallError] = []

    def my_analysis(context: Any, scope: Any) -> None:
        try:
            call()
        except UnsupportedCallError as exc:
            caught.append(exc)
            raise

    with pytest.raises(UnsupportedCallError):
        tago(my_analysis)
    (error,) = caught
    assert name in str(error)
    assert instead in str(error)
    assert "no counterpart" in str(error)


def test_services_outside_a_run_say_where_to_call_them() -> None:
    with pytest.raises(AnalysisError, match="inside an analysis run"):
        Services({}).MQTT.publish({"topic": "a", "message": "b"})


# --- Device.sendData ---------------------------------------------------------------------------


def test_send_data_without_a_tokens_table_is_an_error_never_the_triggers_bucket() -> None:
    with pytest.raises(NotConfiguredError, match="DEVICE_TOKENS_TABLE is not set"):
        tago(lambda c, s: Device({"token": TOKEN}).sendData({"variable": "alert", "value": 1}))


def test_send_data_drops_the_fields_tagoio_assigns() -> None:
    tokens = FakeTokens({token_hash(TOKEN): "sensor-01"})
    results: list[str] = []

    def my_analysis(context: Any, scope: Any) -> None:
        device = Device({"token": TOKEN})
        results.append(device.sendData({"variable": "alert", "value": True}))
        results.append(device.sendData(scope))  # scope points: TagoIO's own fields dropped

    _, ports = tago(my_analysis, tokens=tokens)
    assert results == ["1 Data Added", "1 Data Added"]
    assert [(d, pts) for d, pts, _, _ in ports.bucket.inserts] == [
        ("sensor-01", [{"variable": "alert", "value": True}]),
        ("sensor-01", [{"variable": "temperature", "value": 31}]),
    ]


def test_send_data_resolves_the_token_to_its_device() -> None:
    tokens = FakeTokens({token_hash(TOKEN): "pump-7"})
    _, ports = tago(
        lambda c, s: Device({"token": TOKEN}).sendData([{"variable": "x", "value": 1}]),
        tokens=tokens,
    )
    assert tokens.asked == [token_hash(TOKEN)]
    assert [d for d, *_ in ports.bucket.inserts] == ["pump-7"]


def test_an_unknown_token_is_a_clear_error_that_does_not_show_the_token() -> None:
    with pytest.raises(UnknownTokenError) as caught:
        tago(lambda c, s: Device({"token": TOKEN}).sendData({"variable": "x"}), tokens=FakeTokens())
    assert "no device has the token" in str(caught.value)
    assert "…0001" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_token_hash_is_hex_sha256_of_the_utf8_bytes() -> None:
    assert token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert (
        token_hash("é") == "4a99557e4033c3539de2eb65472017cad5f9557f7a0625a09f1c3f6e2ba69c4c"
    )  # of b"\\xc3\\xa9"


def test_device_needs_a_token() -> None:
    with pytest.raises(InvalidMessageError, match=r'\{"token"'):
        Device({})


# --- cold start -------------------------------------------------------------------------------


def test_importing_it_needs_no_aws_and_imports_no_boto3() -> None:
    code = (
        "import sys\n"
        "from mqtt_actions.tagoio import Analysis, Services, Device\n"
        "assert 'boto3' not in sys.modules, 'boto3 imported at import time'\n"
        "assert 'mqtt_actions.adapters.token_store' not in sys.modules\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": "layers/core", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr


def test_sample_event_round_trip_is_json() -> None:
    assert json.loads(json.dumps(event()))["scope"][0]["value"] == 31
    assert settings().analysis_name == "sample"
