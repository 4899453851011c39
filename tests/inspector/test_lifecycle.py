"""Lifecycle events (connect, disconnect, subscribe...): the entry each one becomes, its key,
and the lifecycle handler storing it (every sample, duplicates, reordering, TTL, failures)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions.bindings import Binding, DeviceIdentity
from mqtt_actions.inspector import EntryType, InspectorEntry, lifecycle_entry
from mqtt_actions.lifecycle import parse_lifecycle
from mqtt_actions.presence import record_presence
from tests.inspector.conftest import Handler
from tests.inspector.support import (
    DAY_S,
    SAMPLES,
    T0,
    items,
    sample,
)
from tests.integration.conftest import Aws
from tests.support.bindings import MemoryBindings

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


class Log:
    def record_lifecycle(
        self, event: Any, device: str | None = None, extra: Any = None
    ) -> InspectorEntry:
        return lifecycle_entry(event, device, extra)


ESP32 = Binding("esp32-7f3a", "sensor-01", "c-1", T0 - 60_000, T0 // 1000 + 3_600)


@pytest.mark.parametrize("name", ["connected", "disconnected_connection_lost", "subscribed"])
def test_a_token_devices_lifecycle_is_filed_under_its_bound_device_not_its_client_id(
    name: str,
) -> None:
    event = parse_lifecycle(sample(name, clientId="esp32-7f3a", timestamp=T0))
    got = record_presence(
        event, Log(), MemoryBindings(ESP32), DeviceIdentity.BINDING, now_s=T0 / 1000
    )
    assert got.device == "sensor-01"
    assert got.details["client_id"] == "esp32-7f3a"
    unbound = parse_lifecycle(sample(name, clientId="sensor-02", timestamp=T0))
    certificate = record_presence(
        unbound, Log(), MemoryBindings(), DeviceIdentity.BINDING, now_s=T0 / 1000
    )
    assert certificate.device == "sensor-02"
    assert "client_id" not in certificate.details


def test_a_principal_never_names_the_device() -> None:
    event = parse_lifecycle(sample("connected", clientId="esp32", principalIdentifier="TpumpZ2d7"))
    got = record_presence(event, Log(), MemoryBindings(), DeviceIdentity.BINDING, now_s=T0 / 1000)
    assert got.device == "esp32"


@pytest.mark.parametrize(
    ("reason", "at", "ends"),
    [
        ("CONNECTION_LOST", T0, True),
        ("CLIENT_INITIATED_DISCONNECT", T0, True),
        ("API_INITIATED_DISCONNECT", T0, True),
        ("DUPLICATE_CLIENTID", T0, False),  # a newer connection holds the client id
        ("CONNECTION_LOST", ESP32.bound_at_ms - 1, False),  # bound after: a newer connection
    ],
)
def test_a_disconnect_ends_the_binding_of_its_connection_only(
    reason: str, at: int, ends: bool
) -> None:
    bound = MemoryBindings(ESP32)
    event = parse_lifecycle(
        sample("disconnected_connection_lost", clientId="esp32-7f3a", timestamp=at)
        | {"disconnectReason": reason}
    )
    got = record_presence(event, Log(), bound, DeviceIdentity.BINDING, now_s=T0 / 1000)
    assert got.device == "sensor-01"  # recorded under the device before the binding ends
    kept = bound.rows["esp32-7f3a"]  # ended, kept for the connection's last messages
    assert (kept.ended_at_ms == at) is ends
    assert kept.holds(T0 / 1000) is not ends


def test_a_failed_connect_names_the_device_holding_its_client_id() -> None:
    failed = sample("connect_failed_authorization", clientId="esp32-7f3a", timestamp=T0)
    event = parse_lifecycle(failed)
    got = record_presence(
        event, Log(), MemoryBindings(ESP32), DeviceIdentity.BINDING, now_s=T0 / 1000
    )
    assert got.type is EntryType.CONNECT_FAILED
    assert got.details["held_by"] == "sensor-01"
    assert got.details["client_id"] == "esp32-7f3a"
    assert "held by a live connection of device 'sensor-01'" in got.details["note"]


def test_without_token_checking_the_client_id_is_the_device() -> None:
    event = parse_lifecycle(sample("connected", clientId="Token-less"))
    got = record_presence(event, Log(), MemoryBindings(ESP32), DeviceIdentity.CLIENT_ID)
    assert got.device == "Token-less"


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


def test_two_client_ids_of_one_token_device_keep_time_order() -> None:
    """versionNumber counts per client id: a device's two client ids are never compared by it.
    Here client b's numbers are lower than client a's (a stack restarted between them, or two
    counters): time decides between them, versionNumber only within one client id."""
    from mqtt_actions.inspector import order_entries

    def event(name: str, client: str, version: int, at: int) -> Any:
        fields = {"clientId": client, "versionNumber": version}
        # Both client ids bound to meter-7 (the inspector reads the binding: record_presence).
        return lifecycle_entry(
            parse_lifecycle(sample(name, timestamp=T0 + at, **fields)), "meter-7"
        )

    entries = [
        event("connected", "meter-7-a", 40, 0),
        event("disconnected_client_initiated", "meter-7-a", 41, 100),
        event("connected", "meter-7-b", 1, 200),
        event("connected", "meter-7-a", 42, 300),
        event("disconnected_client_initiated", "meter-7-b", 2, 400),
    ]
    assert {e.device for e in entries} == {"meter-7"}
    got = order_entries(reversed(entries))
    assert [(e.details["client_id"], e.type.value) for e in got] == [
        ("meter-7-a", "connect"),
        ("meter-7-a", "disconnect"),
        ("meter-7-b", "connect"),
        ("meter-7-a", "connect"),
        ("meter-7-b", "disconnect"),
    ]


def test_a_storm_of_refused_connects_is_sampled_with_a_count(
    handler: Handler, aws_env: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused CONNECTs under made-up client ids made one inspector entry (and one device) each,
    without limit (issue #23): at most REFUSALS_PER_MINUTE a window are recorded, and the next
    one recorded carries how many were not."""
    from functions.inspector import app
    from mqtt_actions.presence import REFUSALS_PER_MINUTE, RefusalSampler

    clock = [0.0]
    sampler = RefusalSampler()
    monkeypatch.setattr(app, "refusals", lambda: sampler)
    monkeypatch.setattr(app.time, "time", lambda: clock[0])

    def refused(n: int) -> dict[str, Any]:
        event = sample("connect_failed_authorization")
        return handler(event | {"clientId": f"storm-{n}", "sessionIdentifier": f"s-{n}"})

    results = [refused(n) for n in range(200)]

    assert sum("sk" in r for r in results) == REFUSALS_PER_MINUTE
    assert results[-1] == {"sampled_out": True, "suppressed": 200 - REFUSALS_PER_MINUTE}
    assert len(items(aws_env)) == REFUSALS_PER_MINUTE
    clock[0] = 60.0  # the next minute: recorded again, with the count of those that were not
    assert "sk" in refused(200)
    log = DynamoInspector(aws_env.tables["InspectorTable"], aws_env.dynamodb, retention_days=7)
    (entry,) = log.query(device="storm-200")
    assert entry.details["suppressed_before"] == 200 - REFUSALS_PER_MINUTE
    assert aws_env.dead_letters() == []


def test_the_sampler_counts_per_window() -> None:
    from mqtt_actions.presence import RefusalSampler

    sampler = RefusalSampler(per_window=2, window_s=10)
    assert [sampler.admit(t) for t in (0, 1, 2, 3)] == [0, 0, None, None]
    assert [sampler.admit(t) for t in (10, 11, 12)] == [2, 0, None]
