"""A message and what its actions did: the entries they become, and the adapter recording them
(one write per message, retries, batches, write failures, retention)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from mqtt_actions.adapters.inspector import DynamoInspector, InspectorWriteError
from mqtt_actions.inspector import PREVIEW_LIMIT, EntryType, message_entry, outcome_entries
from mqtt_actions.lifecycle import parse_lifecycle
from mqtt_actions.ports import ActionResult, Outcome
from tests.inspector.support import (
    ALL_OUTCOMES,
    NOW_S,
    T0,
    items,
    message,
    record,
    sample,
)
from tests.integration.conftest import Aws

# --- entries from the router -------------------------------------------------------------------


def test_message_entry() -> None:
    got = message_entry(record())
    assert (got.device, got.type, got.time, got.uid, got.traceid) == (
        "sensor-01",
        EntryType.PUBLISH,
        T0,
        "5f0c7a4e-1111-2222-3333-444455556666",
        "5f0c7a4e-1111-2222-3333-444455556666",
    )
    assert got.details == {
        "topic": "home/kitchen/temperature",
        "size": 12,
        "preview": '{"t": 21.5}',
        "points": 1,
        "hops": 0,
        "matched": 2,
    }


def test_preview_is_kept_to_1_kb() -> None:
    got = message_entry(record(preview="x" * 5000, size=5000))
    assert got.details["preview"] == "x" * PREVIEW_LIMIT + "…"


def test_a_binary_preview_is_kept_whole_and_marked() -> None:
    kept = "A" * PREVIEW_LIMIT  # the router's base64 of 192 bytes
    got = message_entry(record(preview=kept, size=5000, encoding="base64"))
    assert (got.details["preview"], got.details["encoding"]) == (kept, "base64")
    assert "encoding" not in message_entry(record(preview="x", size=1)).details


def test_outcome_entries_one_per_action() -> None:
    results = [
        ActionResult(action_id="store", action_type="insert_bucket", outcome=Outcome.DONE),
        ActionResult(
            action_id="sms", action_type="sms", outcome=Outcome.FAILED, reason="SNS throttled"
        ),
    ]
    got = outcome_entries(record(), results)
    assert [e.type for e in got] == [EntryType.ACTION, EntryType.ACTION]
    assert [e.details["outcome"] for e in got] == ["done", "failed"]
    assert got[1].details["reason"] == "SNS throttled"
    assert len({e.key for e in got}) == 2


def test_a_retry_with_another_outcome_is_a_second_entry_the_same_outcome_is_not() -> None:
    failed = ActionResult(action_id="hook", action_type="webhook", outcome=Outcome.FAILED)
    done = ActionResult(action_id="hook", action_type="webhook", outcome=Outcome.DONE)
    first = outcome_entries(record(), [failed])[0]
    assert outcome_entries(record(), [failed])[0].key == first.key
    assert outcome_entries(record(), [done])[0].key != first.key


def test_router_publish_and_every_outcome_are_recorded(inspector: DynamoInspector) -> None:
    inspector.record_message(message())
    inspector.record_outcomes(message(), ALL_OUTCOMES)
    got = inspector.query(device="sensor-01")
    assert got[0].type is EntryType.PUBLISH
    assert got[0].details == {
        "topic": "home/sensor-01/temperature",
        "size": 25,
        "preview": '{"temperature": 31.5}',
        "points": 1,
        "hops": 1,
        "matched": len(Outcome),
    }
    actions = {e.details["action_id"]: e.details for e in got[1:]}
    assert {a: d["outcome"] for a, d in actions.items()} == {
        r.action_id: r.outcome.value for r in ALL_OUTCOMES
    }
    assert actions["hook"]["reason"] == "HTTP 500"
    assert actions["again"]["detail"] == {"previous": "done"}
    assert all(e.traceid == "trace-1" and e.qos is None for e in got)


def test_a_retried_message_is_recorded_once_and_a_new_outcome_is_added(aws_env: Aws) -> None:
    # Given a message whose webhook failed twice (two deliveries), then succeeded on a third
    failed = ActionResult(action_id="hook", action_type="webhook", outcome=Outcome.FAILED)
    done = ActionResult(action_id="hook", action_type="webhook", outcome=Outcome.DONE)
    clock = iter([NOW_S, NOW_S, NOW_S + 1, NOW_S + 1, NOW_S + 2, NOW_S + 2])
    inspector = DynamoInspector(
        aws_env.tables["InspectorTable"], aws_env.dynamodb, 7, clock=lambda: next(clock)
    )
    for result in (failed, failed, done):
        inspector.record_message(message())
        inspector.record_outcomes(message(), [result])
    # Then the publish is stored once, the identical failure once, and the story reads in order
    got = inspector.query(device="sensor-01")
    assert [(e.type.value, e.details.get("outcome")) for e in got] == [
        ("publish", None),
        ("action", "failed"),
        ("action", "done"),
    ]
    # one item per delivery that told something new: (publish, failed) once, (publish, done)
    assert len(items(aws_env)) == 2


class CountingClient:
    """The real (moto) client, counting BatchWriteItem calls."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.batches = 0

    def batch_write_item(self, **kwargs: Any) -> Any:
        self.batches += 1
        return self._client.batch_write_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_a_message_and_its_outcomes_are_one_write(aws_env: Aws) -> None:
    client = CountingClient(aws_env.dynamodb)
    inspector = DynamoInspector(aws_env.tables["InspectorTable"], client, 7)
    inspector.record_message(message())
    assert client.batches == 0  # held for its outcomes
    inspector.record_outcomes(message(), ALL_OUTCOMES)
    assert client.batches == 1
    assert len(items(aws_env)) == 1  # the publish and every outcome in one item


