"""Reading dead letters from the three writers that share the queue (table-driven)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mqtt_actions_cli.deadletters import DeadLetter, parse_message

EVENT = {
    "payload": "eyJ2YWx1ZSI6IDF9",
    "topic": "home/kitchen/temperature",
    "clientid": "sensor-01",
    "principal": "cert-1",
    "timestamp": 1_764_072_000_000,
    "traceid": "trace-1",
}


def sqs(body: Any, *, message_id: str = "m-1", sent: str = "1764072001000") -> dict[str, Any]:
    return {
        "MessageId": message_id,
        "ReceiptHandle": f"rh-{message_id}",
        "Body": body if isinstance(body, str) else json.dumps(body),
        "Attributes": {"SentTimestamp": sent},
    }


def test_router_action_failed_is_replayable_for_that_action_only() -> None:
    letter = parse_message(
        sqs(
            {
                "kind": "action_failed",
                "action_id": "hook",
                "action_type": "webhook",
                "reason": "webhook failed after 4 attempts; last error: HTTP 503",
                "event": EVENT,
            }
        )
    )
    assert (letter.source, letter.kind, letter.action_id) == ("router", "action_failed", "hook")
    assert (letter.topic, letter.device, letter.sent_ms) == (
        "home/kitchen/temperature",
        "sensor-01",
        1764072001000,
    )
    assert "HTTP 503" in letter.reason
    assert letter.replay_event() == {**EVENT, "only_actions": ["hook"]}


def test_router_invalid_event_is_shown_but_not_replayable() -> None:
    letter = parse_message(
        sqs({"kind": "invalid_event", "reason": "invalid router event: topic", "event": {"x": 1}})
    )
    assert (letter.source, letter.kind, letter.replayable) == ("router", "invalid_event", False)
    with pytest.raises(ValueError, match="no router event"):
        letter.replay_event()


def test_lambda_destination_record_replays_the_whole_event() -> None:
    letter = parse_message(
        sqs(
            {
                "version": "1.0",
                "timestamp": "2026-11-25T12:00:00.000Z",
                "requestContext": {
                    "requestId": "r-1",
                    "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:Router:$LATEST",
                    "condition": "RetriesExhausted",
                    "approximateInvokeCount": 3,
                },
                "requestPayload": EVENT,
                "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                "responsePayload": {"errorMessage": "Task timed out", "errorType": "Timeout"},
            }
        )
    )
    assert (letter.source, letter.kind, letter.action_id) == ("lambda", "retries_exhausted", None)
    assert letter.reason == "RetriesExhausted after 3 attempts: Task timed out"
    assert letter.replay_event() == EVENT


def test_lambda_destination_of_another_function_is_not_replayed_through_the_router() -> None:
    letter = parse_message(
        sqs(
            {
                "requestContext": {"condition": "RetriesExhausted"},
                "requestPayload": {"analysis": "forecast"},
                "responsePayload": None,
            }
        )
    )
    assert letter.source == "lambda"
    assert not letter.replayable


def test_iot_rule_error_action_is_rebuilt_as_the_route_rule_event() -> None:
    letter = parse_message(
        sqs(
            {
                "ruleName": "mqtt_actions_route",
                "topic": "home/kitchen/temperature",
                "cloudwatchTraceId": "7e146a2c-95b5-6caf-98b9-50e3969734c7",
                "clientId": "sensor-01",
                "base64OriginalPayload": "eyJ2YWx1ZSI6IDF9",
                "failures": [
                    {
                        "failedAction": "LambdaAction",
                        "failedResource": "Router",
                        "errorMessage": "Failed to invoke lambda function",
                    }
                ],
            }
        )
    )
    assert (letter.source, letter.kind) == ("iot-rule", "rule_error")
    assert (
        letter.reason == "rule mqtt_actions_route: LambdaAction: Failed to invoke lambda function"
    )
    assert letter.replay_event() == {
        "payload": "eyJ2YWx1ZSI6IDF9",
        "topic": "home/kitchen/temperature",
        "clientid": "sensor-01",
        "timestamp": 1764072001000,
        "traceid": "7e146a2c-95b5-6caf-98b9-50e3969734c7",
    }


@pytest.mark.parametrize(
    "body",
    [
        "not json at all",
        "[1, 2]",
        {"something": "else"},
    ],
    ids=["text", "json-list", "unknown-object"],
)
def test_unknown_records_are_shown_as_they_are_and_never_replayed(body: Any) -> None:
    letter: DeadLetter = parse_message(sqs(body))
    assert (letter.source, letter.kind, letter.replayable) == ("unknown", "unknown", False)
    assert letter.reason


def test_long_reasons_are_cut_to_one_line() -> None:
    letter = parse_message(
        sqs({"kind": "action_failed", "action_id": "a", "reason": "x\n" * 1000, "event": EVENT})
    )
    assert "\n" not in letter.reason
    assert len(letter.reason) <= 500


def test_a_restored_letter_keeps_its_first_id_and_time() -> None:
    """The local stack restores a dead letter as a new SQS message carrying its first id and
    time as attributes: those win, so `dlq replay --id` keeps working across restarts."""
    from mqtt_actions_cli.deadletters import ORIGINAL_ID, ORIGINAL_SENT_MS

    restored = sqs({"kind": "action_failed", "reason": "x", "event": EVENT}, message_id="new-2")
    restored["MessageAttributes"] = {
        ORIGINAL_ID: {"DataType": "String", "StringValue": "first-1"},
        ORIGINAL_SENT_MS: {"DataType": "Number", "StringValue": "1764072000500"},
    }
    letter = parse_message(restored)
    assert (letter.message_id, letter.sent_ms) == ("first-1", 1_764_072_000_500)
    assert letter.receipt_handle == "rh-new-2"  # deleting still uses the message as it is now
