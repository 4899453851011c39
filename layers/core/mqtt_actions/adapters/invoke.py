"""Asynchronous Lambda invocation (analyses)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient


class LambdaInvoker:
    def __init__(self, client: LambdaClient) -> None:
        self._client = client

    def invoke_async(self, function: str, event: Mapping[str, Any]) -> None:
        self._client.invoke(
            FunctionName=function,
            InvocationType="Event",
            Payload=json.dumps(event, separators=(",", ":")).encode("utf-8"),
        )
