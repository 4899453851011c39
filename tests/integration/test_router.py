"""The router handler end to end against moto: every action type, conditions, placeholders, rate
limits, exactly-once effects, failures into the dead-letter queue, the loop guard."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.actions import ActionsFileError
from mqtt_actions.adapters.actions_store import DynamoActionsStore
from mqtt_actions_cli.actions_file import load_actions_file
from tests.integration.conftest import (
    SENDER,
    Aws,
    Hook,
    RecordingInvoker,
    Router,
    bucket,
    message,
)

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events" / "router"


STORE = """
actions:
  - {id: store, topics: ["home/#", "lora/#", "cmd/+"], type: insert_bucket}
"""


# ---------------------------------------------------------------- insert_bucket


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        pytest.param(
            {"variable": "temperature", "value": 31.5, "unit": "C"},
            [("temperature", 31.5)],
            id="json-object",
        ),
        pytest.param(
            [{"variable": "temperature", "value": 22}, {"variable": "humidity", "value": 61}],
            [("humidity", 61), ("temperature", 22)],
            id="json-array",
        ),
        pytest.param("on", [("payload", "on")], id="raw-text"),
        pytest.param(b"\x00\xff\x10", [("payload", "AP8Q")], id="binary-as-base64"),
    ],
)
def test_insert_bucket_stores_every_point(
    router: Router, apply: Callable[[str], None], aws_env: Aws, payload: Any, expected: Any
) -> None:
    apply(STORE)
    result = router(message(payload))
    assert result["outcomes"] == {"store": "done"}
    rows = bucket(aws_env)
    assert sorted((r["variable"], r["value"]) for r in rows) == sorted(expected)
    assert all(r["metadata"]["topic"] == "home/kitchen/temperature" for r in rows)


def test_insert_bucket_runs_again_on_a_redelivery_and_rewrites_its_rows(
    router: Router, apply: Callable[[str], None], aws_env: Aws
) -> None:
    # Given an insert_bucket action (not under the idempotency guard: its keys are deterministic)
    apply(STORE)
    event = message([{"variable": "a", "value": 1}, {"variable": "b", "value": 2}])

    # When IoT or Lambda delivers the same message twice
    first, second = router(event), router(event)

    # Then both deliveries are done, the rows are rewritten, not duplicated, and the
    # idempotency table was never used
    assert first["outcomes"] == second["outcomes"] == {"store": "done"}
    assert sorted((r["variable"], r["value"]) for r in bucket(aws_env)) == [("a", 1), ("b", 2)]
    idempotency = aws_env.dynamodb.scan(TableName=aws_env.tables["IdempotencyTable"])
    assert idempotency["Items"] == []


def test_insert_bucket_to_another_device_by_placeholder(
    router: Router, apply: Callable[[str], None], aws_env: Aws
) -> None:
    apply("""
actions:
  - {id: fleet, topics: ["fleet/+/gps"], type: insert_bucket, device: "fleet-$DEVICE$"}
""")
    router(message({"variable": "speed", "value": 80}, "fleet/truck-9/gps", clientid="truck-9"))
    assert [r["variable"] for r in bucket(aws_env, "fleet-truck-9")] == ["speed"]


def test_points_breaking_limits_are_refused_with_reasons_and_the_rest_stored(
    router: Router, apply: Callable[[str], None], aws_env: Aws
) -> None:
    apply(STORE)
    result = router(message([{"variable": "ok", "value": 1}, {"variable": "v" * 101, "value": 2}]))
    assert result["outcomes"] == {"store": "points_refused"}
    assert [r["variable"] for r in bucket(aws_env)] == ["ok"]


def test_oversize_sample_event_is_refused_with_a_reason(
    router: Router, apply: Callable[[str], None], aws_env: Aws
) -> None:
    apply(STORE)
    event = json.loads((EVENTS / "oversize.json").read_text())
    assert router(event)["outcomes"] == {"store": "points_refused"}
    assert bucket(aws_env) == []


def test_bucket_query_by_variable_and_time(
    router: Router, apply: Callable[[str], None], aws_env: Aws
) -> None:
    apply(STORE)
    for i, ts in enumerate(["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"]):
        router(message([{"variable": "t", "value": i, "time": ts}, {"variable": "h", "value": i}]))
    assert [r["value"] for r in bucket(aws_env, variable="t")] == [1, 0]
    since = 1_767_225_600_000 + 1  # after 2026-01-01T00:00:00Z
    assert [r["value"] for r in bucket(aws_env, variable="t", since_ms=since)] == [1]
    assert len(bucket(aws_env)) == 4


# ---------------------------------------------------------------- the other action types


def test_sms_email_publish_analysis_and_webhook_with_placeholders(
    router: Router,
    apply: Callable[[str], None],
    aws_env: Aws,
    webhook: Hook,
    invoker: RecordingInvoker,
) -> None:
    apply(f"""
