"""The analysis SDK with a fake for every port: triggers, services, every user error, reports."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from mqtt_actions import analysis as sdk
from mqtt_actions.analysis import (
    AnalysisError,
    Context,
    InvalidDeviceError,
    InvalidEmailAddressError,
    InvalidEventError,
    InvalidMessageError,
    InvalidPhoneNumberError,
    InvalidScopeError,
    InvalidTopicError,
    LoopRefusedError,
    NotConfiguredError,
    PayloadTooLargeError,
    PointsRefusedError,
    RateLimitedError,
    Scope,
    UnknownAnalysisError,
    UnsupportedQoSError,
    analysis,
)
from mqtt_actions.ports import Outcome
from mqtt_actions.settings import AnalysisSettings, SettingsError
from mqtt_actions.topics import InvalidTopicError as TopicsInvalidTopicError
from tests.support.analysis_fakes import T0, FakePorts, run, sample_event, settings

Body = Callable[[Context, Scope], object]


def action_event(**trigger: Any) -> dict[str, Any]:
    return {
        "analysis": "sample",
        "trigger": {
            "type": "action",
            "action_id": "act-1",
            "topic": "sensors/sensor-01/temperature",
            "device": "sensor-01",
            "traceid": "trace-1",
            "hops": 1,
            "timestamp": T0,
        }
        | trigger,
        "scope": [{"variable": "temperature", "value": 21.5}],
        "environment": {},
    }


def schedule_event() -> dict[str, Any]:
    return {"trigger": {"type": "schedule", "traceid": "exec-1", "time": "2025-11-25T12:00:00Z"}}


def call(
    body: Body,
    event: dict[str, Any] | None = None,
    ports: FakePorts | None = None,
    cfg: AnalysisSettings | None = None,
) -> tuple[dict[str, Any], FakePorts]:
    ports = ports or FakePorts()
    return run(analysis(body), event or action_event(), ports, cfg), ports


def failing(body: Body, event: dict[str, Any] | None = None, **env: str) -> AnalysisError:
    """Run `body`; it must raise an AnalysisError, which is returned."""
    ports = FakePorts()
    with pytest.raises(AnalysisError) as info:
        run(analysis(body), event or action_event(), ports, settings(**env))
    failed = [r for _, r in ports.inspector.outcomes if r.outcome is Outcome.FAILED]
    assert len(failed) == 1
    assert failed[0].reason == f"{type(info.value).__name__}: {info.value}"
    return info.value


# --- triggers ----------------------------------------------------------------------------------


def test_action_trigger_gives_the_message_scope_and_environment() -> None:
    seen: dict[str, Any] = {}

    def body(context: Context, scope: Scope) -> None:
        seen.update(context=context, scope=scope)

    event = action_event() | {"environment": {"threshold": 30, "variable": "temperature"}}
    call(body, event, cfg=settings(ANALYSIS_ENV_threshold="10", ANALYSIS_ENV_to_email="a@b.co"))

    context: Context = seen["context"]
    assert context.name == "sample"
    assert context.trigger.type == "action"
    assert (context.trigger.action_id, context.trigger.device) == ("act-1", "sensor-01")
    assert (context.trigger.traceid, context.trigger.hops) == ("trace-1", 1)
    assert context.time_ms == T0
    # The starting event's environment wins over the function's ANALYSIS_ENV_ variables.
    assert context.environment == {
        "threshold": "30",
        "variable": "temperature",
        "to_email": "a@b.co",
    }
    assert seen["scope"] == [{"variable": "temperature", "value": 21.5}]


@pytest.mark.parametrize(
    ("event", "traceid"),
    [
        pytest.param(schedule_event(), "exec-1", id="ScheduleV2 input"),
        pytest.param(
            sample_event("schedule_rule"), "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", id="rule"
        ),
    ],
)
def test_schedule_triggers_have_no_device_and_the_scheduled_time(
    event: dict[str, Any], traceid: str
) -> None:
    seen: list[Context] = []
    summary, ports = call(lambda c, s: seen.append(c), event, cfg=settings(ANALYSIS_NAME="silent"))
    (context,) = seen
    assert context.trigger.type == "schedule"
    assert context.trigger.device is None
    assert context.trigger.traceid == traceid
    assert context.time_ms == T0  # 2025-11-25T12:00:00Z, not the clock
    assert context.name == "silent"  # no "analysis" in the event: ANALYSIS_NAME
    assert summary["trigger"] == "schedule"
    ((record, _),) = ports.inspector.outcomes
    assert record.device == "analysis:silent"  # no device: the inspector shows the analysis


def test_analysis_trigger_names_its_parent() -> None:
    seen: list[Context] = []
    call(lambda c, s: seen.append(c), sample_event("analysis"), cfg=settings(ANALYSIS_NAME=""))
    assert seen[0].trigger.type == "analysis"
    assert seen[0].trigger.parent == "forward"
    assert seen[0].name == "threshold_alert"  # no ANALYSIS_NAME: the name the caller used


def test_the_functions_own_name_wins_over_the_callers() -> None:
    ports = FakePorts()
    fn = analysis(lambda c, s: c.services.sms.send("+15555550100", "m"))
    run(fn, action_event() | {"analysis": "someone-else"}, ports, settings(ANALYSIS_NAME="mine"))
    assert ports.rate_limiter.keys == ["analysis:mine:sms"]
    assert ports.inspector.outcomes[0][1].action_id == "mine"


def test_a_trigger_without_traceid_gets_the_request_id() -> None:
    seen: list[Context] = []

    class LambdaCtx:
        function_name = "fn-silent"
        aws_request_id = "req-42"

    fn = analysis(lambda c, s: seen.append(c))
    ports = FakePorts()
    cfg = AnalysisSettings.from_env({})
    fn.invoke({"trigger": {"type": "schedule"}}, LambdaCtx(), ports=ports, settings=cfg)  # type: ignore[arg-type]
    assert seen[0].trigger.traceid == "req-42"
    assert seen[0].name == "fn-silent"  # neither event nor ANALYSIS_NAME: the function's name


@pytest.mark.parametrize(
    "event",
    [
        pytest.param({}, id="empty"),
        pytest.param({"trigger": {"type": "webhook"}}, id="unknown trigger type"),
        pytest.param({"trigger": {"type": "action"}, "scope": "x"}, id="scope not a list"),
        pytest.param([1, 2], id="not an object"),
    ],
)
def test_an_event_of_no_known_shape_is_refused_and_reported(event: Any) -> None:
    ports = FakePorts()
    with pytest.raises(InvalidEventError, match="not an analysis event") as info:
        run(analysis(lambda c, s: None), event, ports)
    assert "events/analyses/" in str(info.value)
    ((_, result),) = ports.inspector.outcomes
    assert result.outcome is Outcome.FAILED


# --- running and reporting -----------------------------------------------------------------------


def test_a_run_is_reported_done_with_what_it_did() -> None:
    def body(context: Context, scope: Scope) -> dict[str, int]:
        context.services.mqtt.publish("out/a", "1")
        context.services.mqtt.publish("out/b", "2")
        context.services.sms.send("+15555550100", "hi")
        return {"ok": 1}

    summary, ports = call(body)
    assert summary == {
        "analysis": "sample",
        "trigger": "action",
        "traceid": "trace-1",
        "done": {"published": 2, "sms": 1},
        "result": {"ok": 1},
    }
    ((message, result),) = ports.inspector.outcomes
    assert (result.action_id, result.action_type, result.outcome) == (
        "sample",
        "analysis",
        Outcome.DONE,
    )
    assert result.detail == {"trigger": "action", "action_id": "act-1", "published": 2, "sms": 1}
    assert (message.device, message.topic, message.traceid, message.hops) == (
        "sensor-01",
        "sensors/sensor-01/temperature",
        "trace-1",
        1,
    )


def test_a_failing_analysis_is_reported_then_its_error_propagates() -> None:
    problem = RuntimeError("division by zero in my code")

    def body(context: Context, scope: Scope) -> None:
        context.services.mqtt.publish("out/a", "before the failure")
        raise problem

    ports = FakePorts()
    with pytest.raises(RuntimeError) as info:
        run(analysis(body), action_event(), ports)
    assert info.value is problem  # Lambda sees it: 2 retries, then the dead-letter queue
    ((_, result),) = ports.inspector.outcomes
    assert result.outcome is Outcome.FAILED
    assert result.reason == "RuntimeError: division by zero in my code"
    assert result.detail["published"] == 1


def test_a_broken_inspector_does_not_hide_the_outcome() -> None:
    ports = FakePorts()
    ports.inspector.broken = True
    summary = run(analysis(lambda c, s: "fine"), action_event(), ports)
    assert summary["result"] == "fine"
    with pytest.raises(ZeroDivisionError):
        run(analysis(lambda c, s: 1 / 0), action_event(), ports)


def test_the_decorated_function_keeps_its_name_and_doc() -> None:
    def my_analysis(context: Context, scope: Scope) -> None:
        """Does things."""

    fn = analysis(my_analysis)
    assert fn.__name__ == "my_analysis"
    assert fn.__doc__ == "Does things."


def test_importing_the_sdk_needs_no_aws_and_no_environment() -> None:
    code = (
        "import os, sys\n"
        "for k in list(os.environ):\n"
        "    if k.startswith(('AWS_', 'POWERTOOLS_')): del os.environ[k]\n"
        "import mqtt_actions.analysis\n"
        "assert 'boto3' not in sys.modules, 'boto3 imported at import time'\n"
        "assert 'mqtt_actions.actions' not in sys.modules\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": "layers/core", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr


def test_aws_ports_build_nothing_until_a_service_needs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from mqtt_actions.adapters import analysis_ports

    built: list[str] = []
    monkeypatch.setattr(analysis_ports, "client", lambda service: built.append(service) or object())
    ports = analysis_ports.AwsAnalysisPorts(settings())
    assert built == []
    assert ports.retained is ports.publisher
    assert built == ["iot-data"]
    _ = ports.bucket, ports.rate_limiter
    assert built == ["iot-data", "dynamodb", "dynamodb"]


def test_aws_ports_report_to_the_inspector_table_when_there_is_one() -> None:
    from mqtt_actions.adapters.analysis_ports import AwsAnalysisPorts
    from mqtt_actions.adapters.inspector import DynamoInspector, LoggingInspector

    with_table = AwsAnalysisPorts(settings(INSPECTOR_TABLE="inspector"))
    assert isinstance(with_table.inspector, DynamoInspector)
    assert isinstance(AwsAnalysisPorts(settings()).inspector, LoggingInspector)


# --- mqtt ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "payload"),
    [
        ("on", b"on"),
        ("", b""),
        ("°C", "°C".encode()),
        (b"\x00\xff", b"\x00\xff"),
        (bytearray(b"ab"), b"ab"),
        ({"value": 21.5, "unit": "°C"}, '{"value":21.5,"unit":"°C"}'.encode()),
        ([{"variable": "a"}], b'[{"variable":"a"}]'),
        (42, b"42"),
        (21.5, b"21.5"),
        (True, b"true"),
    ],
)
def test_publish_sends_text_bytes_and_json(message: Any, payload: bytes) -> None:
    _, ports = call(lambda c, s: c.services.mqtt.publish("out/x", message))
    (sent,) = ports.publisher.published
    assert (sent.topic, sent.payload, sent.qos, sent.retain) == ("out/x", payload, 0, False)


def test_publish_carries_the_hop_count_plus_one() -> None:
    _, ports = call(lambda c, s: c.services.mqtt.publish("out/x", "1", qos=1), action_event(hops=3))
    assert ports.publisher.published[0].hops == 4
    assert ports.publisher.published[0].qos == 1


def test_publish_accepts_tagoio_object_style() -> None:
    def body(context: Context, scope: Scope) -> None:
        context.services.mqtt.publish(
            {"topic": "out/x", "message": "on", "options": {"qos": 1, "retain": True}}
        )
        context.services.mqtt.publish({"topic": "out/y", "message": {"a": 1}})

    _, ports = call(body)
    first, second = ports.publisher.published
    assert (first.topic, first.payload, first.qos, first.retain) == ("out/x", b"on", 1, True)
    assert (second.topic, second.payload, second.qos, second.retain) == (
        "out/y",
        b'{"a":1}',
        0,
        False,
    )


def test_retained_messages_are_kept_read_back_and_deleted() -> None:
    seen: list[Any] = []

    def body(context: Context, scope: Scope) -> None:
        mqtt = context.services.mqtt
        seen.append(mqtt.retained("state/lamp"))
        mqtt.publish("state/lamp", {"on": True}, qos=1, retain=True)
        kept = mqtt.retained("state/lamp")
        assert kept is not None
        seen.extend([kept.as_json(), kept.as_text(), kept.qos])
        mqtt.publish("state/lamp", "", retain=True)  # an empty retained message deletes it
        seen.append(mqtt.retained("state/lamp"))

    call(body)
    assert seen == [None, {"on": True}, '{"on":true}', 1, None]


TOO_BIG = b"x" * (128 * 1024 + 1)


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "words"),
    [
        (("a/+/b", "m"), {}, InvalidTopicError, "is not a topic to publish to"),
        (("a/#", "m"), {}, InvalidTopicError, "is not a topic to publish to"),
        (("", "m"), {}, InvalidTopicError, "is not a topic to publish to"),
        (("a/b/c/d/e/f/g/h/i", "m"), {}, InvalidTopicError, "at most 7"),
        (("t" * 257, "m"), {}, InvalidTopicError, "at most 256"),
        ((42, "m"), {}, InvalidTopicError, "topic must be text"),
        (("a/b", "m"), {"qos": 2}, UnsupportedQoSError, "qos 2 is not supported"),
        (("a/b", "m"), {"qos": True}, UnsupportedQoSError, "qos must be 0 or 1"),
        (("a/b", "m"), {"qos": -1}, UnsupportedQoSError, "qos must be 0 or 1"),
        (("a/b", TOO_BIG), {}, PayloadTooLargeError, "131,073 bytes; IoT Core accepts at most"),
        (("a/b",), {}, InvalidMessageError, "has no message"),
        (("a/b", {1, 2}), {}, InvalidMessageError, "got set"),
        (("a/b", float("nan")), {}, InvalidMessageError, "not JSON"),
        (("a/b", {"v": float("inf")}), {}, InvalidMessageError, "cannot be written as JSON"),
        (("a/b", {"v": object()}), {}, InvalidMessageError, "cannot be written as JSON"),
        (("a/b", "m"), {"retain": "yes"}, InvalidMessageError, "retain must be True or False"),
        (({"topic": "a/b", "payload": "m"},), {}, InvalidMessageError, "unknown key 'payload'"),
        (({"message": "m"},), {}, InvalidTopicError, "needs a 'topic'"),
        (({"topic": "a/b", "message": "m"}, "m"), {}, InvalidMessageError, "not both"),
        (
            ({"topic": "a/b", "message": "m", "options": {"qos": 2}},),
            {},
            UnsupportedQoSError,
            "QoS 2",
        ),
        (
            ({"topic": "a/b", "message": "m", "options": {"QoS": 1}},),
            {},
            InvalidMessageError,
            "unknown key 'QoS'",
        ),
        (({"topic": "a/b", "message": "m", "options": 1},), {}, InvalidMessageError, "options"),
    ],
)
def test_publish_refuses_what_iot_core_would_with_the_fix(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[AnalysisError], words: str
) -> None:
    raised = failing(lambda c, s: c.services.mqtt.publish(*args, **kwargs))
    assert isinstance(raised, error)
    assert words in str(raised)


def test_an_invalid_topic_is_also_the_topics_modules_error() -> None:
    raised = failing(lambda c, s: c.services.mqtt.publish("a/#", "m"))
    assert isinstance(raised, TopicsInvalidTopicError)
    assert isinstance(raised, ValueError)


def test_publish_accepts_exactly_128_kb() -> None:
    _, ports = call(lambda c, s: c.services.mqtt.publish("a/b", b"x" * 128 * 1024))
    assert len(ports.publisher.published[0].payload) == 131_072


def test_publish_to_basic_ingest_does_not_count_its_prefix() -> None:
    topic = "$aws/rules/my_rule/a/b/c/d/e/f/g"  # 10 slashes, 3 of them the prefix's
    _, ports = call(lambda c, s: c.services.mqtt.publish(topic, "m"))
    assert ports.publisher.published[0].topic == topic


@pytest.mark.parametrize("topic", ["a/+", "", "a" * 300])
def test_retained_refuses_a_bad_topic(topic: str) -> None:
    assert isinstance(failing(lambda c, s: c.services.mqtt.retained(topic)), InvalidTopicError)


# --- e-mail and SMS ------------------------------------------------------------------------------


def test_email_goes_to_every_address_with_text_and_html() -> None:
    ids: list[str] = []

    def body(context: Context, scope: Scope) -> None:
        email = context.services.email
        ids.append(email.send("ops@example.com", "Hot", "It is hot"))
        ids.append(email.send(["a@example.com", "b@example.org"], "Hot", html="<b>hot</b>"))
        ids.append(email.send({"to": "c@example.com", "subject": "S", "message": "M"}))

    _, ports = call(body)
    assert ids == ["email-1", "email-2", "email-3"]
    assert ports.notifier.emails == [
        {"to": ["ops@example.com"], "subject": "Hot", "text": "It is hot", "html": None},
        {
            "to": ["a@example.com", "b@example.org"],
            "subject": "Hot",
            "text": None,
            "html": "<b>hot</b>",
        },
        {"to": ["c@example.com"], "subject": "S", "text": "M", "html": None},
    ]
    assert set(ports.rate_limiter.keys) == {"analysis:sample:email"}


def test_sms_goes_to_every_number() -> None:
    ids: list[list[str]] = []

    def body(context: Context, scope: Scope) -> None:
        ids.append(context.services.sms.send("+15555550100", "hot"))
        ids.append(context.services.sms.send(["+15555550101", "+447700900123"], "hot"))
        ids.append(context.services.sms.send({"to": "+15555550102", "message": "cold"}))

    _, ports = call(body)
    assert ids == [["sms-1"], ["sms-2", "sms-3"], ["sms-4"]]
    assert [to for to, _ in ports.notifier.sms] == [
        "+15555550100",
        "+15555550101",
        "+447700900123",
        "+15555550102",
    ]
    assert ports.rate_limiter.keys == ["analysis:sample:sms"] * 3  # one count per call


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (lambda s: s.sms.send("5555550100", "m"), InvalidPhoneNumberError, "E.164"),
        (lambda s: s.sms.send("+1 555 555 0100", "m"), InvalidPhoneNumberError, "+15555550100"),
        (lambda s: s.sms.send(["+15555550100", "call me"], "m"), InvalidPhoneNumberError, "E.164"),
        (lambda s: s.sms.send(15555550100, "m"), InvalidMessageError, "'to' must be"),
        (lambda s: s.sms.send([], "m"), InvalidMessageError, "non-empty list"),
        (lambda s: s.sms.send("+15555550100", ""), InvalidMessageError, "needs a message"),
        (lambda s: s.sms.send("+15555550100", "x" * 1601), InvalidMessageError, "1,600"),
        (lambda s: s.sms.send({"to": "+15555550100", "text": "m"}), InvalidMessageError, "'text'"),
        (lambda s: s.email.send("ops", "S", "M"), InvalidEmailAddressError, "name@domain"),
        (
            lambda s: s.email.send("Ops <ops@example.com>", "S", "M"),
            InvalidEmailAddressError,
            "display name",
        ),
        (lambda s: s.email.send("ops@example.com", "", "M"), InvalidMessageError, "subject"),
        (lambda s: s.email.send("ops@example.com", "a\nb", "M"), InvalidMessageError, "one line"),
        (lambda s: s.email.send("ops@example.com", "S"), InvalidMessageError, "needs a body"),
        (lambda s: s.email.send("ops@example.com", "S", ""), InvalidMessageError, "non-empty"),
        (
            lambda s: s.email.send([f"u{i}@example.com" for i in range(51)], "S", "M"),
            InvalidMessageError,
            "at most 50",
        ),
        (lambda s: s.email.send({"to": "a@b.co", "body": "M"}), InvalidMessageError, "'body'"),
    ],
)
def test_notifications_refuse_bad_input_with_the_fix(
    body: Callable[[Any], object], error: type[AnalysisError], words: str
) -> None:
    raised = failing(lambda c, s: body(c.services))
    assert isinstance(raised, error)
    assert words in str(raised)


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        (lambda s: s.email.send("ops@example.com", "S", "M"), "EMAIL_SENDER"),
        (lambda s: s.sms.send("+15555550100", "m"), "ACTIONS_TABLE"),
        (lambda s: s.bucket("d").insert({"variable": "v", "value": 1}), "BUCKET_TABLE"),
        (lambda s: s.bucket("d").query(), "BUCKET_TABLE"),
    ],
)
def test_a_service_without_its_setting_says_which_one(
    body: Callable[[Any], object], missing: str
) -> None:
    raised = failing(lambda c, s: body(c.services), **{missing: ""})
    assert isinstance(raised, NotConfiguredError)
    assert missing in str(raised)
    assert "template.yaml" in str(raised)


def test_notifications_are_rate_limited_per_analysis_and_channel() -> None:
    ports = FakePorts()
    cfg = settings(NOTIFY_RATE_MAX="2", NOTIFY_RATE_SECONDS="60")
    fn = analysis(lambda c, s: c.services.sms.send("+15555550100", "hot"))
    run(fn, action_event(), ports, cfg)
    run(fn, action_event(), ports, cfg)
    with pytest.raises(RateLimitedError, match=r"2 per 60 s .* NOTIFY_RATE_MAX"):
        run(fn, action_event(), ports, cfg)
    assert len(ports.notifier.sms) == 2  # the third one was not sent
    run(fn, action_event(), ports, cfg, now=T0 / 1000 + 60)  # next window
    assert len(ports.notifier.sms) == 3
    # e-mail has its own counter
    run(
        analysis(lambda c, s: c.services.email.send("a@b.co", "S", "M")), action_event(), ports, cfg
    )
    assert len(ports.notifier.emails) == 1


# --- bucket --------------------------------------------------------------------------------------


def test_bucket_insert_stores_points_at_the_trigger_time() -> None:
    def body(context: Context, scope: Scope) -> None:
        bucket = context.services.bucket()  # the trigger's device
        assert bucket.insert({"variable": "t", "value": 1}) == 1
        assert bucket.insert([{"variable": "t", "value": 2}, {"variable": "h", "value": 3}]) == 2
        assert bucket.insert([]) == 0

    _, ports = call(body)
    inserts = ports.bucket.inserts
    assert [(device, len(points), ts) for device, points, _, ts in inserts] == [
        ("sensor-01", 1, T0),
        ("sensor-01", 2, T0),
    ]
    # every insert has its own key: the second does not overwrite the first
    assert inserts[0][2] != inserts[1][2]
    assert len(ports.bucket.items) == 3


def test_a_retried_run_rewrites_its_rows_instead_of_doubling_them() -> None:
    ports = FakePorts()
    fn = analysis(lambda c, s: c.services.bucket().insert({"variable": "t", "value": 1}))
    run(fn, action_event(), ports)
    run(fn, action_event(), ports)  # Lambda's retry: the same event
    assert len(ports.bucket.items) == 1


def test_bucket_insert_refuses_the_whole_batch_and_lists_every_reason() -> None:
    points = [
        {"variable": "ok", "value": 1},
        {"variable": "", "value": 1},
        {"variable": "t", "value": 1, "unti": "C"},
        "not a point",
    ]
    ports = FakePorts()
    with pytest.raises(PointsRefusedError) as info:
        run(analysis(lambda c, s: c.services.bucket("d").insert(points)), action_event(), ports)
    assert [i for i, _ in info.value.refused] == [1, 2, 3]
    text = str(info.value)
    assert text.startswith("3 data points refused, nothing stored: point 1: variable is empty")
    assert "unknown field 'unti'" in text
    assert "must be an object" in text
    assert ports.bucket.inserts == []


def test_bucket_query_newest_first_with_filters() -> None:
    results: list[Any] = []

    def body(context: Context, scope: Scope) -> None:
        bucket = context.services.bucket("sensor-01")
        bucket.insert([{"variable": "t", "value": 1, "time": "2025-11-25T11:00:00Z"}])
        bucket.insert([{"variable": "t", "value": 2, "time": "2025-11-25T11:30:00Z"}])
        bucket.insert([{"variable": "h", "value": 3, "time": "2025-11-25T11:45:00Z"}])
        results.append([p["value"] for p in bucket.query()])
        results.append([p["value"] for p in bucket.query(variable="t", limit=1)])
        since = datetime(2025, 11, 25, 11, 15)  # naive: UTC
        results.append([p["value"] for p in bucket.query(since=since)])
        results.append([p["value"] for p in bucket.query(until=T0 - 20 * 60_000)])
        results.append(bucket.query(variable="t", limit=1)[0]["_time"])

    _, ports = call(body)
    assert results[:4] == [[3, 2, 1], [2], [3, 2], [2, 1]]
    assert results[4] == int(datetime(2025, 11, 25, 11, 30, tzinfo=UTC).timestamp() * 1000)
    assert ports.bucket.queries[2]["since_ms"] == T0 - 45 * 60_000


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (lambda s: s.bucket("d").query(limit=0), InvalidMessageError, "limit must be 1 to 1000"),
        (lambda s: s.bucket("d").query(limit=1001), InvalidMessageError, "limit"),
        (lambda s: s.bucket("d").query(limit=True), InvalidMessageError, "limit"),
        (lambda s: s.bucket("d").query(since="yesterday"), InvalidMessageError, "since must be"),
        (lambda s: s.bucket("d").query(until=-1), InvalidMessageError, "until must be"),
        (lambda s: s.bucket("d").query(variable=""), InvalidMessageError, "variable"),
        (lambda s: s.bucket(""), InvalidDeviceError, "non-empty"),
        (lambda s: s.bucket("d" * 129), InvalidDeviceError, "at most 128"),
    ],
)
def test_bucket_refuses_bad_arguments(
    body: Callable[[Any], object], error: type[AnalysisError], words: str
) -> None:
    raised = failing(lambda c, s: body(c.services))
    assert isinstance(raised, error)
    assert words in str(raised)


def test_a_schedule_has_no_device_so_the_bucket_must_be_named() -> None:
    raised = failing(lambda c, s: c.services.bucket(), schedule_event())
    assert isinstance(raised, InvalidDeviceError)
    assert "services.bucket('sensor-01')" in str(raised)


# --- other analyses ------------------------------------------------------------------------------


def test_analysis_run_starts_another_with_the_trigger_passed_on() -> None:
    def body(context: Context, scope: Scope) -> None:
        context.services.analysis.run("threshold_alert", [{"variable": "t", "value": 40}])
        context.services.analysis.run("forward", {"variable": "t"}, environment={"k": "v"})

    _, ports = call(body, action_event(hops=1))
    (fn1, first), (fn2, second) = ports.invoker.calls
    assert (fn1, fn2) == ("fn-alert", "fn-forward")
    assert first == {
        "analysis": "threshold_alert",
        "trigger": {
            "type": "analysis",
            "parent": "sample",
            "action_id": "act-1",
            "topic": "sensors/sensor-01/temperature",
            "device": "sensor-01",
            "traceid": "trace-1.1",
            "hops": 2,
            "timestamp": T0,
        },
        "scope": [{"variable": "t", "value": 40}],
        "environment": {},
    }
    assert second["trigger"]["traceid"] == "trace-1.2"
    assert second["scope"] == [{"variable": "t"}]
    assert second["environment"] == {"k": "v"}


def test_an_event_sent_by_analysis_run_starts_the_other_analysis() -> None:
    _, ports = call(lambda c, s: c.services.analysis.run("forward", s))
    (_, event) = ports.invoker.calls[0]
    seen: list[Context] = []
    call(lambda c, s: seen.append(c), event, cfg=settings(ANALYSIS_NAME=""))
    assert seen[0].trigger.type == "analysis"
    assert seen[0].trigger.hops == 2
    assert seen[0].name == "forward"


@pytest.mark.parametrize(
    ("body", "event", "error", "words"),
    [
        (
            lambda s: s.analysis.run("nope"),
            action_event(),
            UnknownAnalysisError,
            "unknown analysis 'nope'; this function may start: forward, threshold_alert",
        ),
        (
            lambda s: s.analysis.run("forward"),
            action_event(hops=4),
            LoopRefusedError,
            "4 action/analysis hops deep (MAX_HOPS=4)",
        ),
        (lambda s: s.analysis.run("forward", "abc"), action_event(), InvalidScopeError, "list"),
        (lambda s: s.analysis.run("forward", [1]), action_event(), InvalidScopeError, "only"),
        (
            lambda s: s.analysis.run("forward", [{"v": float("nan")}]),
            action_event(),
            InvalidScopeError,
            "JSON",
        ),
        (
            lambda s: s.analysis.run("forward", [{"v": "x" * 1024 * 1024}]),
            action_event(),
            PayloadTooLargeError,
            "pass fewer points",
        ),
    ],
)
def test_analysis_run_refuses_with_the_fix(
    body: Callable[[Any], object], event: dict[str, Any], error: type[AnalysisError], words: str
) -> None:
    raised = failing(lambda c, s: body(c.services), event)
    assert isinstance(raised, error)
    assert words in str(raised)


# --- settings ------------------------------------------------------------------------------------


def test_settings_read_the_environment_prefix_and_the_functions_map() -> None:
    cfg = AnalysisSettings.from_env(
        {
            "ANALYSIS_ENV_variable": "temperature",
            "ANALYSIS_ENV_THRESHOLD": "30",
            "ANALYSIS_ENV_": "ignored",
            "ANALYSIS_FUNCTIONS": '{"a": "fn-a"}',
            "OTHER": "x",
        }
    )
    assert cfg.environment == {"variable": "temperature", "THRESHOLD": "30"}
    assert cfg.analysis_functions == {"a": "fn-a"}
    assert (cfg.max_hops, cfg.notify_rate_max, cfg.notify_rate_seconds) == (4, 10, 60)


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"ANALYSIS_FUNCTIONS": "{nope"}, "ANALYSIS_FUNCTIONS: .*not a JSON object"),
        ({"MAX_HOPS": "0"}, "MAX_HOPS"),
        ({"NOTIFY_RATE_MAX": "many"}, "NOTIFY_RATE_MAX"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        AnalysisSettings.from_env(env)


def test_every_sdk_error_is_a_value_error_with_its_own_type() -> None:
    errors = [getattr(sdk, name) for name in sdk.__all__ if name.endswith("Error")]
    assert len(errors) == 15
    assert all(issubclass(e, AnalysisError) and issubclass(e, ValueError) for e in errors)
    json.dumps(sdk.__all__)  # the public names are plain strings
