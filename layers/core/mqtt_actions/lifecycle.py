"""IoT Core lifecycle events (`$aws/events/presence/...`, `$aws/events/subscriptions/...`).

Models of the JSON IoT Core publishes, exactly as a rule's `SELECT *` passes it on, and the Last
Will table by `disconnectReason` (AWS IoT developer guide, "Lifecycle events"). Pure: no I/O.

IoT Core may send an event twice or out of order: `versionNumber` (presence events only) orders
the connects and disconnects of one client id; a connect and the disconnect that ends it share it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from mqtt_actions.text import surrogate_in

# The inspector's keys hold times as 13 digits (up to the year 2286); a later time is no IoT event.
MAX_TIME_MS = 9_999_999_999_999


class DisconnectReason(StrEnum):
    """The documented `disconnectReason` values. Events carry a plain string, so a reason AWS adds
    later is still accepted (its Last Will answer is then "unknown")."""

    AUTH_ERROR = "AUTH_ERROR"
    CLIENT_INITIATED_DISCONNECT = "CLIENT_INITIATED_DISCONNECT"
    CLIENT_ERROR = "CLIENT_ERROR"
    CONNECTION_LOST = "CONNECTION_LOST"
    DUPLICATE_CLIENTID = "DUPLICATE_CLIENTID"
    FORBIDDEN_ACCESS = "FORBIDDEN_ACCESS"
    MQTT_KEEP_ALIVE_TIMEOUT = "MQTT_KEEP_ALIVE_TIMEOUT"
    SERVER_ERROR = "SERVER_ERROR"
    SERVER_INITIATED_DISCONNECT = "SERVER_INITIATED_DISCONNECT"
    API_INITIATED_DISCONNECT = "API_INITIATED_DISCONNECT"
    THROTTLED = "THROTTLED"
    WEBSOCKET_TTL_EXPIRATION = "WEBSOCKET_TTL_EXPIRATION"
    CUSTOMAUTH_TTL_EXPIRATION = "CUSTOMAUTH_TTL_EXPIRATION"


# True: IoT Core sends the Last Will. False: it does not. None: maybe (see LAST_WILL_NOTES).
LAST_WILL: dict[DisconnectReason, bool | None] = {
    DisconnectReason.CLIENT_INITIATED_DISCONNECT: False,
    DisconnectReason.AUTH_ERROR: None,
    DisconnectReason.FORBIDDEN_ACCESS: None,
    DisconnectReason.API_INITIATED_DISCONNECT: None,
    DisconnectReason.CLIENT_ERROR: True,
    DisconnectReason.CONNECTION_LOST: True,
    DisconnectReason.DUPLICATE_CLIENTID: True,
    DisconnectReason.MQTT_KEEP_ALIVE_TIMEOUT: True,
    DisconnectReason.SERVER_ERROR: True,
    DisconnectReason.SERVER_INITIATED_DISCONNECT: True,
    DisconnectReason.THROTTLED: True,
    DisconnectReason.WEBSOCKET_TTL_EXPIRATION: True,
    DisconnectReason.CUSTOMAUTH_TTL_EXPIRATION: True,
}

_MAYBE_NOTES: dict[DisconnectReason, str] = {
    DisconnectReason.AUTH_ERROR: "maybe: only if the connection was active before the error",
    DisconnectReason.FORBIDDEN_ACCESS: "maybe: only if the connection was active before the error",
    DisconnectReason.API_INITIATED_DISCONNECT: (
        "maybe: sent unless DeleteConnection was called with preventWillMessage=true"
    ),
}


def last_will_sent(reason: str) -> bool | None:
    """Does IoT Core send the client's Last Will for this `disconnectReason`? None means maybe
    (or a reason this table does not know)."""
    try:
        return LAST_WILL[DisconnectReason(reason)]
    except ValueError:
        return None


def last_will_note(reason: str) -> str:
    """The Last Will answer in words, for people reading the inspector."""
    try:
        known = DisconnectReason(reason)
    except ValueError:
        return f"unknown: {reason!r} is not in the Last Will table"
    sent = LAST_WILL[known]
    if sent is None:
        return _MAYBE_NOTES[known]
    return "sent" if sent else "not sent"


class _Event(BaseModel):
    # defer_build: validators built on first use; the router imports this module and never does.
    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        validate_by_alias=True,
        validate_by_name=True,
        defer_build=True,
    )

    client_id: str = Field(alias="clientId", min_length=1)
    timestamp: int = Field(
        ge=0, le=MAX_TIME_MS, description="when IoT Core saw it, ms since the epoch"
    )
    thing_name: str | None = Field(default=None, alias="thingName")
    principal_identifier: str = Field(default="", alias="principalIdentifier")

    @field_validator("*", mode="after")
    @classmethod
    def _unicode(cls, value: Any) -> Any:
        # pydantic lets a lone surrogate through `str | None` and tuples; the table cannot hold it.
        if (problem := surrogate_in(value)) is not None:
            raise ValueError(problem)
        return value

    @property
    def identity(self) -> dict[str, Any]:
        """The fields that make two deliveries of this event the same event (dedupe key)."""
        return {
            "eventType": getattr(self, "event_type", ""),
            "clientId": self.client_id,
            "timestamp": self.timestamp,
        }


class _Presence(_Event):
    session_identifier: str = Field(alias="sessionIdentifier", min_length=1)
    version_number: int = Field(
        alias="versionNumber", ge=0, description="orders one client id's connects and disconnects"
    )

    @property
    def identity(self) -> dict[str, Any]:
        return super().identity | {
            "sessionIdentifier": self.session_identifier,
            "versionNumber": self.version_number,
        }


class Connected(_Presence):
    event_type: Literal["connected"] = Field(alias="eventType")
    ip_address: str | None = Field(default=None, alias="ipAddress")


class Disconnected(_Presence):
    event_type: Literal["disconnected"] = Field(alias="eventType")
    client_initiated_disconnect: bool = Field(alias="clientInitiatedDisconnect")
    disconnect_reason: str = Field(alias="disconnectReason", min_length=1)

    @property
    def last_will(self) -> bool | None:
        return last_will_sent(self.disconnect_reason)


class ConnectFailed(_Event):
    event_type: Literal["connect_failed"] = Field(alias="eventType")
    connect_failure_reason: str = Field(alias="connectFailureReason", min_length=1)
    session_identifier: str = Field(default="", alias="sessionIdentifier")
    ip_address: str | None = Field(default=None, alias="ipAddress")

    @property
    def identity(self) -> dict[str, Any]:
        return super().identity | {
            "sessionIdentifier": self.session_identifier,
            "connectFailureReason": self.connect_failure_reason,
            "ipAddress": self.ip_address,
        }


class _Subscriptions(_Event):
    session_identifier: str = Field(alias="sessionIdentifier", min_length=1)
    topics: tuple[str, ...] = Field(min_length=1)

    @property
    def identity(self) -> dict[str, Any]:
        return super().identity | {
            "sessionIdentifier": self.session_identifier,
            "topics": list(self.topics),
        }


class Subscribed(_Subscriptions):
    event_type: Literal["subscribed"] = Field(alias="eventType")


class Unsubscribed(_Subscriptions):
    event_type: Literal["unsubscribed"] = Field(alias="eventType")


LifecycleEvent = Annotated[
    Connected | Disconnected | ConnectFailed | Subscribed | Unsubscribed,
    Field(discriminator="event_type"),
]

_ADAPTER: TypeAdapter[LifecycleEvent] = TypeAdapter(
    LifecycleEvent, config=ConfigDict(defer_build=True)
)


def parse_lifecycle(data: Any) -> LifecycleEvent:
    """The event as its model; raises pydantic's ValidationError naming the missing or wrong
    field (and, for an unknown `eventType`, the expected ones)."""
    return _ADAPTER.validate_python(data)


def describe(exc: ValidationError) -> str:
    """One line per problem, `field: what is wrong`, for logs and the dead-letter queue."""
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "event"
        problems.append(f"{where}: {err['msg']}")
    return "; ".join(problems)
