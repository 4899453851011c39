"""Faults, through the real router handler against moto: each adapter failing in turn
(throttling, timeouts, 5xx), crashes between two actions of one message, the idempotency table,
the dead-letter queue and the actions table failing. What must hold: the other actions still
run; a failure is in the dead-letter queue with the original message; a replay or a retry
delivers what failed once and never repeats what succeeded.

Faults are injected where AWS would raise them: in the boto3 client an adapter calls (after
boto3's own retries, as a persistent fault), or in the local webhook receiver."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from mqtt_actions.adapters.aws import client
from mqtt_actions.adapters.bucket import DynamoBucket
from mqtt_actions.adapters.idempotency import PowertoolsOnce
from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions.adapters.invoke import LambdaInvoker
from mqtt_actions.adapters.notify import SnsSesNotifier
from mqtt_actions.adapters.publish import IotDataPublisher
from mqtt_actions.router import RetryLaterError, RouterDeps
from tests.integration.conftest import SENDER, Aws, Router, bucket, message
from tests.support.webhook import Hook

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a matrix: `make test` runs it

ACTIONS = """
actions:
  - {id: store, topics: ["alarm/#"], type: insert_bucket}
  - {id: sms, topics: ["alarm/#"], type: sms, to: ["+15555550100"], message: "$VALUE$"}
  - {id: mail, topics: ["alarm/#"], type: email, to: [ops@example.com], subject: "alarm $VALUE$",
     message: "$PAYLOAD$"}
  - {id: echo, topics: ["alarm/#"], type: mqtt_publish, topic: "ack/$DEVICE$", payload: "$VALUE$"}
  - {id: forecast, topics: ["alarm/#"], type: run_analysis, analyses: [forecast]}
  - {id: hook, topics: ["alarm/#"], type: webhook, url: "HOOK", allow_http: true,
     max_retries: 1, timeout_seconds: 0.5}
"""
ACTION_IDS = ("store", "sms", "mail", "echo", "forecast", "hook")
FIRST = min(ACTION_IDS)  # actions run in id order (the actions table's sort key): echo
# A handler that dies before it measured anything makes Powertools warn; the warning is not the
# point of these tests, the exception is.
no_metrics_yet = pytest.mark.filterwarnings("ignore:No application metrics to publish")


class Crash(BaseException):
    """The Lambda runtime dies here (timeout, out of memory): no except Exception sees it."""


# ---------------------------------------------------------------- injecting faults


def client_error(code: str, status: int) -> Callable[[str], BaseException]:
    def make(operation: str) -> BaseException:
        error = {"Error": {"Code": code, "Message": f"injected {code}"}}
        return ClientError({**error, "ResponseMetadata": {"HTTPStatusCode": status}}, operation)  # type: ignore[arg-type]

    return make


FAULTS: dict[str, Callable[[str], BaseException]] = {
    "throttling": client_error("ThrottlingException", 400),
    "dynamodb-throttling": client_error("ProvisionedThroughputExceededException", 400),
    "lambda-throttling": client_error("TooManyRequestsException", 429),
    "read-timeout": lambda op: ReadTimeoutError(endpoint_url=f"https://aws.example/{op}"),
    "connect-timeout": lambda op: ConnectTimeoutError(endpoint_url=f"https://aws.example/{op}"),
    "5xx": client_error("ServiceUnavailable", 503),
    "crash": lambda op: Crash(op),
}


@dataclass
class Faulty:
    """A boto3 client that raises the queued faults on `operation`, then works; counts calls
    that went through (what AWS did)."""

    inner: Any
    operation: str
    faults: list[Callable[[str], BaseException]] = field(default_factory=list)
    done: int = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name != self.operation:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.faults:
                raise self.faults.pop(0)(name)
            result = attr(*args, **kwargs)
            self.done += 1
            return result

        return call


class FakeLambda:
    """Lambda's Invoke (InvocationType Event) as AWS answers it; moto's needs Docker."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.events.append(json.loads(kwargs["Payload"]))
        return {"StatusCode": 202}


