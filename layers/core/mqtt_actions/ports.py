"""The small interfaces the routing logic talks to. Adapters (boto3, HTTP) implement them at the
edge; tests hand in fakes or the same adapters against moto."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from mqtt_actions.bindings import Binding
from mqtt_actions.device_profiles import DeviceProfile
from mqtt_actions.tokens import TokenRecord


class Outcome(StrEnum):
    """What happened to one action for one message (shown in the inspector)."""

    DONE = "done"
    FAILED = "failed"
    THROTTLED = "throttled"
    CONDITION_FALSE = "condition_false"
    REFUSED = "refused"
    POINTS_REFUSED = "points_refused"
    LOOP_REFUSED = "loop_refused"
    DUPLICATE = "duplicate"
    IN_PROGRESS = "in_progress"  # another invocation holds it: Lambda retries the message later


class ActionResult(BaseModel):
    """One action's outcome for one message."""

    model_config = ConfigDict(frozen=True)

    action_id: str
    action_type: str
    outcome: Outcome
    reason: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class MessageRecord(BaseModel):
    """A publish as the router saw it."""

    model_config = ConfigDict(frozen=True)

    device: str
    topic: str
    traceid: str
    timestamp: int
    size: int
    preview: str  # the payload's head as text, or as base64 when `encoding` is "base64"
    points: int
    hops: int = 0
    matched: int = 0
    qos: int | None = None  # known on the local stack only
    encoding: str | None = None  # "base64": the payload is bytes, not text (router._preview)
    source: str | None = None  # published by the stack: action/<id> or analysis/<name>


class ActionError(Exception):
    """An action could not run; `permanent` means retrying the same message cannot help."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class InProgressError(Exception):
    """Another invocation holds this (message, action): it is running it now, or crashed while
    running it and holds it until that invocation's deadline. Raised by OnceRunner."""


class BucketWriter(Protocol):
    def insert(
        self, device: str, points: Sequence[Mapping[str, Any]], *, traceid: str, timestamp: int
    ) -> int: ...


class RateLimiter(Protocol):
    def allow(
        self, action_id: str, max_count: int, per_seconds: int, now: float, count: int = 1
    ) -> bool:
        """Take `count` from the window's `max_count` for `action_id` (a key: an action id, or
        `points#<device>` for the data points a device stores); False when they do not fit."""
        ...


class Notifier(Protocol):
    def send_sms(self, to: str, message: str) -> str: ...

    def send_email(
        self, to: Sequence[str], subject: str, text: str | None, html: str | None
    ) -> str: ...


class EmailAttachment(BaseModel):
    """A file attached to an e-mail (TagoIO's `attachment: {archive, filename}`)."""

    model_config = ConfigDict(frozen=True)

    filename: str
    content: bytes
    content_type: str = "application/octet-stream"


@runtime_checkable
class AttachmentNotifier(Protocol):
    """A notifier that can also send e-mails with files attached (SES raw messages)."""

    def send_email_attachments(
        self,
        to: Sequence[str],
        subject: str,
        text: str | None,
        html: str | None,
        attachments: Sequence[EmailAttachment],
    ) -> str: ...


class Publisher(Protocol):
    def publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool, hops: int, source: str = ""
    ) -> None:
        """`source`: who in the stack publishes (`action/<id>`, `analysis/<name>`): the
        inspector attributes the message to it."""


class RetainedMessage(BaseModel):
    """The message IoT Core keeps for a topic (one per topic; an empty publish deletes it)."""

    model_config = ConfigDict(frozen=True)

    topic: str
    payload: bytes
    qos: int
    last_modified: int = Field(description="when IoT Core stored it, ms since the epoch")

    def as_text(self) -> str:
        """The payload as UTF-8 text (undecodable bytes become U+FFFD)."""
        return self.payload.decode("utf-8", errors="replace")

    def as_json(self) -> Any:
        """The payload parsed as JSON; raises ValueError when it is not JSON."""
        return json.loads(self.payload)


class RetainedReader(Protocol):
    def get_retained(self, topic: str) -> RetainedMessage | None: ...


class BucketReader(Protocol):
    def query(
        self,
        device: str,
        *,
        variable: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]: ...


class Invoker(Protocol):
    def invoke_async(self, function: str, event: Mapping[str, Any]) -> None: ...


