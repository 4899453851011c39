"""The dead-letter queue: what could not be done, with the original message and the reason."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


class SqsDeadLetters:
    def __init__(self, queue_url: str, client: SQSClient) -> None:
        self._url = queue_url
        self._client = client

    def send(self, record: Mapping[str, Any]) -> None:
        self._client.send_message(
            QueueUrl=self._url,
            MessageBody=json.dumps(record, separators=(",", ":"), default=str),
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": str(record.get("kind", "unknown"))}
            },
        )
