"""DeviceAuthorizerFunction against moto (DeviceTokensTable and DeviceBindingsTable created from
template.yaml), and the router and the inspector naming a token connection's device through the
binding the authorizer recorded: IoT Core's events in, IoT Core's answer out."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.adapters.binding_store import DynamoBindingStore
from mqtt_actions.adapters.token_store import DynamoTokenStore
from mqtt_actions.bindings import ENDED_GRACE_MS, Binding
from mqtt_actions.tokens import TokenRecord, policy_allows, token_hash
from tests.integration.conftest import Aws, Context, Router, bucket, message
from tests.support.bindings import MemoryBindings
from tests.support.lambda_env import lambda_context

ARN = "arn:aws:iot:us-east-1:123456789012"
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e3b0c442-98fc-4c14-9afb-f4c8996fb924"

Authorizer = Callable[[dict[str, Any]], dict[str, Any]]


def connect_event(token: str = TOKEN, client_id: str = "esp32-a1b2") -> dict[str, Any]:
    return {
        "signatureVerified": False,
        "protocols": ["tls", "mqtt"],
        "protocolData": {
            "tls": {"serverName": "abc123-ats.iot.us-east-1.amazonaws.com"},
            "mqtt": {
                "username": "Token",
                "password": base64.b64encode(token.encode()).decode(),
                "clientId": client_id,
            },
        },
        "connectionMetadata": {"id": "c0ffee00-0000-4000-8000-000000000000"},
    }


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record with its extra fields (Powertools writes them as JSON keys)."""
    return "\n".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)


@pytest.fixture
def tokens(aws_env: Aws) -> DynamoTokenStore:
    return DynamoTokenStore(aws_env.tables["DeviceTokensTable"], aws_env.dynamodb)


@pytest.fixture
def authorizer(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Authorizer]:
    from functions.authorizer import app

    monkeypatch.setenv("DEVICE_TOKENS_TABLE", aws_env.tables["DeviceTokensTable"])
    monkeypatch.setenv("IOT_ARN_PREFIX", ARN)
    monkeypatch.setenv("DEVICE_PUBLISH_PREFIXES", "home,plant/line1")
    monkeypatch.setenv("DEVICE_SUBSCRIBE_PREFIXES", "")
    monkeypatch.setenv("DEVICE_TOPIC_ACCESS", "own")
    monkeypatch.setenv("DEVICE_BINDINGS_TABLE", aws_env.tables["DeviceBindingsTable"])
    app.settings.cache_clear()
    app.store.cache_clear()
    app.bindings.cache_clear()

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        return app.lambda_handler(event, Context())  # type: ignore[arg-type]

    yield invoke
    app.settings.cache_clear()
    app.store.cache_clear()
    app.bindings.cache_clear()


@pytest.fixture
def bindings(aws_env: Aws) -> DynamoBindingStore:
    return DynamoBindingStore(aws_env.tables["DeviceBindingsTable"], aws_env.dynamodb)


@pytest.fixture
def bound_router(router: Router, monkeypatch: pytest.MonkeyPatch) -> Router:
    """The router as deployed: a message's device comes from the bindings only."""
    from functions.router import app

    monkeypatch.setenv("DEVICE_IDENTITY", "binding")
    app.settings.cache_clear()
    app.deps().devices = app._devices(app.settings(), app.client("dynamodb"))
    return router


