"""DeviceAuthorizerFunction: IoT Core's custom authorizer for device tokens (MQTT username
`Token`, password = the device token, as on TagoIO's broker).

One strongly consistent GetItem by the token's hash, then the answer IoT Core documents
(mqtt_actions.tokens). IoT Core gives an authorizer 5 s; a refusal is the same answer whatever
the reason, and the logs say why without the token or its hash. On a successful connect the
token's last seen time and client id are recorded (at most every 5 minutes per token; best
effort: a failed write never refuses a device). Before it answers yes, it records the binding
client id -> device (DeviceBindingsTable, one conditional PutItem): the router and the inspector
name the device through it, and a client id held by another device's live connection is refused
(mqtt_actions.bindings). A binding that cannot be recorded refuses the connect.
"""

from __future__ import annotations

import os
import time
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from mqtt_actions.adapters.aws import client
from mqtt_actions.adapters.binding_store import DynamoBindingStore
from mqtt_actions.adapters.token_store import DynamoTokenStore
from mqtt_actions.tokens import (
    AuthorizerSettings,
    TokenRecord,
    authorize,
    needs_touch,
    refused,
)

logger = Logger()


@cache
def settings() -> AuthorizerSettings:
    return AuthorizerSettings.from_env(os.environ)


@cache
def store() -> DynamoTokenStore:
    return DynamoTokenStore(settings().table, client("dynamodb"))


@cache
def bindings() -> DynamoBindingStore:
    return DynamoBindingStore(settings().bindings_table, client("dynamodb"))


def _connection_id(event: Any) -> str | None:
    meta = event.get("connectionMetadata") if isinstance(event, dict) else None
    value = meta.get("id") if isinstance(meta, dict) else None
    return value[:64] if isinstance(value, str) else None


def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    cfg, tokens, bound = settings(), store(), bindings()
    found: dict[str, TokenRecord] = {}
    now = int(time.time() * 1000)

    def lookup(key: str) -> TokenRecord | None:
        record = tokens.get(key)
        if record is not None:
            found[key] = record
        return record

    try:
        decision = authorize(
            event, lookup, cfg.scope, lambda b: bound.bind(b, now // 1000), now_ms=now
        )
    except Exception:  # a table unreachable: refuse now (IoT Core would anyway), say why
        logger.exception("token lookup or binding failed; connection refused")
        return refused()
    logger.info(
        "connect authorized" if decision.authenticated else "connect refused",
        extra={
            "reason": decision.reason,
            "device": decision.device,
            "username": decision.username,
            "client_id": decision.client_id,
            "connection_id": _connection_id(event),
            **decision.details,
        },
    )
    if decision.authenticated:
        for key, record in found.items():
            if needs_touch(record, decision.client_id, now):
                try:
                    tokens.touch(key, now, decision.client_id)
                except Exception:  # last seen is a convenience; the device is let in anyway
                    logger.exception("could not record last seen", extra={"device": record.device})
    return decision.response
