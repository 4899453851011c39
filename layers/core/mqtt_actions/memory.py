"""The one in-memory implementation of every port the router uses (mqtt_actions.ports): what each
was asked to do, kept in a `Memory`, nothing sent. The dry run (`actions test`), the tests and
the router benchmark all route through these, so a port's contract changes in one place.

- `Memory` keeps each port's calls (rows, sms, emails, published, ...) and, for the dry run, the
  same calls as `effects` attributed to the action that caused them.
- Failure injection for tests: `fail={"send_sms": ActionError("...")}` makes that port method
  raise; `failing_urls` makes the webhook port fail for those URLs; `check(method, args)` sees
  every call first (tests use it to refuse what boto3 or http.client would refuse).
- `memory_deps(actions, memory)` gives RouterDeps with real idempotency (once per traceid and
  action) and a real sliding-window rate limiter; `dry_run=True` gives every action a first run
  and no rate limit (a dry run neither spends nor reads the counters).
"""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mqtt_actions.actions import ACTION_TYPES, Action
from mqtt_actions.bindings import DeviceDirectory, DeviceIdentity
from mqtt_actions.ports import ActionError, ActionResult, MessageRecord
from mqtt_actions.router import GUARDED_TYPES, ActionsSource, RouterDeps

__all__ = ["Effect", "Memory", "memory_deps"]


@dataclass(frozen=True)
class Effect:
    """One thing an action did (or, in a dry run, would have done): `kind` is bucket, sms, email,
    mqtt_publish, analysis, webhook or dead_letter; `detail` holds what was sent (JSON-safe)."""

    action_id: str | None
    kind: str
    detail: dict[str, Any]


def _payload_fields(payload: bytes) -> dict[str, Any]:
    try:
        return {"payload": payload.decode("utf-8")}
    except UnicodeDecodeError:
        return {"payload": base64.b64encode(payload).decode("ascii"), "encoding": "base64"}


@dataclass
class Memory:
    """Everything the router asked of its ports, by port, and as effects in order."""

    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    sms: list[tuple[str, str]] = field(default_factory=list)
    emails: list[tuple[list[str], str]] = field(default_factory=list)
    published: list[tuple[str, bytes, int]] = field(default_factory=list)
    publish_sources: list[str] = field(default_factory=list)  # who published each of `published`
    invoked: list[str] = field(default_factory=list)
    posted: list[str] = field(default_factory=list)
    messages: list[MessageRecord] = field(default_factory=list)
    outcomes: list[ActionResult] = field(default_factory=list)
    dead_letters: list[Mapping[str, Any]] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    # What the webhook port answers: 200, or 0 in a dry run (nothing was sent, nothing answered).
    webhook_status: int = 200
    # Failure injection (tests): port method name -> the error it raises; URLs that fail.
    fail: dict[str, BaseException] = field(default_factory=dict)
    failing_urls: set[str] = field(default_factory=set)
    check: Callable[[str, tuple[Any, ...]], None] | None = None
    # State of the idempotency guard and the rate limiter.
    once_done: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    windows: dict[str, list[float]] = field(default_factory=dict)
    current_action: str | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def called(self, method: str, *args: Any) -> None:
        """Every port call passes here first: the check, then an injected failure."""
        if self.check is not None:
            self.check(method, args)
        if (error := self.fail.get(method)) is not None:
            raise error

    def effect(self, kind: str, detail: dict[str, Any], *, action_id: str | None = None) -> str:
        """Keep one effect; returns a made-up message id for ports that answer with one."""
        self.effects.append(Effect(action_id or self.current_action, kind, detail))
        return f"{kind}-{next(self._ids)}"

    def for_action(self, action_id: str) -> tuple[Effect, ...]:
        return tuple(e for e in self.effects if e.action_id == action_id)


class MemoryBucket:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def insert(
        self, device: str, points: Sequence[Mapping[str, Any]], *, traceid: str, timestamp: int
    ) -> int:
        self.m.called("insert", device, list(points), traceid)
        self.m.rows += [(device, dict(p)) for p in points]
        self.m.effect("bucket", {"device": device, "points": [dict(p) for p in points]})
        return len(points)


class SlidingWindowLimiter:
    """At most `max_count` per `per_seconds` per action, as the DynamoDB counter allows."""

    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def allow(
        self, action_id: str, max_count: int, per_seconds: int, now: float, count: int = 1
    ) -> bool:
        window = [t for t in self.m.windows.get(action_id, []) if t > now - per_seconds]
        allowed = len(window) + count <= max_count
        self.m.windows[action_id] = [*window, *[now] * count] if allowed else window
        return allowed


