"""`mqtt_actions.tagoio` against moto: Device({"token"}).sendData resolves the token with one
GetItem on the device tokens table (tokenHash = hex SHA-256) and stores in that device's bucket;
without the table, in the trigger's device bucket."""

from __future__ import annotations

from typing import Any

import pytest

from mqtt_actions.adapters.bucket import DynamoBucket
from mqtt_actions.adapters.token_store import DynamoTokenStore
from mqtt_actions.analysis import NotConfiguredError
from mqtt_actions.tagoio import Analysis, Device, Services, UnknownTokenError, token_hash
from mqtt_actions.tokens import TokenRecord
from tests.integration.conftest import SENDER, Aws

pytestmark = pytest.mark.integration

TOKEN = "2ec4a1b0-11e6-4a77-991b-8f63b7670001"  # a made-up device token


class LambdaContext:
    function_name = "test-tagoio"
    aws_request_id = "req-1"


def my_analysis(context: Any, scope: list[dict[str, Any]]) -> None:
    """A TagoIO analysis: forward the scope to the device that owns TOKEN."""
    Device({"token": TOKEN}).sendData([{"variable": "relayed", "value": p["value"]} for p in scope])


lambda_handler = Analysis({"token": "analysis-token"}).init(my_analysis)


def event() -> dict[str, Any]:
    return {
        "analysis": "tagoio_test",
        "trigger": {"type": "action", "device": "gateway-1", "traceid": "tr-1", "timestamp": 1000},
        "scope": [{"variable": "temperature", "value": 31}],
    }


@pytest.fixture
def env(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    monkeypatch.setenv("BUCKET_TABLE", aws_env.tables["BucketTable"])
    monkeypatch.setenv("ANALYSIS_NAME", "tagoio_test")
    monkeypatch.delenv("DEVICE_TOKENS_TABLE", raising=False)
    return aws_env


def give_token(aws_env: Aws, token: str, device: str) -> DynamoTokenStore:
    """Store `token` for `device` as `devices create --token` does (only its hash)."""
    store = DynamoTokenStore(aws_env.tables["DeviceTokensTable"], aws_env.dynamodb)
    assert store.add(token_hash(token), TokenRecord(device=device, created_at=1))
    return store


def rows(aws_env: Aws, device: str) -> list[Any]:
    bucket = DynamoBucket(aws_env.tables["BucketTable"], aws_env.dynamodb)
    return [(r["variable"], r["value"]) for r in bucket.query(device)]


def test_send_data_stores_in_the_bucket_of_the_device_owning_the_token(
    env: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    give_token(env, TOKEN, "pump-7")
    monkeypatch.setenv("DEVICE_TOKENS_TABLE", env.tables["DeviceTokensTable"])

    lambda_handler(event(), LambdaContext())

    assert rows(env, "pump-7") == [("relayed", 31)]
    assert rows(env, "gateway-1") == []


def test_an_unknown_token_is_refused_and_nothing_is_stored(
    env: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    give_token(env, "another-token", "pump-8")
    monkeypatch.setenv("DEVICE_TOKENS_TABLE", env.tables["DeviceTokensTable"])

    with pytest.raises(UnknownTokenError, match="no device has the token"):
        lambda_handler(event(), LambdaContext())

    assert rows(env, "pump-8") == []
    assert rows(env, "gateway-1") == []


def test_a_revoked_token_is_refused_and_nothing_is_stored(
    env: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    give_token(env, TOKEN, "pump-7").revoke(token_hash(TOKEN), at_ms=2)
    monkeypatch.setenv("DEVICE_TOKENS_TABLE", env.tables["DeviceTokensTable"])

    with pytest.raises(UnknownTokenError, match="no device has the token"):
        lambda_handler(event(), LambdaContext())

    assert rows(env, "pump-7") == []
    assert rows(env, "gateway-1") == []


def test_without_a_tokens_table_send_data_is_an_error_and_nothing_is_stored(env: Aws) -> None:
    with pytest.raises(NotConfiguredError, match="DEVICE_TOKENS_TABLE is not set"):
        lambda_handler(event(), LambdaContext())

    assert rows(env, "gateway-1") == []


def test_an_attachment_goes_out_as_a_raw_ses_message_with_the_file(env: Aws) -> None:
    import boto3
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from mqtt_actions.adapters.notify import SnsSesNotifier
    from mqtt_actions.ports import EmailAttachment

    boto3.client("ses", region_name="us-east-1").verify_email_identity(
        EmailAddress="alerts@example.com"
    )
    notifier = SnsSesNotifier(
        boto3.client("sns", region_name="us-east-1"),
        boto3.client("sesv2", region_name="us-east-1"),
        "alerts@example.com",
    )
    notifier.send_email_attachments(
        ["ops@example.com"], "Export", "see the file", None,
        [EmailAttachment(filename="export.csv", content=b"a,b\n1,2", content_type="text/csv")],
    )  # fmt: skip
    (sent,) = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
    raw = str(getattr(sent, "raw_data", ""))
    assert 'filename="export.csv"' in raw
    assert "see the file" in raw


def notify(context: Any, scope: list[dict[str, Any]]) -> None:
    """TagoIO's send-notification snippet, in short: notify the account owner."""
    Services({"token": context.token}).Notification.send(
        notification={"title": "Pump 7 stopped", "message": "no flow for 10 minutes"}
    )


notify_handler = Analysis({"token": "analysis-token"}).init(notify)


@pytest.mark.parametrize("owner", ["owner@example.com", ""])
def test_a_notification_is_e_mailed_through_ses_to_the_owner_when_one_is_configured(
    env: Aws, monkeypatch: pytest.MonkeyPatch, owner: str
) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    from mqtt_actions.adapters.inspector import DynamoInspector

    for key, value in {
        "EMAIL_SENDER": SENDER,
        "NOTIFICATION_EMAIL": owner,
        "ACTIONS_TABLE": env.tables["ActionsTable"],
        "INSPECTOR_TABLE": env.tables["InspectorTable"],
    }.items():
        monkeypatch.setenv(key, value)
    sent_before = len(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)

    notify_handler(event(), LambdaContext())

    sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages[sent_before:]
    entries = DynamoInspector(env.tables["InspectorTable"], env.dynamodb, 7).query(
        device="gateway-1"
    )
    (note,) = [e.details for e in entries if e.details.get("action_type") == "notification"]
    assert (note["outcome"], note["detail"]["title"]) == ("done", "Pump 7 stopped")
    if owner:
        (mail,) = sent
        assert (mail.destinations["ToAddresses"], mail.subject) == ([owner], "Pump 7 stopped")
        assert mail.source == SENDER
        assert note["detail"]["email"] == f"sent to {owner}"
    else:
        assert sent == []
        assert note["detail"]["email"] == "no NotificationEmail configured"
