"""Dry run: the router's real logic over recording fakes of every port. Nothing is stored, sent,
published, invoked or posted; each effect that would have happened is kept, with the action
that caused it. `mqtt-actions actions test` prints them.

Rate limits are not consulted (a dry run neither spends nor reads the counters) and every
action runs as if for the first time."""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mqtt_actions.actions import ACTION_TYPES, Action
from mqtt_actions.bindings import DeviceDirectory, DeviceIdentity
from mqtt_actions.events import RouterEvent
from mqtt_actions.ports import ActionResult, MessageRecord
from mqtt_actions.router import ActionsSource, RouterDeps, route
from mqtt_actions.settings import RouterSettings


@dataclass(frozen=True)
class Effect:
    """One thing an action would have done: `kind` is bucket, sms, email, mqtt_publish,
    analysis, webhook or dead_letter; `detail` holds what would have been sent (JSON-safe)."""

    action_id: str | None
    kind: str
    detail: dict[str, Any]


@dataclass
class Recorder:
    """Shared by the fakes: the effects so far and the action being run."""

    effects: list[Effect] = field(default_factory=list)
    current_action: str | None = None
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, kind: str, detail: dict[str, Any], *, action_id: str | None = None) -> str:
        """Keep one effect; returns a made-up message id for ports that answer with one."""
        self.effects.append(Effect(action_id or self.current_action, kind, detail))
        return f"dry-run-{next(self._ids)}"

    def for_action(self, action_id: str) -> tuple[Effect, ...]:
        return tuple(e for e in self.effects if e.action_id == action_id)


def _payload_fields(payload: bytes) -> dict[str, Any]:
    try:
        return {"payload": payload.decode("utf-8")}
    except UnicodeDecodeError:
        return {"payload": base64.b64encode(payload).decode("ascii"), "encoding": "base64"}


class RecordingBucket:
    def __init__(self, recorder: Recorder) -> None:
        self._rec = recorder

    def insert(
        self, device: str, points: Sequence[Mapping[str, Any]], *, traceid: str, timestamp: int
    ) -> int:
        self._rec.add("bucket", {"device": device, "points": [dict(p) for p in points]})
        return len(points)


class UnlimitedRate:
    def allow(self, action_id: str, max_count: int, per_seconds: int, now: float) -> bool:
        return True


class RecordingNotifier:
    def __init__(self, recorder: Recorder) -> None:
        self._rec = recorder

    def send_sms(self, to: str, message: str) -> str:
        return self._rec.add("sms", {"to": to, "message": message})

    def send_email(
        self, to: Sequence[str], subject: str, text: str | None, html: str | None
    ) -> str:
        return self._rec.add(
            "email", {"to": list(to), "subject": subject, "text": text, "html": html}
        )


class RecordingPublisher:
    def __init__(self, recorder: Recorder) -> None:
        self._rec = recorder

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool, hops: int) -> None:
        self._rec.add(
            "mqtt_publish",
            {"topic": topic, "qos": qos, "retain": retain, "hops": hops} | _payload_fields(payload),
        )


class RecordingInvoker:
    def __init__(self, recorder: Recorder) -> None:
        self._rec = recorder

    def invoke_async(self, function: str, event: Mapping[str, Any]) -> None:
        self._rec.add("analysis", {"function": function, "event": dict(event)})


class RecordingWebhooks:
    """Records the request; returns status 0: nothing was sent, so nothing answered."""

    def __init__(self, recorder: Recorder) -> None:
        self._rec = recorder

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
        self._rec.add(
            "webhook",
            {"url": url, "headers": dict(headers), "timeout": timeout, "retries": retries}
            | _payload_fields(body),
        )
        return 0


class RecordingInspector:
    def __init__(self) -> None:
        self.messages: list[MessageRecord] = []
        self.outcomes: list[ActionResult] = []

    def record_message(self, message: MessageRecord) -> None:
        self.messages.append(message)

    def record_outcomes(self, message: MessageRecord, results: Sequence[ActionResult]) -> None:
        self.outcomes.extend(results)


class RecordingDeadLetters:
    def __init__(self, recorder: Recorder) -> None:
        self._rec = recorder

    def send(self, record: Mapping[str, Any]) -> None:
        action = record.get("action_id")
        self._rec.add(
            "dead_letter",
            {"kind": record.get("kind"), "reason": record.get("reason")},
            action_id=action if isinstance(action, str) else None,
        )


class EveryTime:
    """Runs the work every time (no idempotency records) and tells the recorder whose it is;
    every action type goes through it (`guarded_types`), insert_bucket included."""

    def __init__(self, recorder: Recorder) -> None:
        self._rec = recorder

    def run_once(
        self, key: Mapping[str, str], work: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        self._rec.current_action = key.get("action_id")
        try:
            return work()
        finally:
            self._rec.current_action = None


def dry_run_deps(
    actions: Sequence[Action], recorder: Recorder, *, clock: Callable[[], float] = time.time
) -> RouterDeps:
    """RouterDeps whose every port records instead of acting."""
    snapshot = list(actions)
    return RouterDeps(
        actions=ActionsSource(lambda: snapshot, ttl=float("inf"), clock=clock),
        bucket=RecordingBucket(recorder),
        rate_limiter=UnlimitedRate(),
        notifier=RecordingNotifier(recorder),
        publisher=RecordingPublisher(recorder),
        invoker=RecordingInvoker(recorder),
        webhooks=RecordingWebhooks(recorder),
        inspector=RecordingInspector(),
        dead_letters=RecordingDeadLetters(recorder),
        once=EveryTime(recorder),
        clock=clock,
        guarded_types=frozenset(ACTION_TYPES),
        # A dry run simulates the device it is given: its client id names it.
        devices=DeviceDirectory(lambda _client_id: None, DeviceIdentity.CLIENT_ID),
    )


@dataclass(frozen=True)
class ActionPreview:
    """One matched action: its outcome and what it would have sent."""

    result: ActionResult
    effects: tuple[Effect, ...]


@dataclass(frozen=True)
class DryRunReport:
    message: MessageRecord
    actions: tuple[ActionPreview, ...]


def dry_run(
    event: RouterEvent,
    actions: Sequence[Action],
    settings: RouterSettings,
    *,
    clock: Callable[[], float] = time.time,
) -> DryRunReport:
    """Route `event` through `actions` as the router would, sending nothing."""
    recorder = Recorder()
    summary = route(event, dry_run_deps(actions, recorder, clock=clock), settings)
    previews = tuple(ActionPreview(r, recorder.for_action(r.action_id)) for r in summary.results)
    return DryRunReport(summary.message, previews)