@dataclass
class World:
    """The router wired to moto, with every adapter's client wrapped so faults can be queued
    and completed calls counted."""

    router: Router
    aws: Aws
    hook: Hook
    deps: RouterDeps
    clients: dict[str, Faulty]

    def fail(self, action: str, fault: str, times: int = 1) -> None:
        if action == "hook":
            kind = {"throttling": 429, "5xx": 503}.get(fault)
            if kind is None:  # a timeout: the receiver never answers
                self.hook.stall_next = times * 2  # every attempt of the action (max_retries 1)
            else:
                self.hook.fail_next, self.hook.status_when_failing = times * 2, kind
            return
        self.clients[action].faults.extend([FAULTS[fault]] * times)

    def sent(self) -> dict[str, int]:
        """How many times each action's side effect reached AWS (or the receiver)."""
        return {a: self.clients[a].done for a in self.clients} | {"hook": self.hook.delivered()}

    def outcomes(self, result: Mapping[str, Any]) -> dict[str, str]:
        return dict(result["outcomes"])


@pytest.fixture
def world(
    router: Router,
    apply: Callable[[str], None],
    aws_env: Aws,
    webhook: Hook,
    monkeypatch: pytest.MonkeyPatch,
) -> World:
    from functions.router import app

    apply(ACTIONS.replace("HOOK", webhook.url))
    deps = app.deps()
    clients = {
        "store": Faulty(aws_env.dynamodb, "batch_write_item"),
        "sms": Faulty(client("sns"), "publish"),
        "mail": Faulty(client("sesv2"), "send_email"),
        "echo": Faulty(client("iot-data"), "publish"),
        "forecast": Faulty(FakeLambda(), "invoke"),
    }
    monkeypatch.setattr(
        deps, "bucket", DynamoBucket(aws_env.tables["BucketTable"], clients["store"])
    )
    monkeypatch.setattr(deps, "notifier", SnsSesNotifier(clients["sms"], clients["mail"], SENDER))
    monkeypatch.setattr(deps, "publisher", IotDataPublisher(clients["echo"]))
    monkeypatch.setattr(deps, "invoker", LambdaInvoker(clients["forecast"]))
    return World(router, aws_env, webhook, deps, clients)


def replay(letter: Mapping[str, Any]) -> dict[str, Any]:
    """What `dlq replay` sends: the original event, for the failed action only."""
    return dict(letter["event"]) | {"only_actions": [letter["action_id"]]}


def everything(outcome: str, **other: str) -> dict[str, str]:
    return {a: other.get(a, outcome) for a in ACTION_IDS}


def redelivered(**other: str) -> dict[str, str]:
    """The outcomes of a message delivered again: every guarded action a duplicate; store (an
    insert_bucket, not guarded) done again, rewriting the same rows."""
    return everything("duplicate", store="done", **other)


def once_each(store: int = 1) -> dict[str, int]:
    """Each side effect sent once; `store` counts bucket writes (each delivery writes again)."""
    return dict.fromkeys(ACTION_IDS, 1) | {"store": store}


# ---------------------------------------------------------------- each adapter failing in turn

SCENARIOS = [
    pytest.param(action, fault, id=f"{action}-{fault}")
    for action, faults in {
        "store": ["dynamodb-throttling", "read-timeout", "5xx"],
        "sms": ["throttling", "connect-timeout", "5xx"],
        "mail": ["throttling", "read-timeout", "5xx"],
        "echo": ["throttling", "connect-timeout", "5xx"],
        "forecast": ["lambda-throttling", "read-timeout", "5xx"],
        "hook": ["throttling", "read-timeout", "5xx"],
    }.items()
    for fault in faults
]


