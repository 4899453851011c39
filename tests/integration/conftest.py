"""Handlers against moto, with every table and queue created from template.yaml."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from mqtt_actions.adapters import aws
from mqtt_actions_cli.cfn import LocalNames, create_queues, create_tables, load_template

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


@pytest.fixture
def aws_env() -> Iterator[Aws]:
    with mock_aws():
        aws.reset()
        template = load_template()
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        names = LocalNames(prefix="test-")
        env = Aws(
            tables=create_tables(template, dynamodb, names),
            queues=create_queues(template, sqs, names),
            dynamodb=dynamodb,
            sqs=sqs,
        )
        boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
        yield env
        aws.reset()


@dataclass
class Hook:
    """A local HTTP endpoint standing in for a webhook receiver."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    status_when_failing: int = 500


@pytest.fixture
def webhook() -> Iterator[Hook]:
    hook = Hook(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.requests.append({"path": self.path, "headers": self.headers, "body": body})
            if hook.fail_next > 0:
                hook.fail_next -= 1
                self.send_response(hook.status_when_failing)
            else:
                self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/in"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
