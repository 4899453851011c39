"""Models of the events that reach the handlers (IoT rule output, replays)."""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from mqtt_actions.text import surrogate_in

HOPS_PROPERTY = "mqtt-actions-hops"
# Who in the stack published a message through iot-data: `action/<id>` or `analysis/<name>`.
# Read only for messages not sent over MQTT (clientid() `n/a`): a device cannot claim it.
SOURCE_PROPERTY = "mqtt-actions-source"
SOURCE_MAX = 200


def _hops(value: Any) -> int:
    """`get_user_properties()` gives a list of strings (MQTT 5 allows repeats), or nothing."""
    if value is None or value == "":
        return 0
    values = value if isinstance(value, list) else [value]
    hops = 0
    for item in values:
        try:
            hops = max(hops, int(str(item).strip()))
        except ValueError:
            continue  # a device sent a non-numeric property: not ours, count it as 0
    return max(hops, 0)


def _source(value: Any) -> str:
    """The first `mqtt-actions-source` user property (text, cut to SOURCE_MAX), or ''."""
    values = value if isinstance(value, list) else [value]
    for item in values:
        if isinstance(item, str) and item.strip():
            return item.strip()[:SOURCE_MAX]
    return ""


class RouterEvent(BaseModel):
    """What the `route` rule's SQL selects for every message (see template.yaml)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    payload: str = Field(description="the message payload, base64 (encode(*, 'base64'))")
    topic: str = Field(min_length=1)
    # Client id and traceid end up in DynamoDB keys (2,048 / 1,024 bytes at most): bounded here,
    # at IoT Core's own limit for a client id (128), so an oversized one is an invalid event.
    clientid: str = Field(
        default="", max_length=128, description="MQTT client id: the publishing device"
    )
    principal: str = Field(
        default="",
        description="principal(): only ever read to recognise a certificate's thumbprint",
    )
    device: str = Field(
        default="",
        max_length=128,
        description=(
            "the device the message belongs to: named by the router from the client id's "
            "binding (mqtt_actions.bindings), never by the rule; kept in dead letters so a "
            "replay files it under the same device"
        ),
    )
    timestamp: int = Field(ge=0, description="IoT Core's receive time, ms since the epoch")
    traceid: str = Field(
        min_length=1, max_length=128, description="one per message: the idempotency key"
    )
    hops: Annotated[int, BeforeValidator(_hops)] = 0
    source: Annotated[str, BeforeValidator(_source)] = Field(
        default="",
        description="who in the stack published it (action/<id>, analysis/<name>); iot-data only",
    )
    only_actions: tuple[str, ...] | None = Field(
        default=None, description="set by `dlq replay`: run just these actions again"
    )
    local_qos: int | None = Field(
        default=None,
        ge=0,
        le=2,
        alias="localQos",
        description="the local stack only: the message's QoS (no IoT rule SQL function gives it)",
    )

    @field_validator("*", mode="after")
    @classmethod
    def _unicode(cls, value: Any) -> Any:
        # pydantic lets a lone surrogate through some str fields; no table or queue can hold it.
        if (problem := surrogate_in(value)) is not None:
            raise ValueError(problem)
        return value

    def payload_bytes(self) -> bytes:
        """The raw payload, decoded once per event (the handler checks it, the router uses it);
        raises ValueError naming the field when it is not base64."""
        try:
            return _decoded(self.payload)
        except (binascii.Error, ValueError) as exc:
            msg = f"payload is not base64 ({exc}); the rule must select encode(*, 'base64')"
            raise ValueError(msg) from exc


@functools.lru_cache(maxsize=4)
def _decoded(payload: str) -> bytes:
    # Keyed by the text (a str caches its hash): the same event's payload is decoded once. Errors
    # are not cached.
    return base64.b64decode(payload, validate=True)