actions:
  - {{id: sms, topics: ["alarm/#"], type: sms, to: ["+15555550100"],
      message: "$TOPIC$ = $VALUE$$UNIT$ on $DEVICE$"}}
  - {{id: mail, topics: ["alarm/#"], type: email, to: [ops@example.com],
      subject: "Alarm $DEVICE$", message: "$PAYLOAD$"}}
  - {{id: echo, topics: ["alarm/+"], type: mqtt_publish, topic: "ack/$DEVICE$",
      payload: "got $VALUE$", qos: 1}}
  - {{id: forecast, topics: ["alarm/#"], type: run_analysis, analyses: [forecast, report]}}
  - {{id: hook, topics: ["alarm/#"], type: webhook, url: "{webhook.url}", allow_http: true,
      headers: {{X-Key: abc}}}}
""")
    event = message({"variable": "temperature", "value": 41, "unit": "C"}, "alarm/boiler")
    result = router(event)

    assert set(result["outcomes"].values()) == {"done"}, result
    assert aws_env.sms() == [("+15555550100", "alarm/boiler = 41C on sensor-01")]
    [mail] = aws_env.emails()
    assert mail.source == SENDER
    assert "Alarm sensor-01" in str(mail.subject)
    assert aws_env.mqtt() == [("ack/sensor-01", b"got 41")]
    assert [fn for fn, _ in invoker.calls] == ["forecast-fn", "report-fn"]
    trigger = invoker.calls[0][1]["trigger"]
    assert trigger["type"] == "action"
    assert trigger["action_id"] == "forecast"
    assert trigger["traceid"] == event["traceid"]
    assert invoker.calls[0][1]["scope"][0]["value"] == 41
    [call] = webhook.requests
    assert call["headers"]["X-Key"] == "abc"
    assert call["headers"]["X-MQTT-Actions-Retry"] == "0"
    assert json.loads(call["body"])[0]["variable"] == "temperature"


def test_conditions_decide_which_actions_run(
    router: Router, apply: Callable[[str], None], aws_env: Aws
) -> None:
    apply("""
actions:
  - id: hot
    topics: ["home/+/temperature"]
    type: sms
    to: ["+15555550100"]
    message: hot $VALUE$
    when: [{variable: temperature, op: ">", value: 30}]
""")
    cold = router(message({"variable": "temperature", "value": 25}))
    hot = router(message({"variable": "temperature", "value": "31"}))
    assert cold["outcomes"] == {"hot": "condition_false"}
    assert hot["outcomes"] == {"hot": "done"}
    assert aws_env.sms() == [("+15555550100", "hot 31")]


def test_default_rate_limit_stops_the_eleventh_sms_in_a_minute(
    router: Router, apply: Callable[[str], None], aws_env: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.router import app

    # One fixed minute: on a loaded machine twelve messages may straddle a window's edge.
    monkeypatch.setattr(app.deps(), "clock", lambda: 1_800_000_010.0)
    apply("""
actions:
  - {id: sms, topics: ["alarm/#"], type: sms, to: ["+15555550100"], message: "$VALUE$"}
""")
    outcomes = [router(message(str(i), "alarm/x"))["outcomes"]["sms"] for i in range(12)]
    assert outcomes.count("done") == 10
    assert outcomes[10:] == ["throttled", "throttled"]
    assert len(aws_env.sms()) == 10


def test_explicit_rate_limit(router: Router, apply: Callable[[str], None], aws_env: Aws) -> None:
    apply("""
actions:
  - {id: store, topics: ["home/#"], type: insert_bucket, rate_limit: {max: 2, per_seconds: 3600}}
