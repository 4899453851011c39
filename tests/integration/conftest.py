"""Handlers against moto, with every table and queue created from template.yaml; the router
handler wired to it (`router`, `apply`, `message()`), shared by router, corpus and fault tests."""

from __future__ import annotations

import base64
import functools
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from mqtt_actions.adapters.actions_store import DynamoActionsStore
from mqtt_actions.adapters.bucket import DynamoBucket
from mqtt_actions_cli.actions_file import load_actions_file
from mqtt_actions_cli.cfn import LocalNames, create_queues, create_tables, load_template
from tests.support.lambda_env import LambdaContext
from tests.support.webhook import Hook, receiving

REGION = "us-east-1"
SENDER = "alerts@example.com"


@dataclass
class Aws:
    tables: dict[str, str]
    queues: dict[str, str]
    dynamodb: Any
    sqs: Any

    def dead_letters(self) -> list[dict[str, Any]]:
        url = self.queues["DeadLetterQueue"]
        out: list[dict[str, Any]] = []
        while True:
            page = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            msgs = page.get("Messages", [])
            if not msgs:
                return out
            for m in msgs:
                out.append(json.loads(m["Body"]))
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    def sms(self) -> list[tuple[str, str]]:
        from moto.sns.models import sns_backends

        return list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())

    def emails(self) -> list[Any]:
        from moto.ses.models import ses_backends

        return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)

    def mqtt(self) -> list[tuple[str, bytes]]:
        from moto.iotdata.models import iotdata_backends

        return list(iotdata_backends[DEFAULT_ACCOUNT_ID][REGION].published_payloads)


@functools.cache
def _client(service: str) -> Any:
    # Created once (~30 ms each): moto intercepts every client made after it is imported, and
    # each `mock_aws()` starts from empty backends, so a client outlives its test safely.
    return boto3.client(service, region_name=REGION)  # type: ignore[call-overload]


@pytest.fixture
def aws_env() -> Iterator[Aws]:
    # The adapters' shared clients (mqtt_actions.adapters.aws) are kept between tests too.
    with mock_aws():
        template = load_template()
        dynamodb = _client("dynamodb")
        sqs = _client("sqs")
        names = LocalNames(prefix="test-")
        env = Aws(
            tables=create_tables(template, dynamodb, names),
            queues=create_queues(template, sqs, names),
            dynamodb=dynamodb,
            sqs=sqs,
        )
        _client("ses").verify_email_identity(EmailAddress=SENDER)
        yield env


@pytest.fixture
def webhook() -> Iterator[Hook]:
    with receiving() as hook:
        yield hook


# ---------------------------------------------------------------- the router handler


Context = LambdaContext  # the router's, from tests.support.lambda_env


class RecordingInvoker:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Mapping[str, Any]]] = []

    def invoke_async(self, function: str, event: Mapping[str, Any]) -> None:
        self.calls.append((function, event))


def message(
    payload: bytes | str | dict[str, Any] | list[Any],
    topic: str = "home/kitchen/temperature",
    *,
    clientid: str = "sensor-01",
    traceid: str | None = None,
    hops: list[str] | None = None,
) -> dict[str, Any]:
    if isinstance(payload, dict | list):
        payload = json.dumps(payload)
    raw = payload.encode() if isinstance(payload, str) else payload
    event: dict[str, Any] = {
        "payload": base64.b64encode(raw).decode(),
        "topic": topic,
        "clientid": clientid,
        "principal": "cert-1",
        "timestamp": 1_764_072_000_000,
        "traceid": traceid or str(uuid.uuid4()),
    }
    if hops is not None:
        event["hops"] = hops
    return event


Router = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture
def apply(aws_env: Aws) -> Callable[[str], None]:
    store = DynamoActionsStore(aws_env.tables["ActionsTable"], aws_env.dynamodb)

    def _apply(text: str) -> None:
        store.put_all(load_actions_file(text))

    return _apply


@pytest.fixture
def invoker() -> RecordingInvoker:
    return RecordingInvoker()


@pytest.fixture
def router(
    aws_env: Aws, monkeypatch: pytest.MonkeyPatch, invoker: RecordingInvoker
) -> Iterator[Router]:
    from functions.router import app

    env = {
        "BUCKET_TABLE": aws_env.tables["BucketTable"],
        "ACTIONS_TABLE": aws_env.tables["ActionsTable"],
        "IDEMPOTENCY_TABLE": aws_env.tables["IdempotencyTable"],
        "DEAD_LETTER_QUEUE_URL": aws_env.queues["DeadLetterQueue"],
        "INSPECTOR_TABLE": aws_env.tables["InspectorTable"],
        "EMAIL_SENDER": SENDER,
        "ANALYSIS_FUNCTIONS": json.dumps({"forecast": "forecast-fn", "report": "report-fn"}),
        "ACTIONS_CACHE_SECONDS": "0",
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "DEVICE_BINDINGS_TABLE": aws_env.tables["DeviceBindingsTable"],
        # These tests name a device by its client id, as the local stack without token
        # checking does; tests/integration/test_authorizer.py routes through the bindings.
        "DEVICE_IDENTITY": "client-id",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app.settings.cache_clear()
    app.deps.cache_clear()
    wired = app.deps()
    wired.invoker = invoker
    monkeypatch.setattr(wired.webhooks, "_sleep", lambda _s: None)

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = app.lambda_handler(event, Context())  # type: ignore[arg-type]
        return result

    yield invoke
    app.settings.cache_clear()
    app.deps.cache_clear()


def bucket(aws_env: Aws, device: str = "sensor-01", **kw: Any) -> list[dict[str, Any]]:
    return DynamoBucket(aws_env.tables["BucketTable"], aws_env.dynamodb).query(device, **kw)
