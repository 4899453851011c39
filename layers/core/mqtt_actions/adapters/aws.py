"""boto3 clients, created on first use and cached per service (cold starts import nothing more).

Endpoints come from boto3's own `AWS_ENDPOINT_URL[_<SERVICE>]` variables, so the same code talks to
AWS or to the local stack's moto server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

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


@cache
def client(service: str) -> Any:
    """A shared client for `service` (botocore clients are thread-safe)."""
    return _session().client(service, config=_CONFIG)  # type: ignore[call-overload]


def reset() -> None:
    """Forget cached clients (tests switch endpoints between cases)."""
    client.cache_clear()