@pytest.mark.parametrize(("action", "fault"), SCENARIOS)
def test_one_adapter_failing_leaves_the_others_done_and_a_replay_delivers_it_once(
    world: World, action: str, fault: str
) -> None:
    # Given the adapter of `action` failing (past boto3's own retries)
    world.fail(action, fault)
    event = message({"variable": "t", "value": 41}, "alarm/boiler")

    # When the message arrives: that action failed, every other one is done
    first = world.router(event)
    assert world.outcomes(first) == everything("done", **{action: "failed"})

    # Then the dead-letter queue holds the original message and why, for that action only
    [letter] = world.aws.dead_letters()
    assert letter["kind"] == "action_failed"
    assert letter["action_id"] == action
    assert letter["reason"]
    # the original, as parsed, naming the device its connection resolved to (replays keep it)
    assert letter["event"] == event | {"hops": 0, "device": event["clientid"]}

    # When the letter is replayed, the adapter working again: that action alone runs, once
    assert world.outcomes(world.router(replay(letter))) == {action: "done"}

    # When IoT or Lambda delivers the same message again: nothing is sent twice; the bucket
    # write runs again and rewrites its row (deterministic keys), it is not duplicated
    assert world.outcomes(world.router(event)) == redelivered()
    assert world.sent() == once_each(store=2)
    assert len(bucket(world.aws)) == 1
    assert world.aws.dead_letters() == []


@pytest.mark.parametrize("action", ["sms", "hook"])
def test_a_redelivery_runs_only_what_failed(world: World, action: str) -> None:
    world.fail(action, "5xx")
    event = message("41", "alarm/boiler")
    world.router(event)
    world.aws.dead_letters()

    second = world.router(event)  # IoT/Lambda re-delivers, no only_actions
    assert world.outcomes(second) == redelivered(**{action: "done"})
    assert world.sent() == once_each(store=2)
    assert len(bucket(world.aws)) == 1


# ---------------------------------------------------------------- a crash between two actions

TWO = """
actions:
  - {id: first, topics: ["alarm/#"], type: sms, to: ["+15555550100"], message: "$VALUE$"}
  - {id: second, topics: ["alarm/#"], type: email, to: [ops@example.com], subject: s,
     message: "$VALUE$"}
"""


def idempotency_records(aws: Aws) -> dict[str, dict[str, Any]]:
    """Status by action id (the record's data does not name it: match by the key hash)."""
    items = aws.dynamodb.scan(TableName=aws.tables["IdempotencyTable"])["Items"]
    return {item["id"]["S"]: item for item in items}


def expire_in_progress(aws: Aws) -> int:
    """What time does for a crashed invocation: its deadline passes, so its hold expires."""
    table = aws.tables["IdempotencyTable"]
    expired = 0
    for key, item in idempotency_records(aws).items():
        if item["status"]["S"] == "INPROGRESS":
            aws.dynamodb.update_item(
                TableName=table,
                Key={"id": {"S": key}},
                UpdateExpression="SET in_progress_expiration = :past",
                ExpressionAttributeValues={":past": {"N": "1000"}},
            )
            expired += 1
    return expired


@pytest.fixture
def two(world: World, apply: Callable[[str], None], aws_env: Aws) -> World:
    for action_id in ACTION_IDS:  # only the two actions of this scenario
        aws_env.dynamodb.delete_item(
            TableName=aws_env.tables["ActionsTable"],
            Key={"pk": {"S": "ACTION"}, "sk": {"S": action_id}},
        )
    apply(TWO)
    world.clients["first"], world.clients["second"] = world.clients["sms"], world.clients["mail"]
    return world


def sent_two(w: World) -> tuple[int, int]:
    return w.clients["first"].done, w.clients["second"].done