class UnlimitedRate:
    def allow(
        self, action_id: str, max_count: int, per_seconds: int, now: float, count: int = 1
    ) -> bool:
        return True


class MemoryNotifier:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def send_sms(self, to: str, message: str) -> str:
        self.m.called("send_sms", to, message)
        self.m.sms.append((to, message))
        return self.m.effect("sms", {"to": to, "message": message})

    def send_email(
        self, to: Sequence[str], subject: str, text: str | None, html: str | None
    ) -> str:
        self.m.called("send_email", list(to), subject, text, html)
        self.m.emails.append((list(to), subject))
        detail = {"to": list(to), "subject": subject, "text": text, "html": html}
        return self.m.effect("email", detail)


class MemoryPublisher:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool, hops: int, source: str = ""
    ) -> None:
        self.m.called("publish", topic, payload)
        self.m.published.append((topic, payload, hops))
        self.m.publish_sources.append(source)
        detail = {"topic": topic, "qos": qos, "retain": retain, "hops": hops}
        self.m.effect("mqtt_publish", detail | _payload_fields(payload))


class MemoryInvoker:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def invoke_async(self, function: str, event: Mapping[str, Any]) -> None:
        self.m.called("invoke_async", function, dict(event))
        self.m.invoked.append(function)
        self.m.effect("analysis", {"function": function, "event": dict(event)})


class MemoryWebhooks:
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
        self.m.called("post", url, body, dict(headers))
        self.m.posted.append(url)
        detail = {"url": url, "headers": dict(headers), "timeout": timeout, "retries": retries}
        self.m.effect("webhook", detail | _payload_fields(body))
        if url in self.m.failing_urls:
            raise ActionError("HTTP 500 from the receiver")
        return self.m.webhook_status


class MemoryInspector:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def record_message(self, message: MessageRecord) -> None:
        self.m.called("record_message", message)
        self.m.messages.append(message)

    def record_outcomes(self, message: MessageRecord, results: Sequence[ActionResult]) -> None:
        self.m.called("record_outcomes", message, list(results))
        self.m.outcomes += results


class MemoryDeadLetters:
    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def send(self, record: Mapping[str, Any]) -> None:
        self.m.called("send", dict(record))
        self.m.dead_letters.append(record)
        action = record.get("action_id")
        self.m.effect(
            "dead_letter",
            {"kind": record.get("kind"), "reason": record.get("reason")},
            action_id=action if isinstance(action, str) else None,
        )


class OnceByKey:
    """At most once per (traceid, action id): a second run returns what the first stored."""

    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def run_once(
        self, key: Mapping[str, str], work: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        k = (key["traceid"], key["action_id"])
        if k not in self.m.once_done:
            self.m.current_action = key.get("action_id")
            try:
                self.m.once_done[k] = work()
            finally:
                self.m.current_action = None
        return self.m.once_done[k]


class EveryTime:
    """Runs the work every time (no idempotency records), attributing its effects."""

    def __init__(self, memory: Memory) -> None:
        self.m = memory

    def run_once(
        self, key: Mapping[str, str], work: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        self.m.current_action = key.get("action_id")
        try:
            return work()
        finally:
            self.m.current_action = None


def memory_deps(
    actions: Sequence[Action],
    memory: Memory,
    *,
    clock: Callable[[], float] = time.time,
    dry_run: bool = False,
) -> RouterDeps:
    """RouterDeps whose every port is kept in `memory`. `dry_run`: every action runs as if for
    the first time, under no rate limit, every type attributed (insert_bucket included)."""
    snapshot = list(actions)
    return RouterDeps(
        actions=ActionsSource(lambda: snapshot, ttl=float("inf"), clock=clock),
        bucket=MemoryBucket(memory),
        rate_limiter=UnlimitedRate() if dry_run else SlidingWindowLimiter(memory),
        notifier=MemoryNotifier(memory),
        publisher=MemoryPublisher(memory),
        invoker=MemoryInvoker(memory),
        webhooks=MemoryWebhooks(memory),
        inspector=MemoryInspector(memory),
        dead_letters=MemoryDeadLetters(memory),
        once=EveryTime(memory) if dry_run else OnceByKey(memory),
        clock=clock,
        guarded_types=frozenset(ACTION_TYPES) if dry_run else GUARDED_TYPES,
        # In memory (tests, the dry run) the client id is the device, as on the local stack
        # without token checking; the bindings' own tests give a DeviceDirectory of theirs.
        devices=DeviceDirectory(lambda _client_id: None, DeviceIdentity.CLIENT_ID),
    )
