"""DeviceAuthorizerFunction against moto (DeviceTokensTable and DeviceBindingsTable created from
template.yaml), and the router and the inspector naming a token connection's device through the
binding the authorizer recorded: IoT Core's events in, IoT Core's answer out."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.adapters.binding_store import DynamoBindingStore
from mqtt_actions.adapters.token_store import DynamoTokenStore
from mqtt_actions.tokens import TokenRecord, policy_allows, token_hash
from tests.integration.conftest import Aws, Context, Router, bucket, message

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
