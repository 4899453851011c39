"""Inspector entries and keys: deterministic ids, hour shards, reading order (pure, no AWS)."""

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.inspector import (
    PREVIEW_LIMIT,
    SHARDS,
    EntryType,
    InspectorEntry,
    hour_of,
    hour_shard,
    hours_newest_first,
    lifecycle_entry,
    message_entry,
    order_entries,
    outcome_entries,
    shard_of,
    time_key,
)
from mqtt_actions.lifecycle import parse_lifecycle
from mqtt_actions.ports import ActionResult, MessageRecord, Outcome

EVENTS = Path(__file__).resolve().parents[2] / "events" / "lifecycle"
T0 = 1_764_072_000_000  # 2025-11-25T12:00:00Z


def sample(name: str, **change: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data | change


def message(**change: Any) -> MessageRecord:
    base: dict[str, Any] = {
        "device": "sensor-01",
        "topic": "home/kitchen/temperature",
        "traceid": "5f0c7a4e-1111-2222-3333-444455556666",
        "timestamp": T0,
        "size": 12,
        "preview": '{"t": 21.5}',
        "points": 1,
        "hops": 0,
        "matched": 2,
    }
    return MessageRecord.model_validate(base | change)


def entry(device: str, kind: EntryType, time: int, uid: str, **kw: Any) -> InspectorEntry:
    return InspectorEntry(device=device, type=kind, time=time, uid=uid, **kw)


# --- entries from lifecycle events -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind", "version", "details"),
    [
        ("connected", EntryType.CONNECT, 7, {"ip": "192.0.2.10"}),
        (
            "disconnected_client_initiated",
            EntryType.DISCONNECT,
            7,
            {
                "reason": "CLIENT_INITIATED_DISCONNECT",
                "client_initiated": True,
                "last_will": False,
                "last_will_note": "not sent",
            },
        ),
        (
            "disconnected_connection_lost",
            EntryType.DISCONNECT,
            3,
            {"reason": "CONNECTION_LOST", "last_will": True, "last_will_note": "sent"},
        ),
        (
            "connect_failed_authorization",
            EntryType.CONNECT_FAILED,
            None,
            {"reason": "AUTHORIZATION_FAILED", "ip": "198.51.100.7"},
        ),
        (
            "subscribed",
            EntryType.SUBSCRIBE,
            None,
            {"topics": ["cmd/sensor-01", "ack/sensor-01/#"]},
        ),
        ("unsubscribed", EntryType.UNSUBSCRIBE, None, {"topics": ["ack/sensor-01/#"]}),
    ],
)
def test_lifecycle_entry(
    name: str, kind: EntryType, version: int | None, details: dict[str, Any]
) -> None:
    data = sample(name)
    got = lifecycle_entry(parse_lifecycle(data))
    assert (got.device, got.type, got.time, got.version) == (
        data["clientId"],
        kind,
        data["timestamp"],
        version,
    )
    assert got.details.items() >= details.items()
    assert got.qos is None
    assert got.details["principal"] == data["principalIdentifier"]


def test_the_same_event_twice_has_the_same_key() -> None:
    first = lifecycle_entry(parse_lifecycle(sample("connected")))
    again = lifecycle_entry(parse_lifecycle(sample("connected", extra="ignored")))
    assert first.key == again.key


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("connected", {"versionNumber": 8}),
        ("connected", {"sessionIdentifier": "another-session"}),
        ("subscribed", {"topics": ["other/topic"]}),
        ("connect_failed_authorization", {"ipAddress": "203.0.113.1"}),
    ],
)
def test_different_events_at_the_same_millisecond_have_different_keys(
    name: str, change: dict[str, Any]
) -> None:
    first = lifecycle_entry(parse_lifecycle(sample(name)))
    other = lifecycle_entry(parse_lifecycle(sample(name, **change)))
    assert first.time == other.time
    assert first.key != other.key


def test_connect_and_its_disconnect_share_a_version_but_not_a_key() -> None:
    connect = lifecycle_entry(parse_lifecycle(sample("connected", timestamp=T0)))
    disconnect = lifecycle_entry(
        parse_lifecycle(sample("disconnected_client_initiated", timestamp=T0))
    )
    assert connect.version == disconnect.version
    assert connect.key != disconnect.key


# --- entries from the router -------------------------------------------------------------------


def test_message_entry() -> None:
    got = message_entry(message())
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
    got = message_entry(message(preview="x" * 5000, size=5000))
    assert got.details["preview"] == "x" * PREVIEW_LIMIT + "…"


