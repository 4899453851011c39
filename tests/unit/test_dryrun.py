"""The dry run: the real router over recording fakes; effects kept per action, nothing sent."""

from __future__ import annotations

import base64
import json
from typing import Any

from mqtt_actions.actions import parse_actions
from mqtt_actions.dryrun import dry_run
from mqtt_actions.events import RouterEvent
from tests.support.lambda_env import router_settings

SETTINGS = router_settings(ANALYSIS_FUNCTIONS={"forecast": "forecast-fn"})

ACTIONS = parse_actions(
    {
        "actions": [
            {"id": "store", "topics": ["home/#"], "type": "insert_bucket"},
            {
                "id": "sms",
                "topics": ["home/+/temperature"],
                "type": "sms",
                "to": ["+15555550100", "+15555550101"],
                "message": "$DEVICE$ $VALUE$",
            },
            {
                "id": "mail",
                "topics": ["home/#"],
                "type": "email",
                "to": ["ops@example.com"],
                "subject": "S $DEVICE$",
                "message": "$PAYLOAD$",
                "html": "<b>$VALUE$</b>",
            },
            {"id": "echo", "topics": ["home/#"], "type": "mqtt_publish", "topic": "ack/$DEVICE$"},
            {
                "id": "forecast",
                "topics": ["home/#"],
                "type": "run_analysis",
                "analyses": ["forecast"],
            },
            {
                "id": "hook",
                "topics": ["home/#"],
                "type": "webhook",
                "url": "https://example.com/in",
            },
            {
                "id": "cold",
                "topics": ["home/#"],
                "type": "insert_bucket",
                "when": [{"variable": "temperature", "op": "<", "value": 0}],
            },
            {"id": "ghost", "topics": ["home/#"], "type": "run_analysis", "analyses": ["nope"]},
            {"id": "off", "topics": ["home/#"], "type": "insert_bucket", "enabled": False},
        ]
    }
)


def event(payload: bytes, topic: str = "home/kitchen/temperature", hops: int = 0) -> RouterEvent:
    return RouterEvent(
        payload=base64.b64encode(payload).decode(),
        topic=topic,
        clientid="sensor-01",
        timestamp=1_764_072_000_000,
        traceid="t-1",
        hops=hops,
    )


def by_id(payload: bytes, **kw: Any) -> dict[str, Any]:
    report = dry_run(event(payload, **kw), ACTIONS, SETTINGS)
    return {p.result.action_id: p for p in report.actions}


def test_each_action_records_what_it_would_send() -> None:
    got = by_id(b'{"variable": "temperature", "value": 31}')

    assert "off" not in got
    [bucket] = got["store"].effects
    assert bucket.kind == "bucket"
    assert bucket.detail["device"] == "sensor-01"
    assert bucket.detail["points"][0]["value"] == 31
    assert [(e.kind, e.detail) for e in got["sms"].effects] == [
        ("sms", {"to": "+15555550100", "message": "sensor-01 31"}),
        ("sms", {"to": "+15555550101", "message": "sensor-01 31"}),
    ]
    [mail] = got["mail"].effects
    assert mail.detail["subject"] == "S sensor-01"
    assert mail.detail["html"] == "<b>31</b>"
    [publish] = got["echo"].effects
    assert publish.detail["topic"] == "ack/sensor-01"
    assert publish.detail["payload"] == '{"variable": "temperature", "value": 31}'
    assert (publish.detail["qos"], publish.detail["hops"]) == (0, 1)
    [analysis] = got["forecast"].effects
    assert analysis.detail["function"] == "forecast-fn"
    assert analysis.detail["event"]["trigger"]["action_id"] == "forecast"
    [hook] = got["hook"].effects
    assert hook.detail["url"] == "https://example.com/in"
    assert json.loads(hook.detail["payload"])[0]["value"] == 31
    assert hook.detail["headers"]["Idempotency-Key"] == "t-1:hook"


def test_outcomes_that_send_nothing_say_why() -> None:
    got = by_id(b'{"variable": "temperature", "value": 31}')
    assert got["cold"].result.outcome.value == "condition_false"
    assert got["cold"].effects == ()
    assert got["ghost"].result.outcome.value == "refused"
    assert "unknown analysis nope" in (got["ghost"].result.reason or "")


def test_binary_payloads_are_shown_as_base64() -> None:
    got = by_id(b"\xff\x00")
    [publish] = got["echo"].effects
    assert publish.detail == {
        "topic": "ack/sensor-01",
        "qos": 0,
        "retain": False,
        "hops": 1,
        "payload": "/wA=",
        "encoding": "base64",
    }


def test_the_loop_guard_applies() -> None:
    got = by_id(b"{}", hops=SETTINGS.max_hops)
    assert got["echo"].result.outcome.value == "loop_refused"
    assert got["echo"].effects == ()


def test_the_report_describes_the_message() -> None:
    report = dry_run(
        event(b'[{"variable": "a", "value": 1}, {"variable": "b", "value": 2}]'), ACTIONS, SETTINGS
    )
    assert report.message.points == 2
    assert report.message.matched == 8  # every enabled action on home/#