class WebhookClient(Protocol):
    def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float,
        retries: int,
        allow_http: bool = False,
    ) -> int: ...


class ActionPorts(Protocol):
    """The adapters the actions themselves call (the router's RouterDeps is one)."""

    @property
    def bucket(self) -> BucketWriter: ...

    @property
    def notifier(self) -> Notifier: ...

    @property
    def publisher(self) -> Publisher: ...

    @property
    def invoker(self) -> Invoker: ...

    @property
    def webhooks(self) -> WebhookClient: ...


@runtime_checkable
class NeedsInvocation(Protocol):
    """An adapter that bounds its work by the Lambda invocation it runs in (its remaining time)."""

    def register(self, context: Any) -> None: ...


@dataclass(frozen=True)
class AdapterWrappers:
    """What a host running the handlers puts around their adapters: each wrapper gets the adapter
    the function built and returns the one to use (the same port). The local stack records what
    the notifier and the webhook client sent (its outbox); on AWS there are none."""

    notifier: Callable[[Notifier], Notifier] | None = None
    webhooks: Callable[[WebhookClient], WebhookClient] | None = None


class InspectorLog(Protocol):
    def record_message(self, message: MessageRecord) -> None: ...

    def record_outcomes(self, message: MessageRecord, results: Sequence[ActionResult]) -> None: ...


class DeadLetters(Protocol):
    def send(self, record: Mapping[str, Any]) -> None: ...


class OnceRunner(Protocol):
    """Runs `work` at most once per key (Powertools idempotency on AWS); returns its result.
    Raises InProgressError while another invocation holds the key."""

    def run_once(
        self, key: Mapping[str, str], work: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]: ...


class BucketStore(BucketWriter, BucketReader, Protocol):
    """A device bucket that an analysis both writes and reads."""


class AnalysisPorts(Protocol):
    """Every adapter an analysis may use; implementations build each one on first access."""

    @property
    def publisher(self) -> Publisher: ...

    @property
    def retained(self) -> RetainedReader: ...

    @property
    def notifier(self) -> Notifier: ...

    @property
    def rate_limiter(self) -> RateLimiter: ...

    @property
    def bucket(self) -> BucketStore: ...

    @property
    def invoker(self) -> Invoker: ...

    @property
    def inspector(self) -> InspectorLog: ...


class TokenStore(Protocol):
    """Device tokens, keyed by their hash (mqtt_actions.tokens.token_hash); never the token."""

    def get(self, token_hash: str) -> TokenRecord | None: ...

    def add(self, token_hash: str, record: TokenRecord) -> bool:
        """Store a new token; False when that hash is stored already (nothing changed)."""
        ...

    def by_device(self, device: str) -> list[tuple[str, TokenRecord]]: ...

    def all(self) -> list[tuple[str, TokenRecord]]: ...

    def revoke(self, token_hash: str, at_ms: int) -> None: ...

    def touch(self, token_hash: str, at_ms: int, client_id: str | None) -> None: ...


class ConnectionCloser(Protocol):
    """Closes a live MQTT connection by client id (IoT Core DeleteConnection; locally the
    broker). Returns False when no such client is connected."""

    def close(self, client_id: str) -> bool: ...


class BindingStore(Protocol):
    """Client id -> device bindings of token connections, live or ended (mqtt_actions.bindings)."""

    def get(self, client_id: str) -> Binding | None: ...

    def bind(self, binding: Binding, now_s: int) -> Binding | None:
        """Record it; the holder's binding (nothing changed) when another device holds it."""
        ...

    def end(self, client_id: str, *, bound_at_most_ms: int) -> bool:
        """Mark it ended at that time (kept until it expires) if bound at or before it."""
        ...

    def delete(self, client_id: str, device: str) -> bool: ...

    def by_device(self, device: str) -> list[Binding]: ...

    def all(self) -> list[Binding]: ...


class DeviceProfiles(Protocol):
    """The device registry, read side: a device's tags, configuration parameters and settings
    (analyses' `Account.devices`, the router). None / absent for a device never registered."""

    def get(self, device: str) -> DeviceProfile | None: ...

    def all(self) -> list[DeviceProfile]: ...


class DeviceRegistry(DeviceProfiles, Protocol):
    """The device registry, with writes (`devices create|set`, `Account.devices.paramSet`)."""

    def put(self, profile: DeviceProfile) -> None: ...