def test_a_message_that_matched_nothing_is_written_at_once(aws_env: Aws) -> None:
    client = CountingClient(aws_env.dynamodb)
    inspector = DynamoInspector(aws_env.tables["InspectorTable"], client, 7)
    inspector.record_message(message().model_copy(update={"matched": 0}))
    assert client.batches == 1
    assert [json.loads(i["entry"]["S"])["type"] for i in items(aws_env)] == ["publish"]


@pytest.mark.parametrize(
    "then",
    [
        pytest.param(lambda i: i.record_message(message("t-next")), id="another message"),
        pytest.param(lambda i: i.record_outcomes(message("t-other"), []), id="other outcomes"),
        pytest.param(lambda i: i.query(device="nobody"), id="a query"),
        pytest.param(lambda i: i.flush(), id="flush"),
    ],
)
def test_a_held_publish_entry_is_never_left_behind(
    aws_env: Aws, then: Callable[[DynamoInspector], object]
) -> None:
    # Given a message whose outcomes never came (its route crashed)
    inspector = DynamoInspector(aws_env.tables["InspectorTable"], aws_env.dynamodb, 7)
    inspector.record_message(message("t-crashed"))
    # When the inspector does anything else, the held entry is written first
    then(inspector)
    stored = {i["traceid"]["S"] for i in items(aws_env)}
    assert "t-crashed" in stored


def test_more_than_one_batch_of_outcomes(inspector: DynamoInspector) -> None:
    many = [
        ActionResult(action_id=f"a{i:02d}", action_type="webhook", outcome=Outcome.DONE)
        for i in range(60)
    ]
    inspector.record_outcomes(message(), many)
    assert len(inspector.query(device="sensor-01", limit=500)) == 60


def test_router_side_write_failures_are_logged_not_raised(
    aws_env: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    broken = DynamoInspector("no-such-table", aws_env.dynamodb, retention_days=7)
    broken.record_message(message())  # the message and its actions go on
    broken.record_outcomes(message(), ALL_OUTCOMES[:1])
    failures = [r for r in caplog.records if r.getMessage().startswith("inspector write failed")]
    assert [r.levelname for r in failures] == ["ERROR"]  # one write per message
    assert all("ResourceNotFoundException" in r.__dict__["error"] for r in failures)
    # the entries themselves are in the log line: nothing is lost
    logged = [e["type"] for r in failures for e in r.__dict__["entries"]]
    assert logged == ["publish", "action"]


class Throttling:
    """A DynamoDB client that leaves `rounds` batches unprocessed, then accepts."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.calls = 0

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        if self.calls <= self.rounds:
            return {"UnprocessedItems": RequestItems}
        return {"UnprocessedItems": {}}


def test_unprocessed_items_are_retried() -> None:
    client = Throttling(rounds=3)
    pauses: list[float] = []
    inspector = DynamoInspector("t", client, 7, clock=lambda: NOW_S, sleep=pauses.append)
    inspector.record_lifecycle(parse_lifecycle(sample("connected")))
    assert client.calls == 4
    assert len(pauses) == 3


def test_unprocessed_items_are_bounded() -> None:
    client = Throttling(rounds=1000)
    inspector = DynamoInspector("t", client, 7, clock=lambda: NOW_S, sleep=lambda _s: None)
    with pytest.raises(InspectorWriteError, match="1 inspector entries unprocessed after 8 tries"):
        inspector.record_lifecycle(parse_lifecycle(sample("connected")))
    inspector.record_message(message())
    inspector.record_outcomes(message(), ALL_OUTCOMES[:1])  # router side: logged, not raised
    assert client.calls == 16


def test_retention_must_be_positive(aws_env: Aws) -> None:
    with pytest.raises(ValueError, match="retention_days must be at least 1"):
        DynamoInspector("t", aws_env.dynamodb, retention_days=0)