def test_a_stored_token_connects_with_its_device_policy_and_is_seen(
    authorizer: Authorizer, tokens: DynamoTokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    assert tokens.add(token_hash(TOKEN), TokenRecord(device="sensor-01", created_at=1))
    answer = authorizer(connect_event())
    assert answer["isAuthenticated"] is True
    assert answer["principalId"] == "TsensorZ2d01"
    docs = answer["policyDocuments"]
    assert policy_allows(docs, "iot:Connect", f"{ARN}:client/esp32-a1b2")
    assert not policy_allows(docs, "iot:Connect", f"{ARN}:client/sensor-02")
    assert policy_allows(docs, "iot:Publish", f"{ARN}:topic/plant/line1/oven")
    assert not policy_allows(docs, "iot:Publish", f"{ARN}:topic/plant/line2/oven")
    assert json.loads(json.dumps(answer)) == answer  # plain JSON for IoT Core
    seen = tokens.get(token_hash(TOKEN))
    assert seen is not None
    assert seen.last_client_id == "esp32-a1b2"
    assert seen.last_seen is not None
    logs = logged(caplog)
    assert "connect authorized" in logs
    assert TOKEN not in logs
    assert token_hash(TOKEN) not in logs


@pytest.mark.parametrize("stored", [None, TokenRecord(device="sensor-01", revoked_at=5)])
def test_unknown_and_revoked_tokens_are_refused_and_logged_without_the_token(
    authorizer: Authorizer,
    tokens: DynamoTokenStore,
    caplog: pytest.LogCaptureFixture,
    stored: TokenRecord | None,
) -> None:
    if stored is not None:
        tokens.add(token_hash(TOKEN), stored)
    answer = authorizer(connect_event())
    assert answer["isAuthenticated"] is False
    assert answer["policyDocuments"] == []
    logs = logged(caplog)
    assert "connect refused" in logs
    assert ("revoked token" if stored else "unknown token") in logs
    assert TOKEN not in logs
    assert token_hash(TOKEN) not in logs


def test_a_table_it_cannot_read_refuses_instead_of_raising(
    authorizer: Authorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.authorizer import app

    monkeypatch.setenv("DEVICE_TOKENS_TABLE", "no-such-table")
    app.settings.cache_clear()
    app.store.cache_clear()
    assert authorizer(connect_event())["isAuthenticated"] is False


def test_the_router_files_a_token_devices_message_under_its_bound_device(
    authorizer: Authorizer,
    tokens: DynamoTokenStore,
    bindings: DynamoBindingStore,
    bound_router: Router,
    aws_env: Aws,
    apply: Callable[[str], None],
) -> None:
    tokens.add(token_hash(TOKEN), TokenRecord(device="sensor-01", created_at=1))
    assert authorizer(connect_event())["isAuthenticated"] is True
    binding = bindings.get("esp32-a1b2")
    assert binding is not None
    assert (binding.device, binding.connection_id) == (
        "sensor-01",
        "c0ffee00-0000-4000-8000-000000000000",
    )
    apply("actions:\n  - {id: store, topics: ['sensor-01/#'], type: insert_bucket}\n")
    event = message({"variable": "t", "value": 21}, "sensor-01/t", clientid="esp32-a1b2")
    event["principal"] = "Tesp32"  # whatever principal() says, it names no device
    assert bound_router(event)["outcomes"] == {"store": "done"}
    assert [row["variable"] for row in bucket(aws_env, "sensor-01")] == ["t"]
    assert bucket(aws_env, "esp32-a1b2") == []


def test_a_message_of_an_unbound_client_id_is_dead_lettered_never_filed_under_it(
    bound_router: Router, aws_env: Aws, apply: Callable[[str], None]
) -> None:
    apply("actions:\n  - {id: store, topics: ['#'], type: insert_bucket}\n")
    event = message({"variable": "t", "value": 21}, "sensor-01/t", clientid="sensor-01")
    event["principal"] = "TsensorZ2d01"  # the old principal-derived name: no longer trusted
    assert bound_router(event)["outcomes"] == {"identity": "refused"}
    assert bucket(aws_env, "sensor-01") == []
    (letter,) = aws_env.dead_letters()
    assert letter["kind"] == "unknown_connection"
    assert letter["reason"] == "unknown connection"
    assert letter["client_id"] == "sensor-01"


def test_a_certificate_device_is_its_client_id(
    bound_router: Router, aws_env: Aws, apply: Callable[[str], None]
) -> None:
    apply("actions:\n  - {id: store, topics: ['#'], type: insert_bucket}\n")
    event = message({"variable": "t", "value": 21}, "sensor-02/t", clientid="sensor-02")
    event["principal"] = "0123456789abcdef" * 4  # an X.509 thumbprint
    assert bound_router(event)["outcomes"] == {"store": "done"}
    assert [row["variable"] for row in bucket(aws_env, "sensor-02")] == ["t"]


def test_a_second_device_cannot_take_a_live_client_id(
    authorizer: Authorizer,
    tokens: DynamoTokenStore,
    bindings: DynamoBindingStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = "0f1e2d3c-4b5a-4968-8776-655443322110"
    tokens.add(token_hash(TOKEN), TokenRecord(device="sensor-01", created_at=1))
    tokens.add(token_hash(other), TokenRecord(device="pump-7", created_at=1))
    assert authorizer(connect_event(client_id="ESP32"))["isAuthenticated"] is True
    assert authorizer(connect_event(other, client_id="ESP32"))["isAuthenticated"] is False
    assert "'ESP32' is held by a live connection of device 'sensor-01'" in logged(caplog)
    held = bindings.get("ESP32")
    assert held is not None
    assert held.device == "sensor-01"
    assert authorizer(connect_event(client_id="ESP32"))["isAuthenticated"] is True  # itself


@pytest.mark.parametrize(
    ("sample", "authenticated"), [("connect_token", True), ("connect_no_password", False)]
)
def test_the_sample_events_get_their_answers(
    authorizer: Authorizer, tokens: DynamoTokenStore, sample: str, authenticated: bool
) -> None:
    tokens.add(token_hash(TOKEN), TokenRecord(device="sensor-01", created_at=1))
    event = json.loads((ROOT / "events" / "authorizer" / f"{sample}.json").read_text())
    assert authorizer(event)["isAuthenticated"] is authenticated


# ------------------------------------------------- wake, publish, vanish (issue #21)


@pytest.fixture
def lifecycle(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Authorizer]:
    """InspectorFunction as deployed: lifecycle events end the bindings they close."""
    from functions.inspector import app

    monkeypatch.setenv("INSPECTOR_TABLE", aws_env.tables["InspectorTable"])
    monkeypatch.setenv("INSPECTOR_RETENTION_DAYS", "7")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", aws_env.queues["DeadLetterQueue"])
    monkeypatch.setenv("DEVICE_BINDINGS_TABLE", aws_env.tables["DeviceBindingsTable"])
    monkeypatch.setenv("DEVICE_IDENTITY", "binding")
    app.settings.cache_clear()
    app.deps.cache_clear()

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = app.lambda_handler(event, lambda_context("InspectorFunction"))
        return result

    yield invoke
    app.settings.cache_clear()
    app.deps.cache_clear()


def disconnected(client_id: str, at_ms: int, reason: str) -> dict[str, Any]:
    return {
        "clientId": client_id,
        "timestamp": at_ms,
        "eventType": "disconnected",
        "sessionIdentifier": "a4666d2a7d844ae4ac5d7b38c9cb7967",
        "principalIdentifier": "TsensorZ2d01",
        "clientInitiatedDisconnect": reason == "CLIENT_INITIATED_DISCONNECT",
        "disconnectReason": reason,
        "versionNumber": 3,
    }


@dataclass
class Flow:
    """The deployed path of one token device, on moto: the authorizer binds at connect, the
    inspector handles lifecycle events, the router names each message's device."""

    tokens: DynamoTokenStore
    bindings: DynamoBindingStore
    connect: Authorizer
    lifecycle: Authorizer
    route: Router
    aws: Aws

    def bound(self, client_id: str = "ESP32") -> Binding:
        found = self.bindings.get(client_id)
        assert found is not None, f"no binding of {client_id}"
        return found


@pytest.fixture
def flow(
    authorizer: Authorizer,
    tokens: DynamoTokenStore,
    bindings: DynamoBindingStore,
    lifecycle: Authorizer,
    bound_router: Router,
    aws_env: Aws,
    apply: Callable[[str], None],
) -> Flow:
    """sensor-01's token stored, every message stored in its device's bucket."""
    tokens.add(token_hash(TOKEN), TokenRecord(device="sensor-01", created_at=1))
    apply("actions:\n  - {id: store, topics: ['#'], type: insert_bucket}\n")
    return Flow(tokens, bindings, authorizer, lifecycle, bound_router, aws_env)


@pytest.mark.parametrize("reason", ["CLIENT_INITIATED_DISCONNECT", "CONNECTION_LOST"])
def test_a_message_handled_after_its_connections_disconnect_is_still_the_devices(
    flow: Flow, reason: str
) -> None:
    """Wake, publish, vanish: the inspector handles the disconnect before the router handles
    the PUBLISH sent before it (both asynchronous). The ended binding still names the device;
    a message stamped after the disconnect (plus AWS's 2 minutes) is an unknown connection."""
    assert flow.connect(connect_event(client_id="ESP32"))["isAuthenticated"] is True
    gone = flow.bound().bound_at_ms + 1_000
    assert flow.lifecycle(disconnected("ESP32", gone, reason))["device"] == "sensor-01"
    assert flow.bound().ended_at_ms == gone
    sent = message({"variable": "t", "value": 21}, "sensor-01/t", clientid="ESP32")
    sent["timestamp"] = gone - 10
    assert flow.route(sent)["outcomes"] == {"store": "done"}
    assert [row["variable"] for row in bucket(flow.aws, "sensor-01")] == ["t"]
    late = message({"variable": "late", "value": 1}, "sensor-01/t", clientid="ESP32")
    late["timestamp"] = gone + ENDED_GRACE_MS + 1
    assert flow.route(late)["outcomes"] == {"identity": "refused"}
    assert [letter["kind"] for letter in flow.aws.dead_letters()] == ["unknown_connection"]


def test_an_ended_binding_lets_another_device_take_the_client_id(flow: Flow) -> None:
    other = "0f1e2d3c-4b5a-4968-8776-655443322110"
    flow.tokens.add(token_hash(other), TokenRecord(device="pump-7", created_at=1))
    assert flow.connect(connect_event(client_id="ESP32"))["isAuthenticated"] is True
    bye = "CLIENT_INITIATED_DISCONNECT"
    flow.lifecycle(disconnected("ESP32", flow.bound().bound_at_ms + 1, bye))
    assert flow.connect(connect_event(other, client_id="ESP32"))["isAuthenticated"] is True
    assert (flow.bound().device, flow.bound().ended_at_ms) == ("pump-7", None)


def test_the_memory_fake_keeps_the_tables_conditions(bindings: DynamoBindingStore) -> None:
    """tests/support/bindings.py against DynamoBindingStore on moto: the same answers to the
    same calls, so unit tests on the fake say what the table does."""
    fake = MemoryBindings()
    now = 1_800_000_000

    def bound(device: str, at_s: int) -> Binding:
        return Binding("ESP32", device, f"c-{device}", at_s * 1000, at_s + 3_600)

    calls: list[tuple[str, Callable[[Any], object]]] = [
        ("bind", lambda t: t.bind(bound("sensor-01", now), now)),
        ("another device, live: refused", lambda t: t.bind(bound("pump-7", now + 1), now + 1)),
        ("the same device: rebound", lambda t: t.bind(bound("sensor-01", now + 2), now + 2)),
        ("a disconnect before it: kept", lambda t: t.end("ESP32", bound_at_most_ms=at(now + 1))),
        ("its disconnect: ended", lambda t: t.end("ESP32", bound_at_most_ms=at(now + 3))),
        ("twice: the first end stays", lambda t: t.end("ESP32", bound_at_most_ms=at(now + 4))),
        ("ended: another device takes it", lambda t: t.bind(bound("pump-7", now + 5), now + 5)),
        ("not its own: kept", lambda t: t.delete("ESP32", "sensor-01")),
        ("expired: taken", lambda t: t.bind(bound("sensor-01", now + 9_000), now + 9_000)),
        ("its own: deleted", lambda t: t.delete("ESP32", "sensor-01")),
    ]
    for what, call in calls:
        assert call(bindings) == call(fake), what
        assert bindings.get("ESP32") == fake.get("ESP32"), what
    assert fake.get("ESP32") is None


def at(seconds: int) -> int:
    return seconds * 1000


def test_a_certificate_taking_a_token_devices_client_id_ends_its_binding(flow: Flow) -> None:
    """The thing ESP32 connects with its certificate while token device sensor-01 holds the
    client id: IoT Core closes the token connection (DUPLICATE_CLIENTID, which ends nothing by
    itself); the certificate's `connected` event ends the binding, so the thing's messages are
    its own, and the token device's last message is still the token device's."""
    assert flow.connect(connect_event(client_id="ESP32"))["isAuthenticated"] is True
    certificate = "0123456789abcdef" * 4
    took = flow.bound().bound_at_ms + 1_000
    connected = {
        "clientId": "ESP32",
        "timestamp": took,
        "eventType": "connected",
        "sessionIdentifier": "b5777e3b8e955bf5bd6e8c49d0dc8078",
        "principalIdentifier": certificate,  # the certificate id (life-cycle-events.html)
        "ipAddress": "192.0.2.7",
        "versionNumber": 4,
    }
    assert flow.lifecycle(connected)["device"] == "ESP32"
    duplicate = disconnected("ESP32", took + 5, "DUPLICATE_CLIENTID")
    assert flow.lifecycle(duplicate)["device"] == "sensor-01"  # the token connection's own
    assert flow.bound().ended_at_ms == took
    mine = message({"variable": "thing", "value": 1}, "ESP32/t", clientid="ESP32")
    mine["principal"], mine["timestamp"] = certificate, took + 10
    assert flow.route(mine)["outcomes"] == {"store": "done"}
    last = message({"variable": "token", "value": 2}, "sensor-01/t", clientid="ESP32")
    last["principal"], last["timestamp"] = "TsensorZ2d01", took - 10
    assert flow.route(last)["outcomes"] == {"store": "done"}
    assert [row["variable"] for row in bucket(flow.aws, "ESP32")] == ["thing"]
    assert [row["variable"] for row in bucket(flow.aws, "sensor-01")] == ["token"]
