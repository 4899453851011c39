"""boto3 clients, created on first use and cached per service (cold starts import nothing more).

Endpoints come from boto3's own `AWS_ENDPOINT_URL[_<SERVICE>]` variables, so the same code talks to
AWS or to the local stack's moto server.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config

if TYPE_CHECKING:  # boto3-stubs: mypy checks every call at the adapters' boundary
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_iot_data import IoTDataPlaneClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=5,
    read_timeout=10,
    user_agent_extra="mqtt-actions",
)


@cache
def _session() -> boto3.session.Session:
    # One session: its loader parses each service model once (a new session costs ~0.25 s).
    return boto3.session.Session()


@overload
def client(service: Literal["dynamodb"]) -> DynamoDBClient: ...
@overload
def client(service: Literal["iot-data"]) -> IoTDataPlaneClient: ...
@overload
def client(service: Literal["lambda"]) -> LambdaClient: ...
@overload
def client(service: Literal["sesv2"]) -> SESV2Client: ...
@overload
def client(service: Literal["sns"]) -> SNSClient: ...
@overload
def client(service: Literal["sqs"]) -> SQSClient: ...
@overload
def client(service: str) -> Any: ...


def client(service: str) -> Any:
    """A shared client for `service` (botocore clients are thread-safe), typed by boto3-stubs."""
    return _client(service)


@cache
def _client(service: str) -> Any:
    return _session().client(service, config=_CONFIG)  # type: ignore[call-overload]


def reset() -> None:
    """Forget cached clients (tests switch endpoints between cases)."""
    _client.cache_clear()