@no_metrics_yet
def test_a_crash_during_the_second_action_is_completed_by_the_retry_without_repeating_the_first(
    two: World,
) -> None:
    # Given the runtime dying inside the second action, after the first one completed
    two.clients["second"].faults.append(FAULTS["crash"])
    event = message("41", "alarm/boiler")
    with pytest.raises(Crash):
        two.router(event)
    assert sent_two(two) == (1, 0)
    statuses = sorted(r["status"]["S"] for r in idempotency_records(two.aws).values())
    assert statuses == ["COMPLETED", "INPROGRESS"]  # the second is held by the dead invocation

    # When Lambda retries before that invocation's deadline: the first is not repeated, the
    # second is still held, so the handler raises for another retry; nothing is dead-lettered
    with pytest.raises(RetryLaterError, match="second in progress"):
        two.router(event)
    assert sent_two(two) == (1, 0)
    assert two.aws.dead_letters() == []

    # When Lambda retries after the deadline: the second runs, once; the first is not repeated
    assert expire_in_progress(two.aws) == 1
    result = two.router(event)
    assert result["outcomes"] == {"first": "duplicate", "second": "done"}
    assert sent_two(two) == (1, 1)
    assert two.aws.dead_letters() == []


@no_metrics_yet
def test_a_crash_before_the_second_action_starts_is_completed_by_the_retry(
    two: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the runtime dying after the first action, before the second one took its record
    run_once = two.deps.once.run_once
    crashed: list[str] = []

    def crash_before_second(key: Mapping[str, str], work: Callable[[], dict[str, Any]]) -> Any:
        if key["action_id"] == "second" and not crashed:
            crashed.append("second")
            raise Crash("between the two actions")
        return run_once(key, work)

    monkeypatch.setattr(two.deps.once, "run_once", crash_before_second)
    event = message("41", "alarm/boiler")
    with pytest.raises(Crash):
        two.router(event)
    assert sent_two(two) == (1, 0)

    # When Lambda retries: the first is a duplicate, the second runs once
    assert two.router(event)["outcomes"] == {"first": "duplicate", "second": "done"}
    assert sent_two(two) == (1, 1)


def test_a_concurrent_delivery_of_the_same_message_sends_nothing_twice(two: World) -> None:
    # Given a second delivery of the message arriving while the first is inside `first`
    event = message("41", "alarm/boiler")
    seen: dict[str, Any] = {}
    sns = two.clients["first"]

    class Overlapping:
        def __getattr__(self, name: str) -> Any:
            return getattr(sns, name)

        def publish(self, **kwargs: Any) -> Any:
            if "b" not in seen:
                seen["b"] = "running"
                try:
                    two.router(event)  # invocation B, while A holds `first`
                except RetryLaterError as exc:
                    seen["b"] = exc.action_ids
            return sns.publish(**kwargs)

    assert isinstance(two.deps.notifier, SnsSesNotifier)
    two.deps.notifier = SnsSesNotifier(Overlapping(), two.clients["second"], SENDER)

    # When A finishes
    a = two.router(event)

    # Then B saw `first` in progress and asked for a retry (no dead letter); B sent `second`,
    # so A found it done; each was sent once
    assert seen["b"] == ["first"]
    assert a["outcomes"] == {"first": "done", "second": "duplicate"}
    assert sent_two(two) == (1, 1)
    assert two.aws.dead_letters() == []
    # And B's retry finds everything done
    assert two.router(event)["outcomes"] == {"first": "duplicate", "second": "duplicate"}


# ---------------------------------------------------------------- the idempotency table failing


def persistence(world: World, operation: str, fault: str) -> Faulty:
    faulty = Faulty(world.aws.dynamodb, operation, [FAULTS[fault]])
    world.deps.once = PowertoolsOnce(world.aws.tables["IdempotencyTable"], faulty, 3600)
    return faulty


def test_a_sent_action_whose_record_fails_is_reported_sent_and_never_replayed(
    world: World,
) -> None:
    # Given the idempotency table refusing the first "completed" update (after the send)
    persistence(world, "update_item", "dynamodb-throttling")
    event = message("41", "alarm/boiler")

    # When the message arrives: the first action ran but its result was not recorded
    result = world.router(event)

    # Then it is reported with its outcome and why, not as failed: no dead letter to replay
    assert result["outcomes"] == everything("done")
    assert world.aws.dead_letters() == []
    entries = DynamoInspector(world.aws.tables["InspectorTable"], world.aws.dynamodb, 7).query(
        device="sensor-01", types=["action"]
    )
    [first] = [e for e in entries if e.details["action_id"] == FIRST]
    assert "idempotency record was not saved" in first.details["reason"]
    assert world.sent() == dict.fromkeys(ACTION_IDS, 1)

    # And a re-delivery within the unsaved record's window is asked to retry later, not re-sent
    # (the bucket write, not guarded, rewrites its row)
    with pytest.raises(RetryLaterError, match=f"{FIRST} in progress"):
        world.router(event)
    assert world.sent() == once_each(store=2)
    assert len(bucket(world.aws)) == 1


def test_the_idempotency_table_refusing_the_start_fails_the_action_for_a_replay(
    world: World,
) -> None:
    persistence(world, "put_item", "dynamodb-throttling")
    event = message("41", "alarm/boiler")
    assert world.outcomes(world.router(event)) == everything("done", **{FIRST: "failed"})
    [letter] = world.aws.dead_letters()
    assert letter["action_id"] == FIRST
    assert world.sent()[FIRST] == 0  # it never started
    assert world.outcomes(world.router(replay(letter))) == {FIRST: "done"}
    assert world.sent() == dict.fromkeys(ACTION_IDS, 1)


# ---------------------------------------------------------------- dead-letter queue, actions


@no_metrics_yet
def test_a_dead_letter_that_cannot_be_sent_fails_the_invocation_for_a_lambda_retry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given SMS failing and the dead-letter queue throttled
    world.fail("sms", "throttling")
    sqs = Faulty(client("sqs"), "send_message", [FAULTS["throttling"]])
    monkeypatch.setattr(world.deps.dead_letters, "_client", sqs)
    event = message("41", "alarm/boiler")

    # When the message arrives the failure cannot be kept: the invocation fails (Lambda retries)
    with pytest.raises(ClientError, match="ThrottlingException"):
        world.router(event)

    # Then Lambda's retry sends the SMS, and repeats nothing else (the bucket row is rewritten)
    assert world.outcomes(world.router(event)) == redelivered(sms="done")
    assert world.sent() == once_each(store=2)
    assert len(bucket(world.aws)) == 1


def test_a_throttled_actions_reload_keeps_the_actions_loaded_before(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = world.deps.actions
    assert world.outcomes(world.router(message("1", "alarm/x"))) == everything("done")
    loads = {"n": 0}

    def throttled() -> Any:
        loads["n"] += 1
        raise FAULTS["dynamodb-throttling"]("Query")

    monkeypatch.setattr(source, "_load", throttled)
    result = world.router(message("2", "alarm/x"))
    assert world.outcomes(result) == everything("done")
    assert loads["n"] == 1


@no_metrics_yet
def test_a_first_actions_load_that_fails_fails_the_invocation(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mqtt_actions.router import ActionsSource

    def throttled() -> Any:
        raise FAULTS["dynamodb-throttling"]("Query")

    monkeypatch.setattr(world.deps, "actions", ActionsSource(throttled, 0, clock=lambda: 0.0))
    with pytest.raises(ClientError):
        world.router(message("1", "alarm/x"))
    assert world.sent() == dict.fromkeys(ACTION_IDS, 0)


def test_a_throttled_inspector_does_not_stop_the_actions(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    faulty = Faulty(world.aws.dynamodb, "batch_write_item", [FAULTS["5xx"]] * 20)
    monkeypatch.setattr(world.deps.inspector, "_client", faulty)
    assert world.outcomes(world.router(message("1", "alarm/x"))) == everything("done")
    assert world.sent() == dict.fromkeys(ACTION_IDS, 1)
