"""IoT Core lifecycle event models and the Last Will table by disconnectReason."""

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mqtt_actions.lifecycle import (
    LAST_WILL,
    Connected,
    ConnectFailed,
    Disconnected,
    DisconnectReason,
    Subscribed,
    Unsubscribed,
    describe,
    last_will_note,
    last_will_sent,
    parse_lifecycle,
)

EVENTS = Path(__file__).resolve().parents[2] / "events" / "lifecycle"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data


# --- Last Will, per the AWS developer guide ("Lifecycle events", disconnectReason table) -------

LAST_WILL_CASES = [
    ("CLIENT_INITIATED_DISCONNECT", False, "not sent"),
    ("AUTH_ERROR", None, "maybe: only if the connection was active before the error"),
    ("FORBIDDEN_ACCESS", None, "maybe: only if the connection was active before the error"),
    (
        "API_INITIATED_DISCONNECT",
        None,
        "maybe: sent unless DeleteConnection was called with preventWillMessage=true",
    ),
    ("CLIENT_ERROR", True, "sent"),
    ("CONNECTION_LOST", True, "sent"),
    ("DUPLICATE_CLIENTID", True, "sent"),
    ("MQTT_KEEP_ALIVE_TIMEOUT", True, "sent"),
    ("SERVER_ERROR", True, "sent"),
    ("SERVER_INITIATED_DISCONNECT", True, "sent"),
    ("THROTTLED", True, "sent"),
    ("WEBSOCKET_TTL_EXPIRATION", True, "sent"),
    ("CUSTOMAUTH_TTL_EXPIRATION", True, "sent"),
]


@pytest.mark.parametrize(("reason", "sent", "note"), LAST_WILL_CASES)
def test_last_will_by_disconnect_reason(reason: str, sent: bool | None, note: str) -> None:
    assert last_will_sent(reason) is sent
    assert last_will_note(reason) == note


def test_the_table_covers_every_documented_reason() -> None:
    assert {r for r, _, _ in LAST_WILL_CASES} == {r.value for r in DisconnectReason}
    assert set(LAST_WILL) == set(DisconnectReason)


def test_an_unknown_reason_is_accepted_and_answered_unknown() -> None:
    data = sample("disconnected_connection_lost") | {"disconnectReason": "NEW_ONE"}
    event = parse_lifecycle(data)
    assert isinstance(event, Disconnected)
    assert event.last_will is None
    assert last_will_note("NEW_ONE") == "unknown: 'NEW_ONE' is not in the Last Will table"


# --- every shape --------------------------------------------------------------------------------


def test_connected() -> None:
    event = parse_lifecycle(sample("connected"))
    assert isinstance(event, Connected)
    assert (event.client_id, event.timestamp) == ("sensor-01", 1764072000000)
    assert event.version_number == 7
    assert event.session_identifier == "a4666d2a7d844ae4ac5d7b38c9cb7967"
    assert event.ip_address == "192.0.2.10"
    assert event.thing_name is None


@pytest.mark.parametrize(
    ("name", "initiated", "reason", "will"),
    [
        ("disconnected_client_initiated", True, "CLIENT_INITIATED_DISCONNECT", False),
        ("disconnected_connection_lost", False, "CONNECTION_LOST", True),
    ],
)
def test_disconnected(name: str, initiated: bool, reason: str, will: bool) -> None:
    event = parse_lifecycle(sample(name))
    assert isinstance(event, Disconnected)
    assert event.client_initiated_disconnect is initiated
    assert event.disconnect_reason == reason
    assert event.last_will is will


def test_connect_failed() -> None:
    event = parse_lifecycle(sample("connect_failed_authorization"))
    assert isinstance(event, ConnectFailed)
    assert event.connect_failure_reason == "AUTHORIZATION_FAILED"
    assert event.ip_address == "198.51.100.7"


def test_connect_failed_without_session_or_ip() -> None:
    data = sample("connect_failed_authorization")
    del data["sessionIdentifier"], data["ipAddress"]
    event = parse_lifecycle(data)
    assert isinstance(event, ConnectFailed)
    assert (event.session_identifier, event.ip_address) == ("", None)


@pytest.mark.parametrize(
    ("name", "model", "topics"),
    [
        ("subscribed", Subscribed, ("cmd/sensor-01", "ack/sensor-01/#")),
        ("unsubscribed", Unsubscribed, ("ack/sensor-01/#",)),
    ],
)
def test_subscriptions(name: str, model: type, topics: tuple[str, ...]) -> None:
    event = parse_lifecycle(sample(name))
    assert isinstance(event, model)
    assert isinstance(event, Subscribed | Unsubscribed)
    assert event.topics == topics


def test_thing_name_when_the_client_uses_the_exclusive_thing_feature() -> None:
    event = parse_lifecycle(sample("connected") | {"thingName": "kitchen"})
    assert event.thing_name == "kitchen"


def test_unknown_fields_are_ignored() -> None:
    event = parse_lifecycle(sample("connected") | {"event_kind": "connected", "future": {"x": 1}})
    assert isinstance(event, Connected)


# --- what is refused, and how it is said --------------------------------------------------------

INVALID = [
    pytest.param("connected", {"clientId": None}, "connected.clientId", id="client-id-null"),
    pytest.param("connected", {"clientId": ""}, "connected.clientId", id="client-id-empty"),
    pytest.param("connected", {"timestamp": "soon"}, "connected.timestamp", id="timestamp-text"),
    pytest.param("connected", {"timestamp": -1}, "connected.timestamp", id="timestamp-negative"),
    pytest.param(
        "disconnected_connection_lost",
        {"clientInitiatedDisconnect": "perhaps"},
        "disconnected.clientInitiatedDisconnect",
        id="initiated-not-bool",
    ),
    pytest.param("subscribed", {"topics": []}, "subscribed.topics", id="no-topics"),
    pytest.param("subscribed", {"topics": "a/b"}, "subscribed.topics", id="topics-not-list"),
    pytest.param("connected", {"eventType": "rebooted"}, "does not match", id="unknown-type"),
]


@pytest.mark.parametrize(("name", "change", "said"), INVALID)
def test_invalid_events_say_what_is_wrong(name: str, change: dict[str, Any], said: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_lifecycle(sample(name) | change)
    assert said in describe(caught.value)


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("connected", "clientId"),
        ("connected", "timestamp"),
        ("connected", "sessionIdentifier"),
        ("connected", "versionNumber"),
        ("disconnected_client_initiated", "disconnectReason"),
        ("disconnected_client_initiated", "clientInitiatedDisconnect"),
        ("connect_failed_authorization", "connectFailureReason"),
        ("subscribed", "topics"),
        ("unsubscribed", "sessionIdentifier"),
    ],
)
def test_missing_required_field_is_named(name: str, field: str) -> None:
    data = sample(name)
    del data[field]
    with pytest.raises(ValidationError) as caught:
        parse_lifecycle(data)
    assert describe(caught.value) == f"{data['eventType']}.{field}: Field required"


def test_no_event_type() -> None:
    data = sample("connected")
    del data["eventType"]
    with pytest.raises(ValidationError) as caught:
        parse_lifecycle(data)
    assert "eventType" in describe(caught.value)


def test_not_an_object() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_lifecycle(["connected"])
    assert "event:" in describe(caught.value)
