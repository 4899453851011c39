"""In-memory adapters for every port the router uses: what each was asked to do, nothing sent.
The idempotency guard and the rate limiter keep real state (per key, per window)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mqtt_actions.actions import Action
from mqtt_actions.bindings import DeviceDirectory, DeviceIdentity
from mqtt_actions.events import RouterEvent
from mqtt_actions.ports import ActionError, ActionResult, MessageRecord
from mqtt_actions.router import ActionsSource, RouterDeps
from mqtt_actions.settings import RouterSettings

SETTINGS = RouterSettings.from_env(
    {
        "BUCKET_TABLE": "bucket",
        "ACTIONS_TABLE": "actions",
        "IDEMPOTENCY_TABLE": "idempotency",
        "DEAD_LETTER_QUEUE_URL": "dlq",
        "EMAIL_SENDER": "sender@example.com",
        "MAX_HOPS": "2",
        "ANALYSIS_FUNCTIONS": '{"f": "ForecastFunction"}',
    }
)


@dataclass
class Memory:
    """Everything the router did, by port."""

    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sms: list[tuple[str, str]] = field(default_factory=list)
    emails: list[tuple[list[str], str]] = field(default_factory=list)
    published: list[tuple[str, bytes, int]] = field(default_factory=list)
    invoked: list[str] = field(default_factory=list)
    posted: list[str] = field(default_factory=list)
    messages: list[MessageRecord] = field(default_factory=list)
    outcomes: list[ActionResult] = field(default_factory=list)
    dead_letters: list[Mapping[str, Any]] = field(default_factory=list)
    failing_urls: set[str] = field(default_factory=set)
    once_done: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    windows: dict[str, list[float]] = field(default_factory=dict)


class _Bucket:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def insert(
        self, device: str, points: Sequence[Mapping[str, Any]], *, traceid: str, timestamp: int
    ) -> int:
        self.m.rows += [(device, dict(p)) for p in points]
        return len(points)


class _Limiter:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def allow(self, action_id: str, max_count: int, per_seconds: int, now: float) -> bool:
        window = [t for t in self.m.windows.get(action_id, []) if t > now - per_seconds]
        allowed = len(window) < max_count
        self.m.windows[action_id] = [*window, now] if allowed else window
        return allowed


class _Notifier:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def send_sms(self, to: str, message: str) -> str:
        self.m.sms.append((to, message))
        return f"sms-{len(self.m.sms)}"

    def send_email(
        self, to: Sequence[str], subject: str, text: str | None, html: str | None
    ) -> str:
        self.m.emails.append((list(to), subject))
        return f"mail-{len(self.m.emails)}"


class _Publisher:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool, hops: int) -> None:
        self.m.published.append((topic, payload, hops))


class _Invoker:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def invoke_async(self, function: str, event: Mapping[str, Any]) -> None:
        self.m.invoked.append(function)


class _Webhooks:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float,
        retries: int,
        allow_http: bool = False,
    ) -> int:
        self.m.posted.append(url)
        if url in self.m.failing_urls:
            raise ActionError("HTTP 500 from the receiver")
        return 200


class _Inspector:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def record_message(self, message: MessageRecord) -> None:
        self.m.messages.append(message)

    def record_outcomes(self, message: MessageRecord, results: Sequence[ActionResult]) -> None:
        self.m.outcomes += results


class _DeadLetters:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def send(self, record: Mapping[str, Any]) -> None:
        self.m.dead_letters.append(record)


class _Once:
    """At most once per key: a second run returns what the first stored."""

    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def run_once(
        self, key: Mapping[str, str], work: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        k = (key["traceid"], key["action_id"])
        if k not in self.m.once_done:
            self.m.once_done[k] = work()
        return self.m.once_done[k]


def in_memory_deps(
    actions: Sequence[Action], memory: Memory, clock: Callable[[], float]
) -> RouterDeps:
    snapshot = list(actions)
    return RouterDeps(
        actions=ActionsSource(lambda: snapshot, ttl=float("inf"), clock=clock),
        bucket=_Bucket(memory),
        rate_limiter=_Limiter(memory),
        notifier=_Notifier(memory),
        publisher=_Publisher(memory),
        invoker=_Invoker(memory),
        webhooks=_Webhooks(memory),
        inspector=_Inspector(memory),
        dead_letters=_DeadLetters(memory),
        once=_Once(memory),
        clock=clock,
        # The client id is the device, as on the local stack without token checking.
        devices=DeviceDirectory(lambda _client_id: None, DeviceIdentity.CLIENT_ID),
    )


def event(topic: str, payload: object, *, traceid: str = "t-1", **extra: Any) -> RouterEvent:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return RouterEvent.model_validate(
        {
            "payload": base64.b64encode(raw).decode(),
            "topic": topic,
            "clientid": topic.split("/")[1] if topic.count("/") >= 1 else "device",
            "timestamp": 1_764_072_000_000,
            "traceid": traceid,
            **extra,
        }
    )
