"""The live inspector against moto (InspectorTable created from template.yaml): the lifecycle
handler for every sample in events/lifecycle, duplicates, reordering, TTL, router outcomes through
DynamoInspector, and every query path."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mqtt_actions.adapters.inspector import DynamoInspector, InspectorWriteError
from mqtt_actions.inspector import SHARDS, EntryType, InspectorEntry
from mqtt_actions.lifecycle import parse_lifecycle
from mqtt_actions.ports import ActionResult, MessageRecord, Outcome
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events" / "lifecycle"
SAMPLES = sorted(p.stem for p in EVENTS.glob("*.json"))
T0 = 1_764_072_000_000  # 2025-11-25T12:00:00Z
HOUR = 3_600_000
DAY_S = 86_400
NOW_S = (T0 + 3 * HOUR) / 1000  # the fixed clock of the adapter tests


class Context:
    function_name = "InspectorFunction"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:InspectorFunction"
    aws_request_id = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def sample(name: str, **change: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data | change


Handler = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture
def handler(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Handler]:
    from functions.inspector import app

    monkeypatch.setenv("INSPECTOR_TABLE", aws_env.tables["InspectorTable"])
    monkeypatch.setenv("INSPECTOR_RETENTION_DAYS", "7")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", aws_env.queues["DeadLetterQueue"])
    app.settings.cache_clear()
    app.deps.cache_clear()

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = app.lambda_handler(event, Context())
        return result

    yield invoke
    app.settings.cache_clear()
    app.deps.cache_clear()


@pytest.fixture
def inspector(aws_env: Aws) -> DynamoInspector:
    return DynamoInspector(
        aws_env.tables["InspectorTable"], aws_env.dynamodb, retention_days=7, clock=lambda: NOW_S
    )


def items(aws_env: Aws) -> list[dict[str, Any]]:
    page = aws_env.dynamodb.scan(TableName=aws_env.tables["InspectorTable"])
    found: list[dict[str, Any]] = page["Items"]
    return found


# --- the lifecycle handler ----------------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_every_lifecycle_sample_is_stored(
    name: str, handler: Handler, inspector: DynamoInspector, aws_env: Aws
) -> None:
    event = sample(name)
    result = handler(event)
    assert "error" not in result
    got = inspector.query(device=event["clientId"])
    assert len(got) == 1
    assert got[0].time == event["timestamp"]
    assert got[0].type.value == result["type"]
    assert got[0].sk == result["sk"]
    assert aws_env.dead_letters() == []


def test_sample_set_covers_every_shape() -> None:
    kinds = {parse_lifecycle(sample(n)).event_type for n in SAMPLES}
    assert kinds == {"connected", "disconnected", "connect_failed", "subscribed", "unsubscribed"}
    reasons = {sample(n).get("disconnectReason") for n in SAMPLES} - {None}
    assert reasons == {"CLIENT_INITIATED_DISCONNECT", "CONNECTION_LOST"}


def test_disconnect_records_the_last_will_answer(
    handler: Handler, inspector: DynamoInspector
) -> None:
    handler(sample("disconnected_connection_lost"))
    handler(sample("disconnected_client_initiated"))
    lost = inspector.query(device="sensor-02")[0]
    clean = inspector.query(device="sensor-01")[0]
    assert (lost.details["last_will"], lost.details["last_will_note"]) == (True, "sent")
    assert (clean.details["last_will"], clean.details["last_will_note"]) == (False, "not sent")


def test_duplicate_deliveries_are_stored_once(handler: Handler, aws_env: Aws) -> None:
    for name in SAMPLES:
        handler(sample(name))
        handler(sample(name))
    handler(sample("connected", event_kind="connected"))  # a field a rule might add: same event
    assert len(items(aws_env)) == len(SAMPLES)


def test_an_older_version_arriving_later_reads_back_in_order(
    handler: Handler, inspector: DynamoInspector
) -> None:
    # Given session 2's connect stamped before session 1's disconnect (clocks of two broker
    # nodes), delivered newest first
    connect_2 = sample("connected", sessionIdentifier="s2", versionNumber=8, timestamp=T0 + 100)
    disconnect_1 = sample(
        "disconnected_client_initiated", sessionIdentifier="s1", versionNumber=7, timestamp=T0 + 150
    )
    connect_1 = sample("connected", sessionIdentifier="s1", versionNumber=7, timestamp=T0)
    for event in (connect_2, disconnect_1, connect_1):
        handler(event)
    # When read back, Then versionNumber decides: connect 1, disconnect 1, connect 2
    got = inspector.query(device="sensor-01")
    assert [(e.type.value, e.session) for e in got] == [
        ("connect", "s1"),
        ("disconnect", "s1"),
        ("connect", "s2"),
    ]


def test_ttl_is_set_from_the_retention_days(handler: Handler, aws_env: Aws) -> None:
    before = int(time.time())
    handler(sample("connected"))
    after = int(time.time())
    (item,) = items(aws_env)
    expires = int(item["expires_at"]["N"])
    assert before + 7 * DAY_S <= expires <= after + 7 * DAY_S
    ttl = aws_env.dynamodb.describe_time_to_live(TableName=aws_env.tables["InspectorTable"])
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"


def test_invalid_event_goes_to_the_dead_letter_queue_with_the_reason(
    handler: Handler, aws_env: Aws
) -> None:
    event = sample("disconnected_connection_lost")
    del event["disconnectReason"]
    result = handler(event)
    assert result == {
        "error": "invalid lifecycle event: disconnected.disconnectReason: Field required"
    }
    (letter,) = aws_env.dead_letters()
    assert letter == {
        "kind": "invalid_lifecycle_event",
        "reason": result["error"],
        "event": event,
    }
    assert items(aws_env) == []


def test_unknown_event_type_goes_to_the_dead_letter_queue(handler: Handler, aws_env: Aws) -> None:
    result = handler(sample("connected", eventType="rebooted"))
    assert "'rebooted'" in result["error"]
    assert [d["kind"] for d in aws_env.dead_letters()] == ["invalid_lifecycle_event"]


def test_a_failed_write_raises_so_lambda_retries(
    handler: Handler, aws_env: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INSPECTOR_TABLE", "no-such-table")
    from functions.inspector import app

    app.settings.cache_clear()
    app.deps.cache_clear()
    with pytest.raises(ClientError):
        handler(sample("connected"))


# --- router records through DynamoInspector ---------------------------------------------------


def message(traceid: str = "trace-1", *, device: str = "sensor-01", at: int = T0) -> MessageRecord:
    return MessageRecord(
        device=device,
        topic=f"home/{device}/temperature",
        traceid=traceid,
        timestamp=at,
        size=25,
        preview='{"temperature": 31.5}',
        points=1,
        hops=1,
        matched=len(Outcome),
    )


ALL_OUTCOMES = [
    ActionResult(action_id="store", action_type="insert_bucket", outcome=Outcome.DONE),
    ActionResult(
        action_id="hook", action_type="webhook", outcome=Outcome.FAILED, reason="HTTP 500"
    ),
    ActionResult(
        action_id="sms",
        action_type="sms",
        outcome=Outcome.THROTTLED,
        reason="rate limit of 10 per 60 s reached",
    ),
    ActionResult(
        action_id="hot",
        action_type="email",
        outcome=Outcome.CONDITION_FALSE,
        reason="temperature 31.5 is not > 40",
    ),
    ActionResult(
        action_id="echo",
        action_type="mqtt_publish",
        outcome=Outcome.LOOP_REFUSED,
        reason="message has travelled 4 hops",
    ),
    ActionResult(
        action_id="keep",
        action_type="insert_bucket",
        outcome=Outcome.POINTS_REFUSED,
        reason="variable longer than 100 characters",
    ),
    ActionResult(
        action_id="mail", action_type="email", outcome=Outcome.REFUSED, reason="no EMAIL_SENDER"
    ),
    ActionResult(
        action_id="again",
        action_type="sms",
        outcome=Outcome.DUPLICATE,
        reason="already ran for traceid trace-1; not repeated",
        detail={"previous": "done"},
    ),
]


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


# --- queries ----------------------------------------------------------------------------------


def fill(inspector: DynamoInspector, devices: int, hours: int, per_hour: int) -> int:
    """Publishes of `devices` devices over `hours` hours ending at T0 + 2h59m."""
    count = 0
    start = T0 + 3 * HOUR - hours * HOUR
    for d in range(devices):
        for h in range(hours):
            for n in range(per_hour):
                at = start + h * HOUR + (n * 997 + d * 31) % HOUR
                inspector.record_message(message(f"t-{d}-{h}-{n}", device=f"dev-{d:02d}", at=at))
                count += 1
    return count


def test_one_device_over_a_time_range(inspector: DynamoInspector) -> None:
    for i in range(10):
        inspector.record_message(message(f"t{i}", at=T0 + i * 1000))
    inspector.record_message(message("other", device="sensor-99", at=T0 + 5000))
    got = inspector.query(device="sensor-01", since_ms=T0 + 2000, until_ms=T0 + 6000)
    assert [e.time for e in got] == [T0 + i * 1000 for i in range(2, 7)]  # bounds included
    assert {e.device for e in got} == {"sensor-01"}


def test_one_device_newest_n_oldest_first(inspector: DynamoInspector) -> None:
    for i in range(10):
        inspector.record_message(message(f"t{i}", at=T0 + i * 1000))
    got = inspector.query(device="sensor-01", limit=3)
    assert [e.time for e in got] == [T0 + 7000, T0 + 8000, T0 + 9000]


def test_all_devices_across_shards_and_hours(inspector: DynamoInspector, aws_env: Aws) -> None:
    total = fill(inspector, devices=12, hours=3, per_hour=4)
    shards = {it["hour_shard"]["S"] for it in items(aws_env)}
    assert len(shards) == 3 * SHARDS  # every shard of every hour took writes
    got = inspector.query(since_ms=T0, limit=1000)
    assert len(got) == total
    assert [e.time for e in got] == sorted(e.time for e in got)
    assert len({e.device for e in got}) == 12


def test_all_devices_newest_n_across_hours(inspector: DynamoInspector) -> None:
    fill(inspector, devices=5, hours=3, per_hour=6)
    everything = inspector.query(since_ms=T0, limit=1000)
    got = inspector.query(since_ms=T0, limit=7)
    assert got == everything[-7:]


def test_all_devices_time_range_is_inclusive_and_exact(inspector: DynamoInspector) -> None:
    fill(inspector, devices=4, hours=3, per_hour=5)
    everything = inspector.query(since_ms=T0, limit=1000)
    lo, hi = everything[3].time, everything[-4].time
    got = inspector.query(since_ms=lo, until_ms=hi, limit=1000)
    assert got == [e for e in everything if lo <= e.time <= hi]


def test_type_filter_on_both_paths(
    handler: Handler, inspector: DynamoInspector, aws_env: Aws
) -> None:
    for name in SAMPLES:
        handler(sample(name))
    inspector.record_message(message(at=T0 + 5))
    inspector.record_outcomes(message(at=T0 + 5), ALL_OUTCOMES[:2])
    one = inspector.query(device="sensor-01", types=[EntryType.SUBSCRIBE, "unsubscribe"])
    assert [e.type.value for e in one] == ["subscribe", "unsubscribe"]
    every = inspector.query(since_ms=T0 - HOUR, types=["disconnect"])
    assert sorted(e.device for e in every) == ["sensor-01", "sensor-02"]
    actions = inspector.query(since_ms=T0 - HOUR, types=["action"], limit=1)
    assert [e.details["action_id"] for e in actions] == ["store"]  # newest key at that ms


def test_all_devices_reads_no_further_back_than_the_retention(aws_env: Aws) -> None:
    # Items past their TTL may linger a while before DynamoDB deletes them; the fan-out over
    # hours stops at the retention (+1 day) instead of walking back to since_ms=0.
    table = aws_env.tables["InspectorTable"]
    inspector = DynamoInspector(table, aws_env.dynamodb, retention_days=1, clock=lambda: NOW_S)
    old = T0 - 3 * 24 * HOUR
    inspector.record_message(message("old", at=old))
    inspector.record_message(message("new", at=T0))
    assert [e.uid for e in inspector.query(since_ms=0, limit=10)] == ["new"]
    assert [e.uid for e in inspector.query(device="sensor-01", since_ms=0)] == ["old", "new"]


def test_entries_round_trip(inspector: DynamoInspector) -> None:
    entry = inspector.record_lifecycle(parse_lifecycle(sample("disconnected_connection_lost")))
    (got,) = inspector.query(device="sensor-02")
    assert got == entry
    assert isinstance(got, InspectorEntry)