""")
    outcomes = [router(message(str(i)))["outcomes"]["store"] for i in range(3)]
    assert outcomes == ["done", "done", "throttled"]


# ---------------------------------------------------------------- exactly once


def test_the_same_event_twice_sends_once(
    router: Router, apply: Callable[[str], None], aws_env: Aws, webhook: Hook
) -> None:
    apply(f"""
actions:
  - {{id: sms, topics: ["alarm/#"], type: sms, to: ["+15555550100"], message: "$VALUE$"}}
  - {{id: mail, topics: ["alarm/#"], type: email, to: [ops@example.com], subject: s, message: m}}
  - {{id: hook, topics: ["alarm/#"], type: webhook, url: "{webhook.url}", allow_http: true}}
""")
    event = message("1", "alarm/x")
    first = router(event)
    second = router(event)
    assert set(first["outcomes"].values()) == {"done"}
    assert set(second["outcomes"].values()) == {"duplicate"}
    assert len(aws_env.sms()) == 1
    assert len(aws_env.emails()) == 1
    assert len(webhook.requests) == 1


# ---------------------------------------------------------------- failures


def test_one_failing_action_leaves_the_others_done_and_the_original_in_the_dlq(
    router: Router, apply: Callable[[str], None], aws_env: Aws, webhook: Hook
) -> None:
    apply(f"""
actions:
  - {{id: hook, topics: ["alarm/#"], type: webhook, url: "{webhook.url}", allow_http: true,
      max_retries: 2}}
  - {{id: sms, topics: ["alarm/#"], type: sms, to: ["+15555550100"], message: "$VALUE$"}}
  - {{id: store, topics: ["alarm/#"], type: insert_bucket}}
""")
    webhook.fail_next = 3
    event = message("42", "alarm/x")
    result = router(event)
    assert result["outcomes"] == {"hook": "failed", "sms": "done", "store": "done"}
    assert [r["headers"]["X-MQTT-Actions-Retry"] for r in webhook.requests] == [
        "0",
        "1",
        "2",
    ]
    [dead] = aws_env.dead_letters()
    assert dead["kind"] == "action_failed"
    assert dead["action_id"] == "hook"
    assert "HTTP 500" in dead["reason"]
    assert dead["event"]["payload"] == event["payload"]
    assert dead["event"]["traceid"] == event["traceid"]

    # Replaying the dead letter runs only the failed action, once; the SMS is not resent.
    replay = dead["event"] | {"only_actions": [dead["action_id"]]}
    assert router(replay)["outcomes"] == {"hook": "done"}
    assert len(aws_env.sms()) == 1
    assert len(webhook.requests) == 4


def test_a_permanent_error_is_refused_with_its_reason(
    router: Router, apply: Callable[[str], None], webhook: Hook
) -> None:
    apply(f"""
actions:
  - {{id: gone, topics: ["a/#"], type: webhook, url: "{webhook.url}", allow_http: true}}
  - {{id: nope, topics: ["a/#"], type: run_analysis, analyses: [missing]}}
""")
    webhook.fail_next, webhook.status_when_failing = 1, 404
    result = router(message("1", "a/b"))
    assert result["outcomes"] == {"gone": "refused", "nope": "refused"}
    assert len(webhook.requests) == 1  # a 404 is not retried


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        pytest.param({"topic": "a"}, "payload", id="missing-fields"),
        pytest.param(message("x") | {"payload": "%%%not base64"}, "base64", id="bad-base64"),
        pytest.param(message("x") | {"traceid": ""}, "traceid", id="empty-traceid"),
        pytest.param(message("x") | {"timestamp": "soon"}, "timestamp", id="bad-timestamp"),
        pytest.param(message("x") | {"clientid": "s\ud800"}, "clientid", id="lone-surrogate"),
        pytest.param(message("x") | {"clientid": "c" * 129}, "clientid", id="clientid-too-long"),
        pytest.param(message("x") | {"traceid": "t" * 3000}, "traceid", id="traceid-too-long"),
    ],
)
def test_malformed_events_go_to_the_dlq_with_the_reason(
    router: Router, aws_env: Aws, event: dict[str, Any], reason: str
) -> None:
    result = router(event)
    assert reason in result["error"]
    [dead] = aws_env.dead_letters()
    assert dead["kind"] == "invalid_event"
    assert reason in dead["reason"]
    assert dead["event"] == event


# ---------------------------------------------------------------- loop guard


def test_publishing_actions_are_refused_past_max_hops(
    router: Router, apply: Callable[[str], None], aws_env: Aws
) -> None:
    apply("""
