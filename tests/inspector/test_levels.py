"""InspectorLevel (which messages are recorded: all, outcomes, errors) and the one-item-per-message
bundles, pure and on moto."""

from __future__ import annotations

import pytest

from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions.inspector import (
    ITEM_ENTRIES_BYTES,
    InspectorEntry,
    InspectorLevel,
    bundles,
    message_entry,
    outcome_entries,
    unpack,
    worth_recording,
)
from mqtt_actions.ports import ActionResult, MessageRecord, Outcome
from tests.integration.conftest import Aws

MESSAGE = MessageRecord(
    device="sensor-01",
    topic="devices/sensor-01/telemetry",
    traceid="5f0c7a4e-1111-2222-3333-444455556666",
    timestamp=1_764_072_000_000,
    size=57,
    preview='{"variable": "temperature", "value": 21.53, "unit": "°C"}',
    points=1,
    matched=3,
)


def result(action_type: str, outcome: Outcome, action_id: str = "a") -> ActionResult:
    return ActionResult(action_id=action_id, action_type=action_type, outcome=outcome)


STORED = result("insert_bucket", Outcome.DONE)
QUIET = result("sms", Outcome.CONDITION_FALSE)
SENT = result("sms", Outcome.DONE)


@pytest.mark.parametrize(
    ("results", "all_", "outcomes", "errors"),
    [
        ([], True, False, False),  # matched nothing
        ([STORED, QUIET], True, False, False),  # only stored
        ([STORED, SENT], True, True, False),
        ([result("webhook", Outcome.DUPLICATE)], True, True, False),
        ([result("sms", Outcome.IN_PROGRESS)], True, True, False),
        ([STORED, result("webhook", Outcome.FAILED)], True, True, True),
        ([result("sms", Outcome.THROTTLED)], True, True, True),
        ([result("email", Outcome.REFUSED)], True, True, True),
        ([result("insert_bucket", Outcome.POINTS_REFUSED)], True, True, True),
        ([result("mqtt_publish", Outcome.LOOP_REFUSED)], True, True, True),
    ],
)
def test_what_each_level_records(
    results: list[ActionResult], all_: bool, outcomes: bool, errors: bool
) -> None:
    got = [worth_recording(level, results) for level in InspectorLevel]
    assert got == [all_, outcomes, errors]


def stored(entries: list[InspectorEntry]) -> list[InspectorEntry]:
    """What a reader gets back from the items `bundles` makes."""
    out = []
    for bundle in bundles(entries):
        fields = {"device": bundle.primary.device, "type": bundle.primary.type.value}
        fields |= {"time": bundle.primary.time, "traceid": bundle.primary.traceid}
        out += unpack(fields, bundle.entry_json(), bundle.more_json())
    return out


def test_a_message_and_its_outcomes_are_one_item_that_reads_back_the_same_entries() -> None:
    results = [
        STORED,
        ActionResult(
            action_id="hook",
            action_type="webhook",
            outcome=Outcome.FAILED,
            reason="HTTP 500",
            detail={"url": "https://example.com/in"},
        ),
        result("sms", Outcome.CONDITION_FALSE, "too-hot"),
    ]
    entries = [message_entry(MESSAGE), *outcome_entries(MESSAGE, results)]
    (bundle,) = bundles(entries)
    assert sorted(stored(entries), key=lambda e: e.sk) == sorted(entries, key=lambda e: e.sk)
    # the item's JSON, keys included, stays under one write unit (1 KB)
    size = len(bundle.entry_json().encode()) + len((bundle.more_json() or "").encode())
    assert size + 300 < 1024


def test_an_identical_retry_is_the_same_item_another_outcome_is_another() -> None:
    first = [message_entry(MESSAGE), *outcome_entries(MESSAGE, [SENT])]
    again = [message_entry(MESSAGE), *outcome_entries(MESSAGE, [SENT])]
    other = [message_entry(MESSAGE), *outcome_entries(MESSAGE, [result("sms", Outcome.FAILED)])]
    assert bundles(first)[0].sk == bundles(again)[0].sk != bundles(other)[0].sk


def test_a_message_with_huge_outcomes_is_split_below_the_item_limit() -> None:
    many = [
        ActionResult(
            action_id=f"a{i:04d}",
            action_type="webhook",
            outcome=Outcome.FAILED,
            reason="x" * 2000,
        )
        for i in range(400)
    ]
    entries = [message_entry(MESSAGE), *outcome_entries(MESSAGE, many)]
    packed = bundles(entries)
    assert len(packed) > 1
    assert all(len((b.more_json() or "").encode()) <= ITEM_ENTRIES_BYTES for b in packed)
    assert len(stored(entries)) == len(entries)


STORED_AT_STORE = ActionResult(action_id="store", action_type="insert_bucket", outcome=Outcome.DONE)
FAILED_AT_HOOK = ActionResult(
    action_id="hook", action_type="webhook", outcome=Outcome.FAILED, reason="HTTP 500"
)


def level_message(traceid: str, matched: int) -> MessageRecord:
    return MessageRecord(
        device="sensor-01",
        topic="devices/sensor-01/telemetry",
        traceid=traceid,
        timestamp=1_764_072_000_000,
        size=2,
        preview="{}",
        points=1,
        matched=matched,
    )


@pytest.mark.parametrize("level", list(InspectorLevel))
def test_each_level_on_a_quiet_a_failing_and_an_unmatched_message(
    aws_env: Aws, level: InspectorLevel
) -> None:
    inspector = DynamoInspector(aws_env.tables["InspectorTable"], aws_env.dynamodb, 7, level=level)
    inspector.record_message(level_message("quiet", 1))
    inspector.record_outcomes(level_message("quiet", 1), [STORED_AT_STORE])
    inspector.record_message(level_message("loud", 2))
    inspector.record_outcomes(level_message("loud", 2), [STORED_AT_STORE, FAILED_AT_HOOK])
    inspector.record_message(level_message("nobody", 0))
    inspector.flush()
    got = {
        (e.traceid, e.type.value, e.details.get("outcome"))
        for e in inspector.query(device="sensor-01")
    }
    loud = {("loud", "publish", None), ("loud", "action", "done"), ("loud", "action", "failed")}
    if level is InspectorLevel.ALL:
        assert got == loud | {
            ("quiet", "publish", None),
            ("quiet", "action", "done"),
            ("nobody", "publish", None),
        }
    else:  # the failing message is kept whole, the others not at all
        assert got == loud
