"""`mqtt-actions devices create --token | import-tokens | list | revoke` against moto, the
tokens table created from template.yaml; IoT's DeleteConnection (not in moto) faked at its port."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from mqtt_actions.adapters.binding_store import DynamoBindingStore
from mqtt_actions.adapters.token_store import DynamoTokenStore
from mqtt_actions.bindings import Binding
from mqtt_actions.tokens import token_hash
from mqtt_actions_cli.ops import tokens as device_tokens
from mqtt_actions_cli.target import Target
from tests.integration.cli_support import moto_target, run
from tests.integration.conftest import REGION, Aws

pytestmark = pytest.mark.integration

DOMAIN = "tokens-ats.iot.us-east-1.amazonaws.com"
TAGO_1 = "2f1c5a8e-5a3b-4b8f-9c61-0d4e7a9b3c21"
TAGO_2 = "7a9e0c43-1d2b-4e6f-8a5c-3b7d9e1f2a40"


class Connections:
    """The ConnectionCloser port, recording: `connected` client ids close, others do not."""

    def __init__(self, *connected: str) -> None:
        self.connected = set(connected)
        self.closed: list[str] = []

    def close(self, client_id: str) -> bool:
        if client_id not in self.connected:
            return False
        self.connected.discard(client_id)
        self.closed.append(client_id)
        return True


@pytest.fixture
def tokens(aws_env: Aws) -> DynamoTokenStore:
    return DynamoTokenStore(aws_env.tables["DeviceTokensTable"], aws_env.dynamodb)


@pytest.fixture
def local(aws_env: Aws) -> Target:
    return moto_target(aws_env, DeviceTokensTableName=aws_env.tables["DeviceTokensTable"])


@pytest.fixture
def stack(aws_env: Aws) -> Target:
    boto3.client("iot", region_name=REGION).create_domain_configuration(
        domainConfigurationName="test-stack-device-tokens", domainName=DOMAIN, serviceType="DATA"
    )
    return moto_target(
        aws_env,
        kind="stack",
        DeviceTokensTableName=aws_env.tables["DeviceTokensTable"],
        DeviceTokensDomainConfigurationName="test-stack-device-tokens",
    )


def test_create_prints_a_new_token_once_and_stores_only_its_hash(
    local: Target, aws_env: Aws, tokens: DynamoTokenStore, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["devices", "create", "sensor-01", "--token", "--json"], local)
    assert ran.code == 0, ran.err
    made = ran.json()
    token = made["token"]
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    assert (made["device"], made["username"], made["host"], made["port"]) == (
        "sensor-01",
        "Token",
        "127.0.0.1",
        1883,
    )
    stored = tokens.get(token_hash(token))
    assert stored is not None
    assert stored.device == "sensor-01"
    dump = json.dumps(aws_env.dynamodb.scan(TableName=aws_env.tables["DeviceTokensTable"]))
    assert token not in dump  # the table holds the hash, never the token
    again = run(capsys, ["devices", "create", "sensor-01", "--token", "--json"], local)
    assert again.json()["token"] != token  # a second token for the same device, not the same


def test_create_on_a_stack_names_its_tls_endpoint_and_the_filters(
    stack: Target, tokens: DynamoTokenStore, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["devices", "create", "sensor-02", "--token", "--publish", "home/+/temp"]
    ran = run(capsys, [*argv, "--stack", "test-stack"], stack)
    assert ran.code == 0, ran.err
    assert f"{DOMAIN}:443 (TLS, Amazon Root CA 1, SNI, ALPN mqtt)" in ran.out
    assert "username   Token" in ran.out
    assert "sensor-02/#, home/+/temp" in ran.out
    [(_key, record)] = tokens.by_device("sensor-02")
    assert record.publish == ("home/+/temp",)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bad name"], "device name 'bad name' is not valid"),
        (["ok", "--publish", "$aws/things/#"], "reserved by AWS IoT"),
        (["ok", "--subscribe", "a/*"], "use MQTT's + and # instead"),
        (["ok", "--out", "x"], "--out is for certificate files"),
    ],
)
def test_create_refuses_what_it_cannot_grant_and_stores_nothing(
    local: Target,
    tokens: DynamoTokenStore,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    ran = run(capsys, ["devices", "create", *argv, "--token"], local)
    assert ran.code == 2
    assert message in ran.err
    assert tokens.all() == []


def test_import_reports_every_row_and_stores_nothing_when_one_is_refused(
    local: Target, tokens: DynamoTokenStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "tago.csv"
    csv.write_text(
        f"device,token\nsensor-01,{TAGO_1}\nbad name,{TAGO_2}\nsensor-03,short\n"
        f"sensor-04,{TAGO_1}\nonly-one-field\n",
        encoding="utf-8",
    )
    ran = run(capsys, ["devices", "import-tokens", str(csv), "--json"], local)
    assert ran.code == 2
    rows = {r["line"]: r for r in ran.json()["rows"]}
    assert rows[2]["status"] == "not imported"
    assert "device name 'bad name'" in rows[3]["reason"]
    assert "16-512 characters" in rows[4]["reason"]
    assert "same token as line 2" in rows[5]["reason"]
    assert "expected 2 fields" in rows[6]["reason"]
    assert tokens.all() == []

    skipped = run(capsys, ["devices", "import-tokens", str(csv), "--skip-invalid"], local)
    assert skipped.code == 2  # some rows were refused
    assert "1 of 5 rows imported" in skipped.out
    stored = tokens.get(token_hash(TAGO_1))
    assert stored is not None
    assert stored.device == "sensor-01"


def test_import_of_a_clean_file_imports_all_and_refuses_a_second_import(
    local: Target, tokens: DynamoTokenStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "tago.csv"
    csv.write_bytes(f"\ufeffsensor-01,{TAGO_1}\r\nsensor-02,{TAGO_2}\r\n".encode())  # BOM, CRLF
    ran = run(capsys, ["devices", "import-tokens", str(csv)], local)
    assert ran.code == 0, ran.out + ran.err
    assert {r.device for _k, r in tokens.all()} == {"sensor-01", "sensor-02"}
    again = run(capsys, ["devices", "import-tokens", str(csv), "--json"], local)
    assert again.code == 2
    assert {r["status"] for r in again.json()["rows"]} == {"refused"}


def test_list_shows_token_devices_with_last_seen_and_certificate_things(
    stack: Target, tokens: DynamoTokenStore, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("iot", region_name=REGION).create_thing(thingName="cert-device")
    run(capsys, ["devices", "create", "sensor-01", "--token", "--stack", "s"], stack)
    [(key, _record)] = tokens.by_device("sensor-01")
    tokens.touch(key, 1_764_072_000_000, "esp32-1")
    ran = run(capsys, ["devices", "list", "--stack", "s", "--json"], stack)
    assert ran.code == 0, ran.err
    found = {d["device"]: d for d in ran.json()}
    assert found["sensor-01"]["kind"] == "token"
    assert found["sensor-01"]["last_seen"] == 1_764_072_000_000
    assert found["cert-device"]["kind"] == "certificate"
    text = run(capsys, ["devices", "list", "--stack", "s"], stack).out
    assert "2025-11-25T12:00:00.000Z" in text


def test_revoke_refuses_the_next_connect_and_closes_every_live_connection(
    local: Target,
    aws_env: Aws,
    tokens: DynamoTokenStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    made = run(capsys, ["devices", "create", "sensor-01", "--token", "--json"], local).json()
    key = token_hash(made["token"])
    bindings = DynamoBindingStore(aws_env.tables["DeviceBindingsTable"], aws_env.dynamodb)
    far = int(time.time()) + 3600
    for client_id, device in (("esp32-1", "sensor-01"), ("ESP32", "sensor-01"), ("p", "pump-7")):
        assert bindings.bind(Binding(client_id, device, f"c-{client_id}", 1, far), 0) is None
    connections = Connections("esp32-1", "ESP32", "p")
    monkeypatch.setattr(device_tokens, "connections_for", lambda _target: connections)

    listed = {d["device"]: d for d in run(capsys, ["devices", "list", "--json"], local).json()}
    assert listed["sensor-01"]["client_ids"] == ["ESP32", "esp32-1"]

    ran = run(capsys, ["devices", "revoke", "sensor-01"], local)
    assert ran.code == 0, ran.err
    assert sorted(connections.closed) == ["ESP32", "esp32-1"]  # both, and not pump-7's
    assert "closed the live connections of client ids ESP32, esp32-1" in ran.out
    assert bindings.by_device("sensor-01") == []
    assert [b.client_id for b in bindings.by_device("pump-7")] == ["p"]
    record = tokens.get(key)
    assert record is not None
    assert record.revoked_at is not None

    again = run(capsys, ["devices", "revoke", "sensor-01", "--json"], local).json()
    assert again["revoked"] == 0
    assert again["already_revoked"] == 1
    assert again["closed"] == []
    unknown = run(capsys, ["devices", "revoke", "nobody"], local)
    assert unknown.code == 2
    assert "has no tokens" in unknown.err


def test_a_stack_deployed_without_tokens_says_how_to_enable_them(
    aws_env: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    bare: Any = moto_target(
        aws_env, kind="stack", DeviceTokensTableName=aws_env.tables["DeviceTokensTable"]
    )
    ran = run(capsys, ["devices", "create", "s1", "--token", "--stack", "s"], bare)
    assert ran.code == 1
    assert "DeviceTokens=Enabled" in ran.err


def test_weak_tokens_are_refused_by_row_unless_allow_weak(
    local: Target, tokens: DynamoTokenStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue #23: `aaaaaaaaaaaaaaaa` was imported as a device token."""
    csv = tmp_path / "tago.csv"
    csv.write_text(
        f"sensor-01,{TAGO_1}\nsensor-02,aaaaaaaaaaaaaaaa\n"
        "sensor-03,00000000-0000-0000-0000-000000000001\nsensor-04,password1234567890\n",
        encoding="utf-8",
    )
    ran = run(capsys, ["devices", "import-tokens", str(csv), "--json"], local)
    assert ran.code == 2
    rows = {r["line"]: r for r in ran.json()["rows"]}
    assert rows[1]["status"] == "not imported"
    for line in (2, 3, 4):
        assert rows[line]["status"] == "refused", rows[line]
        assert "looks guessable" in rows[line]["reason"]
        assert "--allow-weak" in rows[line]["reason"]
    assert "2 distinct hex digits" in rows[3]["reason"]
    assert tokens.all() == []

    allowed = run(capsys, ["devices", "import-tokens", str(csv), "--allow-weak"], local)
    assert allowed.code == 0, allowed.out + allowed.err
    assert len(tokens.all()) == 4