actions:
  - {id: again, topics: ["processed/#"], type: mqtt_publish, topic: "processed/$DEVICE$/x"}
  - {id: store, topics: ["processed/#"], type: insert_bucket}
""")
    event = json.loads((EVENTS / "with_hops.json").read_text())
    result = router(event)
    assert result["outcomes"] == {"again": "loop_refused", "store": "done"}
    assert aws_env.mqtt() == []
    below = router(message("1", "processed/sensor-01/t", hops=["3"]))
    assert below["outcomes"]["again"] == "done"


# ---------------------------------------------------------------- samples and actions files


@pytest.mark.parametrize("path", sorted(EVENTS.glob("*.json")), ids=lambda p: p.stem)
def test_every_sample_event_routes(
    router: Router, apply: Callable[[str], None], path: Path
) -> None:
    apply("""
actions:
  - {id: all, topics: ["#"], type: insert_bucket}
""")
    result = router(json.loads(path.read_text()))
    assert result["matched"] == 1
    assert result["outcomes"]["all"] in {"done", "points_refused"}


def test_an_invalid_actions_file_is_refused_whole(aws_env: Aws) -> None:
    store = DynamoActionsStore(aws_env.tables["ActionsTable"], aws_env.dynamodb)
    text = """
actions:
  - {id: good, topics: ["a/#"], type: insert_bucket}
  - {id: bad-sms, topics: ["a/#"], type: sms, to: ["555"], message: hi}
"""
    with pytest.raises(ActionsFileError) as err:
        store.put_all(load_actions_file(text))
    assert "bad-sms" in str(err.value)
    assert "to" in str(err.value)
    assert store.load() == []


def test_stored_actions_load_by_fingerprint_and_an_edited_one_is_skipped_with_the_reason(
    aws_env: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    # Given two applied actions, one of them edited in the table afterwards (fingerprint stale)
    store = DynamoActionsStore(aws_env.tables["ActionsTable"], aws_env.dynamodb)
    store.put_all(
        load_actions_file("""
actions:
  - {id: good, topics: ["a/#"], type: insert_bucket}
  - {id: edited, topics: ["a/#"], type: insert_bucket}
""")
    )
    key = {"pk": {"S": "ACTION"}, "sk": {"S": "edited"}}
    item = aws_env.dynamodb.get_item(TableName=aws_env.tables["ActionsTable"], Key=key)["Item"]
    assert item["fingerprint"]["S"]
    config = item["config"]["S"].replace('"a/#"', '"a/#/b"')
    aws_env.dynamodb.update_item(
        TableName=aws_env.tables["ActionsTable"],
        Key=key,
        UpdateExpression="SET config = :c",
        ExpressionAttributeValues={":c": {"S": config}},
    )

    # When the router loads them: the good one loads, the edited one is validated and skipped
    assert [a.id for a in store.load()] == ["good"]
    [record] = [r for r in caplog.records if r.getMessage() == "stored action invalid; skipped"]
    assert record.__dict__["action_id"] == "edited"
    assert "topics[0]" in record.__dict__["reason"]


def test_the_points_counter_adds_a_messages_points_and_refuses_what_does_not_fit(
    aws_env: Aws,
) -> None:
    """MaxPointsPerDeviceMinute's counter: one conditional UpdateItem adds a message's points
    (DynamoDB conditions cannot add: the room left is compared)."""
    from mqtt_actions.adapters.ratelimit import DynamoRateLimiter

    limiter = DynamoRateLimiter(aws_env.tables["ActionsTable"], aws_env.dynamodb)
    key = "points#sensor-01"
    assert limiter.allow(key, 10, 60, 0.0, count=4)
    assert limiter.allow(key, 10, 60, 1.0, count=6)  # exactly 10
    assert not limiter.allow(key, 10, 60, 2.0, count=1)
    assert limiter.allow("points#sensor-02", 10, 60, 2.0, count=10)  # per device
    assert limiter.allow(key, 10, 60, 61.0, count=10)  # the next minute
    assert not limiter.allow(key, 10, 60, 62.0, count=11)  # never fits
