"""`mqtt-actions dlq list|replay` against the template's dead-letter queue on moto, with the
router's invoke faked: a dead letter is deleted only after the replay succeeded."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from mqtt_actions_cli.target import InvokeError, Target
from tests.integration.cli_support import moto_target, run
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration

EVENT = {
    "payload": "eyJ2YWx1ZSI6IDF9",
    "topic": "home/kitchen/temperature",
    "clientid": "sensor-01",
    "principal": "cert-1",
    "timestamp": 1_764_072_000_000,
    "traceid": "trace-1",
}


class FakeRouter:
    """Answers invokes like the router handler does; `answers` by action id, or an error."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.outcome = "done"
        self.error: str | None = None

    def __call__(self, function: str, event: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append((function, dict(event)))
        if self.error:
            raise InvokeError(self.error)
        only = event.get("only_actions") or ["hook", "store"]
        return {
            "traceid": event["traceid"],
            "matched": len(only),
            "outcomes": dict.fromkeys(only, self.outcome),
        }


@pytest.fixture
def router() -> FakeRouter:
    return FakeRouter()


@pytest.fixture
def target(aws_env: Aws, router: FakeRouter) -> Target:
    return moto_target(aws_env, invoke=router)


def put(aws_env: Aws, body: dict[str, Any]) -> str:
    sent = aws_env.sqs.send_message(
        QueueUrl=aws_env.queues["DeadLetterQueue"], MessageBody=json.dumps(body)
    )
    return str(sent["MessageId"])


def action_failed(action_id: str = "hook", traceid: str = "trace-1") -> dict[str, Any]:
    return {
        "kind": "action_failed",
        "action_id": action_id,
        "action_type": "webhook",
        "reason": "webhook failed after 4 attempts; last error: HTTP 503 Service Unavailable",
        "event": {**EVENT, "traceid": traceid},
    }


def remaining(aws_env: Aws) -> int:
    attrs = aws_env.sqs.get_queue_attributes(
        QueueUrl=aws_env.queues["DeadLetterQueue"],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )


def visible(aws_env: Aws) -> int:
    attrs = aws_env.sqs.get_queue_attributes(
        QueueUrl=aws_env.queues["DeadLetterQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def test_list_shows_every_kind_and_deletes_nothing(
    aws_env: Aws, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    put(aws_env, action_failed())
    put(
        aws_env,
        {"kind": "invalid_event", "reason": "invalid router event: topic missing", "event": {}},
    )
    put(
        aws_env,
        {
            "requestContext": {"condition": "RetriesExhausted", "approximateInvokeCount": 3},
            "requestPayload": EVENT,
            "responsePayload": {"errorMessage": "Task timed out"},
        },
    )
    put(
        aws_env,
        {
            "ruleName": "mqtt_actions_route",
            "topic": "a/b",
            "clientId": "c",
            "cloudwatchTraceId": "t-9",
            "base64OriginalPayload": "eA==",
            "failures": [{"failedAction": "LambdaAction", "errorMessage": "throttled"}],
        },
    )

    ran = run(capsys, ["dlq", "list"], target)

    assert ran.code == 0, ran.err
    assert "router/action_failed" in ran.out
    assert "HTTP 503" in ran.out
    assert "router/invalid_event" in ran.out
    assert "lambda/retries_exhausted" in ran.out
    assert "Task timed out" in ran.out
    assert "iot-rule/rule_error" in ran.out
    assert "throttled" in ran.out
    assert "4 dead letters" in ran.out
    assert visible(aws_env) == 4  # released at once, not after the visibility timeout


def test_list_json(aws_env: Aws, target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    message_id = put(aws_env, action_failed())
    ran = run(capsys, ["dlq", "list", "--json"], target)
    [letter] = ran.json()
    assert letter["message_id"] == message_id
    assert (letter["action_id"], letter["topic"], letter["replayable"]) == (
        "hook",
        "home/kitchen/temperature",
        True,
    )
    assert isinstance(letter["sent_ms"], int)


def test_an_empty_queue(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, ["dlq", "list"], target)
    assert ran.code == 0
    assert "is empty" in ran.out


def test_replay_invokes_the_router_for_the_failed_action_then_deletes(
    aws_env: Aws, target: Target, router: FakeRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    message_id = put(aws_env, action_failed())

    ran = run(capsys, ["dlq", "replay", "--id", message_id], target)

    assert ran.code == 0, ran.err
    assert router.calls == [("RouterFunction", {**EVENT, "only_actions": ["hook"]})]
    assert "1 replayed" in ran.out
    assert remaining(aws_env) == 0


def test_a_failed_invoke_keeps_the_dead_letter(
    aws_env: Aws, target: Target, router: FakeRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    put(aws_env, action_failed())
    router.error = "RouterFunction failed (Unhandled): boom"

    ran = run(capsys, ["dlq", "replay", "--all"], target)

    assert ran.code == 1
    assert "boom" in ran.out
    assert "1 failed" in ran.out
    assert visible(aws_env) == 1  # kept, and visible again at once


@pytest.mark.parametrize(
    ("outcome", "kept", "status"),
    [
        ("done", False, "replayed"),
        ("duplicate", False, "replayed"),  # it had run already: the dead letter is done
        ("failed", False, "failed_again"),  # the router recorded a new dead letter
        ("throttled", True, "failed"),
        ("refused", True, "failed"),
    ],
)
def test_what_the_router_answered_decides(
    outcome: str,
    kept: bool,
    status: str,
    aws_env: Aws,
    target: Target,
    router: FakeRouter,
    capsys: pytest.CaptureFixture[str],
) -> None:
    put(aws_env, action_failed())
    router.outcome = outcome
    ran = run(capsys, ["dlq", "replay", "--all", "--json"], target)
    [replay] = ran.json()["replays"]
    assert replay["status"] == status
    assert replay["deleted"] is not kept
    assert remaining(aws_env) == (1 if kept else 0)


def test_an_action_that_no_longer_matches_keeps_its_dead_letter(
    aws_env: Aws, target: Target, router: FakeRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    put(aws_env, action_failed())
    router.outcome = "done"
    target._invoke = lambda f, e: {"matched": 0, "outcomes": {}}  # the action was removed
    ran = run(capsys, ["dlq", "replay", "--all"], target)
    assert ran.code == 1
    assert "was removed, disabled or no longer matches" in ran.out
    assert remaining(aws_env) == 1


def test_dry_run_changes_nothing(
    aws_env: Aws, target: Target, router: FakeRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    put(aws_env, action_failed())
    ran = run(capsys, ["dlq", "replay", "--all", "--dry-run", "--json"], target)
    assert ran.code == 0
    assert ran.json()["counts"]["would_replay"] == 1
    assert ran.json()["replays"][0]["result"]["only_actions"] == ["hook"]
    assert router.calls == []
    assert visible(aws_env) == 1


def test_replay_all_skips_what_cannot_be_replayed(
    aws_env: Aws, target: Target, router: FakeRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    put(aws_env, action_failed("hook", "t-1"))
    put(aws_env, {"kind": "invalid_event", "reason": "bad", "event": {"x": 1}})
    put(
        aws_env,
        {
            "requestContext": {"condition": "RetriesExhausted"},
            "requestPayload": EVENT,
            "responsePayload": {"errorMessage": "x"},
        },
    )

    ran = run(capsys, ["dlq", "replay", "--all", "--json"], target)

    counts = ran.json()["counts"]
    assert (counts["replayed"], counts["skipped"]) == (2, 1)
    assert ran.code == 1  # something is left
    assert sorted(e.get("only_actions") is None for _f, e in router.calls) == [False, True]
    assert remaining(aws_env) == 1


def test_unknown_ids_are_named(
    aws_env: Aws, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    message_id = put(aws_env, action_failed())
    ran = run(capsys, ["dlq", "replay", "--id", "nope"], target)
    assert ran.code == 2
    assert "no dead letter with id nope" in ran.err
    assert message_id in ran.err
    assert visible(aws_env) == 1


def test_replay_needs_id_or_all(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, ["dlq", "replay"], target)
    assert ran.code == 2
    assert "one of the arguments --id --all is required" in ran.err


# ---------------------------------------------------------------------------- discard


class Terminal:
    """stdin as a terminal that answers `answer` to the question."""

    def __init__(self, answer: str, *, tty: bool = True) -> None:
        self.answer = answer
        self.tty = tty
        self.asked = 0

    def isatty(self) -> bool:
        return self.tty

    def readline(self) -> str:
        self.asked += 1
        return self.answer + "\n"


def test_discard_one_by_id_keeps_the_others_and_invokes_nothing(
    aws_env: Aws, target: Target, router: FakeRouter, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = put(aws_env, action_failed("hook", "t-1"))
    put(aws_env, action_failed("store", "t-2"))

    ran = run(capsys, ["dlq", "discard", "--id", gone, "--yes", "--json"], target)

    assert ran.code == 0, ran.err
    assert ran.json() == {"discarded": [gone], "kept": 1}
    assert router.calls == []
    assert remaining(aws_env) == 1
    assert visible(aws_env) == 1  # the kept one is visible again at once


def test_discard_all_asks_on_a_terminal_and_deletes_on_yes(
    aws_env: Aws,
    target: Target,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put(aws_env, action_failed("hook", "t-1"))
    put(aws_env, {"kind": "invalid_event", "reason": "bad", "event": {"x": 1}})
    terminal = Terminal("y")
    monkeypatch.setattr("sys.stdin", terminal)

    ran = run(capsys, ["dlq", "discard", "--all"], target)

    assert ran.code == 0, ran.err
    assert terminal.asked == 1
    assert "Discard 2 dead letters from the local stack?" in ran.err
    assert "2 dead letters discarded, 0 kept" in ran.out
    assert remaining(aws_env) == 0


@pytest.mark.parametrize(
    ("tty", "answer", "code", "said"),
    [
        (True, "", 1, "not discarded: the answer was not yes"),
        (True, "n", 1, "not discarded: the answer was not yes"),
        (True, "whatever", 1, "not discarded: the answer was not yes"),
        (False, "y", 2, "stdin is not a terminal"),  # never asked: --yes is needed
    ],
)
def test_discard_does_nothing_unless_confirmed(
    tty: bool,
    answer: str,
    code: int,
    said: str,
    aws_env: Aws,
    target: Target,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    put(aws_env, action_failed())
    terminal = Terminal(answer, tty=tty)
    monkeypatch.setattr("sys.stdin", terminal)
    ran = run(capsys, ["dlq", "discard", "--all"], target)
    assert ran.code == code
    assert said in ran.err
    assert terminal.asked == (1 if tty else 0)
    assert visible(aws_env) == 1


def test_discard_an_unknown_id_names_it_and_discards_nothing(
    aws_env: Aws, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    known = put(aws_env, action_failed())
    ran = run(capsys, ["dlq", "discard", "--id", known, "--id", "nope", "--yes"], target)
    assert ran.code == 2
    assert "no dead letter with id nope; nothing was discarded" in ran.err
    assert known in ran.err
    assert visible(aws_env) == 1


def test_discard_on_an_empty_queue(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, ["dlq", "discard", "--all"], target)  # nothing to ask about
    assert ran.code == 0
    assert "nothing to discard" in ran.out


def test_discard_needs_id_or_all(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, ["dlq", "discard", "--yes"], target)
    assert ran.code == 2
    assert "one of the arguments --id --all is required" in ran.err


def test_list_shows_the_original_payload(
    aws_env: Aws, target: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    put(aws_env, action_failed())
    [letter] = run(capsys, ["dlq", "list", "--json"], target).json()
    assert letter["payload"] == EVENT["payload"]