def test_outcome_entries_one_per_action() -> None:
    results = [
        ActionResult(action_id="store", action_type="insert_bucket", outcome=Outcome.DONE),
        ActionResult(
            action_id="sms", action_type="sms", outcome=Outcome.FAILED, reason="SNS throttled"
        ),
    ]
    got = outcome_entries(message(), results)
    assert [e.type for e in got] == [EntryType.ACTION, EntryType.ACTION]
    assert [e.details["outcome"] for e in got] == ["done", "failed"]
    assert got[1].details["reason"] == "SNS throttled"
    assert len({e.key for e in got}) == 2


def test_a_retry_with_another_outcome_is_a_second_entry_the_same_outcome_is_not() -> None:
    failed = ActionResult(action_id="hook", action_type="webhook", outcome=Outcome.FAILED)
    done = ActionResult(action_id="hook", action_type="webhook", outcome=Outcome.DONE)
    first = outcome_entries(message(), [failed])[0]
    assert outcome_entries(message(), [failed])[0].key == first.key
    assert outcome_entries(message(), [done])[0].key != first.key


# --- keys ----------------------------------------------------------------------------------------


def test_sort_key_is_time_then_type_then_uid() -> None:
    e = entry("d", EntryType.PUBLISH, 42, "abc")
    assert e.sk == "0000000000042#publish#abc"
    assert time_key(e) == "0000000000042#d#publish#abc"


def test_hours() -> None:
    assert hour_of(T0) == "2025-11-25T12"
    assert hours_newest_first(T0 - 1, T0 + 3_600_000) == [
        "2025-11-25T13",
        "2025-11-25T12",
        "2025-11-25T11",
    ]
    assert hours_newest_first(T0, T0) == ["2025-11-25T12"]
    assert hours_newest_first(T0, T0 - 1) == []


def test_hour_shard_is_stable_and_spreads_one_hour_over_every_shard() -> None:
    entries = [entry(f"dev-{i}", EntryType.PUBLISH, T0 + i, f"t{i}") for i in range(800)]
    shards = Counter(hour_shard(e) for e in entries)
    assert set(shards) == {f"2025-11-25T12#{n}" for n in range(SHARDS)}
    assert max(shards.values()) < 2 * 800 / SHARDS  # no shard takes twice its share
    assert shard_of("dev-1", "x") == shard_of("dev-1", "x")


def test_one_busy_device_also_spreads_over_the_shards() -> None:
    entries = [entry("busy", EntryType.PUBLISH, T0 + i, f"t{i}") for i in range(400)]
    assert len({hour_shard(e) for e in entries}) == SHARDS


# --- reading order -------------------------------------------------------------------------------


def test_order_is_by_time_and_publish_before_its_actions() -> None:
    action = entry("d", EntryType.ACTION, T0, "t#a#done")
    publish = entry("d", EntryType.PUBLISH, T0, "t")
    earlier = entry("e", EntryType.CONNECT, T0 - 5, "c", version=1)
    assert order_entries([action, publish, earlier]) == [earlier, publish, action]


def test_connects_and_disconnects_follow_version_number_when_clocks_disagree() -> None:
    # Session 2's connect is stamped before session 1's disconnect (another broker node's clock).
    c1 = entry("d", EntryType.CONNECT, T0, "c1", version=1)
    pub = entry("d", EntryType.PUBLISH, T0 + 10, "p")
    c2 = entry("d", EntryType.CONNECT, T0 + 20, "c2", version=2)
    d1 = entry("d", EntryType.DISCONNECT, T0 + 25, "d1", version=1)
    other = entry("x", EntryType.CONNECT, T0 + 22, "x", version=9)
    got = order_entries([c2, other, d1, pub, c1])
    assert [e.uid for e in got] == ["c1", "p", "d1", "x", "c2"]


def test_a_disconnect_stamped_at_the_same_ms_follows_its_connect() -> None:
    d = entry("d", EntryType.DISCONNECT, T0, "zz", version=4)
    c = entry("d", EntryType.CONNECT, T0, "aa", version=4)
    assert order_entries([d, c]) == [c, d]


def test_duplicates_are_read_once() -> None:
    e = entry("d", EntryType.PUBLISH, T0, "t")
    assert order_entries([e, e, e]) == [e]


@pytest.mark.parametrize("name", ["connected", "disconnected_connection_lost", "subscribed"])
def test_a_token_devices_lifecycle_is_filed_under_its_device_not_its_client_id(name: str) -> None:
    got = lifecycle_entry(
        parse_lifecycle(sample(name, clientId="esp32-7f3a", principalIdentifier="TsensorZ2d01"))
    )
    assert got.device == "sensor-01"
    assert got.details["client_id"] == "esp32-7f3a"
    certificate = lifecycle_entry(parse_lifecycle(sample(name, clientId="sensor-02")))
    assert certificate.device == "sensor-02"
    assert "client_id" not in certificate.details
