"""Routing: one MQTT message -> the actions whose filters match -> one outcome per action.

Pure logic over the ports in `ports.py`; the handler in functions/router wires the adapters.

Faults, per action (the others always run):
- the action fails (ActionError, or any adapter error): `failed`, its idempotency record is
  deleted, and a dead letter holds the original message for `dlq replay`;
- another invocation holds the action (InProgressError: running it now, or crashed while
  running it, until that invocation's deadline): `in_progress`, no dead letter; the handler
  then raises RetryLaterError so Lambda delivers the message again later, when the holder has
  finished (`duplicate`) or its hold has expired (the action runs). Lambda's on-failure
  destination keeps the original if that never happens;
- the side effect happened but recording it failed (the idempotency table refused the result):
  reported with its outcome and the reason, no dead letter, so a replay does not send it twice.

The idempotency guard covers the types in RouterDeps.guarded_types, by default GUARDED_TYPES
(sms, email, webhook, run_analysis, mqtt_publish). insert_bucket runs without it: its rows have
deterministic keys, so a second delivery of a message rewrites the same rows (`done` again) and
never duplicates them.
"""

from __future__ import annotations

import base64
import dataclasses
import itertools
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from aws_lambda_powertools import Logger

from mqtt_actions.actions import Action, effective_rate_limit
from mqtt_actions.bindings import NOT_MQTT, UNKNOWN_CONNECTION, UNKNOWN_DEVICE, DeviceDirectory
from mqtt_actions.conditions import explain
from mqtt_actions.events import RouterEvent
from mqtt_actions.executors import ExecContext, execute
from mqtt_actions.parsers import DeviceParser, ParserError, ParserLimits, ParserLookup, run_parser
from mqtt_actions.payload import wrap_payload
from mqtt_actions.ports import (
    ActionError,
    ActionResult,
    AdapterWrappers,
    BucketWriter,
    DeadLetters,
    InProgressError,
    InspectorLog,
    Invoker,
    MessageRecord,
    Notifier,
    OnceRunner,
    Outcome,
    Publisher,
    RateLimiter,
    WebhookClient,
)
from mqtt_actions.reserved import STORE_ID, TAGO_DATA_POST, store_action, tago_data_problem
from mqtt_actions.settings import RouterSettings
from mqtt_actions.text import printable
from mqtt_actions.topics import TopicIndex

logger = Logger(child=True)

PREVIEW_BYTES = 1024
# Bytes kept of a payload that is not text: their base64 is 256 characters, the inspector's
# PREVIEW_LIMIT, so it is never cut in the middle of a base64 quantum.
PREVIEW_BINARY_BYTES = 192
# Tells this run's result from one stored by an earlier delivery: unique per process and run,
# cheaper than a uuid4 per action.
_RUN_PREFIX = os.urandom(8).hex() + "-"
_RUN_COUNTER = itertools.count()
# Action types that create new messages: refused once a message has travelled MAX_HOPS links.
PUBLISHING_TYPES = frozenset({"mqtt_publish", "run_analysis"})
# Action types with side effects a second delivery must not repeat: run under the idempotency
# guard (deps.once). insert_bucket is not one: its rows have deterministic keys, so running it
# again for the same message rewrites the same rows (and saves the guard's two table calls).
GUARDED_TYPES = frozenset({"sms", "email", "webhook", "run_analysis", "mqtt_publish"})


class ActionsSource:
    """Loads actions through `load` and keeps one TopicIndex (of action ids) for `ttl` seconds,
    or until `changed()` says the actions changed (the local stack's change marker).

    A reload that fails (the table throttled) keeps the actions loaded before and is tried again
    after RELOAD_RETRY_SECONDS at most; only a first load that fails raises (the message is
    then retried by Lambda: no actions known, nothing can be decided)."""

    RELOAD_RETRY_SECONDS = 5.0

    def __init__(
        self,
        load: Callable[[], Sequence[Action]],
        ttl: float,
        clock: Callable[[], float],
        changed: Callable[[], bool] | None = None,
    ) -> None:
        self._load = load
        self._changed = changed  # True: the actions changed since the last call (reload now)
        self._ttl = ttl
        self._clock = clock
        self._index: TopicIndex[str] = TopicIndex()
        self._by_id: dict[str, Action] = {}
        self._loaded_at: float | None = None
        self._next_load = -math.inf

    def match(self, topic: str) -> list[Action]:
        """Enabled actions with a filter matching `topic`, each once, in a stable order."""
        now = self._clock()
        changed = self._changed is not None and self._changed()
        if changed or now >= self._next_load:
            self._refresh(now)
        by_id = self._by_id
        return [by_id[action_id] for action_id in self._index.match(topic)]

    def _refresh(self, now: float) -> None:
        try:
            self._rebuild(now)
        except Exception:
            if self._loaded_at is None:
                raise
            logger.exception(
                "actions reload failed; using the actions loaded before",
                extra={"loaded_seconds_ago": round(now - self._loaded_at, 1)},
            )
            self._next_load = now + min(self._ttl, self.RELOAD_RETRY_SECONDS)
        else:
            self._next_load = now + self._ttl

    def _rebuild(self, now: float) -> None:
        # Values are ids: actions hold lists, so they are not hashable, and ids compare fast.
        index: TopicIndex[str] = TopicIndex(cache_size=4096)
        by_id: dict[str, Action] = {}
        for action in self._load():
            if action.enabled:
                by_id[action.id] = action
                for topic_filter in action.topics:
                    index.add(topic_filter, action.id)
        self._index, self._by_id, self._loaded_at = index, by_id, now


@dataclass
class RouterDeps:
    actions: ActionsSource
    bucket: BucketWriter
    rate_limiter: RateLimiter
    notifier: Notifier
    publisher: Publisher
    invoker: Invoker
    webhooks: WebhookClient
    inspector: InspectorLog
    dead_letters: DeadLetters
    once: OnceRunner
    clock: Callable[[], float] = field(default=time.time)
    # The action types run through `once`; the dry run sends every type through it.
    guarded_types: frozenset[str] = GUARDED_TYPES
    # Names the device of a message's client id (the authorizer's binding); None: only events
    # that name their device (a dry run, a replayed dead letter) can be routed.
    devices: DeviceDirectory | None = None
    # Devices' payload parsers (the device registry); None: no device has one.
    parsers: ParserLookup | None = None
    # Counts the data points a device stores a minute (MaxPointsPerDeviceMinute); None: the
    # rate limiter. The router gives a ReservingRateLimiter: one shared write per block of points.
    points_limiter: RateLimiter | None = None


def wrap_adapters(deps: RouterDeps, wrappers: AdapterWrappers) -> RouterDeps:
    """`deps` with the notifier and webhook client its host wraps (the same object when none)."""
    if wrappers.notifier is None and wrappers.webhooks is None:
        return deps
    return dataclasses.replace(
        deps,
        notifier=deps.notifier if wrappers.notifier is None else wrappers.notifier(deps.notifier),
        webhooks=deps.webhooks if wrappers.webhooks is None else wrappers.webhooks(deps.webhooks),
    )


@dataclass(frozen=True)
class RouteSummary:
    message: MessageRecord
    results: tuple[ActionResult, ...]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    def in_progress(self) -> list[str]:
        """Actions another invocation holds: the message must be delivered again later."""
        return [r.action_id for r in self.results if r.outcome is Outcome.IN_PROGRESS]


class RetryLaterError(RuntimeError):
    """Raised by the handler when some action is in progress elsewhere: Lambda retries."""

    def __init__(self, traceid: str, action_ids: Sequence[str]) -> None:
        super().__init__(
            f"message {traceid}: {', '.join(action_ids)} in progress in another invocation; "
            "raising so that Lambda delivers it again later"
        )
        self.action_ids = list(action_ids)


IDENTITY_CHECK = "identity"  # the inspector line of a message refused for its unknown device


def resolve_device(event: RouterEvent, deps: RouterDeps) -> RouterEvent | None:
    """`event` naming its device (mqtt_actions.bindings), or None: an unknown connection."""
    if event.device:
        return event  # a replay or a dry run: named when it first came
    if deps.devices is None:
        return None
    device = deps.devices.device_for(event.clientid, event.principal, event.timestamp)
    return None if device is None else event.model_copy(update={"device": device})


def route(event: RouterEvent, deps: RouterDeps, settings: RouterSettings) -> RouteSummary:
    """Run every action matching `event.topic` once; one failing action never stops the others.
    A message whose device cannot be named runs nothing: the inspector shows it and a dead
    letter keeps it (reason `unknown connection`).

    When the message matches some action and its device has a payload parser, the parser runs
    first, once, on the wrapped points: its result is what the conditions, insert_bucket, the
    placeholders, analyses and webhooks see. A parser that fails runs no action: the message
    goes to the inspector and the dead-letter queue with the parser's error and console lines.
    """
    named = resolve_device(event, deps)
    if named is None:
        return _unknown_connection(event, deps)
    event = named
    payload = event.payload_bytes()  # decoded once per event (the handler validated it)
    points = wrap_payload(payload, event.topic)
    matched = deps.actions.match(event.topic)
    if event.topic == TAGO_DATA_POST and event.device != NOT_MQTT:
        matched = [store_action(), *matched]  # TagoIO's reserved topic: no action needed
    if event.only_actions is not None:
        wanted = set(event.only_actions)
        matched = [a for a in matched if a.id in wanted]
    parsed: ActionResult | None = None
    found = deps.parsers.for_device(event.device) if matched and deps.parsers else None
    if found is not None:
        points, parsed = _parse(found, points, settings)
    message = MessageRecord(
        device=event.device,
        topic=event.topic,
        traceid=event.traceid,
        timestamp=event.timestamp,
        size=len(payload),
        **_preview(payload),
        points=len(points),
        hops=event.hops,
        matched=len(matched),
        qos=event.local_qos,
        # Only a message not sent over MQTT (iot-data: the stack itself) may say who sent it.
        source=(event.source or None) if event.clientid == NOT_MQTT else None,
    )
    deps.inspector.record_message(message)
    if parsed is not None and parsed.outcome is Outcome.FAILED:
        deps.inspector.record_outcomes(message, (parsed,))
        deps.dead_letters.send(_parser_dead_letter(event, parsed))
        return RouteSummary(message, (parsed,))
    run = _MessageRun(
        ExecContext(event=event, payload=payload, points=points, deps=deps, settings=settings),
        deps,
    )
    results = tuple(run.action(action) for action in matched)
    if parsed is not None:
        results = (parsed, *results)
    deps.inspector.record_outcomes(message, results)
    replay = event.only_actions is not None  # a replay's dead letter is kept unless it settles
    for result in results:
        if (
            result.outcome is Outcome.FAILED
            or _refused_tago_data(result)
            or (_capped(result) and not replay)
        ):
            deps.dead_letters.send(_dead_letter(event, result))
    return RouteSummary(message, results)


def _capped(result: ActionResult) -> bool:
    """Points not stored for a cap (MaxPointsPerMessage, MaxPointsPerDeviceMinute): kept."""
    return result.outcome in (Outcome.REFUSED, Outcome.THROTTLED) and "cap" in result.detail


def _refused_tago_data(result: ActionResult) -> bool:
    """`tago/data/post` data (or some of its points) refused: the device sent it to be stored,
    so the message is kept as a dead letter too (its valid points are stored)."""
    return result.action_id == STORE_ID and result.outcome in (
        Outcome.REFUSED,
        Outcome.POINTS_REFUSED,
    )


def _unknown_connection(event: RouterEvent, deps: RouterDeps) -> RouteSummary:
    payload = event.payload_bytes()
    message = MessageRecord(
        device=UNKNOWN_DEVICE,
        topic=event.topic,
        traceid=event.traceid,
        timestamp=event.timestamp,
        size=len(payload),
        **_preview(payload),
        points=0,
        hops=event.hops,
        matched=1,
        qos=event.local_qos,
    )
    why = (
        f"{UNKNOWN_CONNECTION}: client id {event.clientid!r} has no binding to a device (not "
        "connected through the token authorizer, or its binding ended); no action ran"
    )
    result = ActionResult(
        action_id=IDENTITY_CHECK,
        action_type=IDENTITY_CHECK,
        outcome=Outcome.REFUSED,
        reason=why,
        detail={"client_id": event.clientid},
    )
    deps.inspector.record_message(message)
    deps.inspector.record_outcomes(message, (result,))
    deps.dead_letters.send(
        {
            "kind": "unknown_connection",
            "reason": UNKNOWN_CONNECTION,
            "client_id": event.clientid,
            "event": _event_json(event),
        }
    )
    logger.warning("unknown connection", extra={"client_id": event.clientid})
    return RouteSummary(message, (result,))


# The parser's step in a message's outcomes: not an action id ([a-z0-9-]), so never one of them.
PARSER_STEP = "payload_parser"


def _parse(
    found: DeviceParser, points: list[dict[str, Any]], settings: RouterSettings
) -> tuple[list[dict[str, Any]], ActionResult]:
    """The device's parser on `points`: (the points to use, the parser's outcome)."""
    limits = ParserLimits(settings.parser_timeout_seconds, settings.parser_memory_mb)
    label = found.parser.label()
    try:
        run = run_parser(found.parser, points, found.device, limits)
    except ParserError as exc:
        detail: dict[str, Any] = {"parser": label, "error_kind": exc.kind, "logs": exc.logs}
        reason = f"payload parser {label} failed: {exc.message}; nothing stored"
        return points, _step(Outcome.FAILED, reason, detail)
    detail = {"parser": label, "points": len(run.points), "logs": run.logs}
    return run.points, _step(Outcome.DONE, None, detail)


def _step(outcome: Outcome, reason: str | None, detail: dict[str, Any]) -> ActionResult:
    return ActionResult(
        action_id=PARSER_STEP,
        action_type=PARSER_STEP,
        outcome=outcome,
        reason=reason,
        detail=detail,
    )


@dataclass(frozen=True)
class _MessageRun:
    """One message's actions: its context and the router's dependencies, held once."""

    ctx: ExecContext
    deps: RouterDeps

    def action(self, action: Action) -> ActionResult:
        ctx, settings = self.ctx, self.ctx.settings
        if action.id == STORE_ID and (problem := tago_data_problem(ctx.payload)) is not None:
            return _result(action, Outcome.REFUSED, problem)
        if action.when and (why := explain(action.when, ctx.points)) is not None:
            return _result(action, Outcome.CONDITION_FALSE, why)
        if action.type in PUBLISHING_TYPES and ctx.event.hops >= settings.max_hops:
            why = (
                f"message has travelled {ctx.event.hops} action/analysis hops (MAX_HOPS="
                f"{settings.max_hops}); {action.type} refused to stop a publish loop"
            )
            return _result(action, Outcome.LOOP_REFUSED, why)
        if action.type in self.deps.guarded_types:
            return self._guarded(action)
        try:
            outcome, reason, detail = self._attempt(action)
        except Exception as exc:  # ActionError, or an adapter failing: keep the others going
            return _failed(action, exc)
        return _result(action, outcome, reason, detail)

    def _attempt(self, action: Action) -> tuple[Outcome, str | None, dict[str, Any] | None]:
        """The rate limit, then the action: (outcome, reason, detail). Raises what it raises."""
        limit = effective_rate_limit(action)
        if limit is not None and not self.deps.rate_limiter.allow(
            action.id, limit.max, limit.per_seconds, self.deps.clock()
        ):
            return (
                Outcome.THROTTLED,
                f"rate limit of {limit.max} per {limit.per_seconds} s reached",
                None,
            )
        if action.type == "insert_bucket" and (capped := self._points_capped()) is not None:
            return capped
        detail = execute(action, self.ctx)
        if not detail.get("refused"):
            return Outcome.DONE, None, detail
        return Outcome.POINTS_REFUSED, _refusal_summary(detail, len(self.ctx.points)), detail

    def _points_capped(self) -> tuple[Outcome, str, dict[str, Any]] | None:
        """Over MaxPointsPerMessage (refused) or the device's MaxPointsPerDeviceMinute
        (throttled): nothing of the message is stored and it is dead-lettered, so `dlq replay`
        stores it once the parameter is raised or the minute has passed. None: store it."""
        ctx, settings = self.ctx, self.ctx.settings
        count = len(ctx.checked_points()[0])
        cap = settings.max_points_per_message
        if cap and count > cap:
            why = (
                f"the message holds {count:,} data points to store; at most {cap:,} are stored "
                f"of one message ({POINTS_PER_MESSAGE}); nothing stored, the message is "
                f"dead-lettered: raise {POINTS_PER_MESSAGE}, then `dlq replay` it"
            )
            return Outcome.REFUSED, why, _cap_detail(POINTS_PER_MESSAGE, cap, count)
        cap = settings.max_points_per_device_minute
        if not cap or not count:
            return None
        device = ctx.event.device
        limiter = self.deps.points_limiter or self.deps.rate_limiter
        if limiter.allow(f"{POINTS_KEY}{device}", cap, 60, self.deps.clock(), count=count):
            return None
        why = (
            f"device {device!r} may store {cap:,} data points a minute "
            f"({POINTS_PER_DEVICE_MINUTE}) and this message's {count:,} do not fit; nothing "
            "stored, the message is dead-lettered: `dlq replay` stores it later"
        )
        return Outcome.THROTTLED, why, _cap_detail(POINTS_PER_DEVICE_MINUTE, cap, count)

    def _guarded(self, action: Action) -> ActionResult:
        """`_attempt` at most once per (traceid, action id), for the types that must not repeat."""
        execution_id = f"{_RUN_PREFIX}{next(_RUN_COUNTER)}"
        finished: list[dict[str, Any]] = []  # what `work` returned, even if recording it failed
        traceid = self.ctx.event.traceid

        def work() -> dict[str, Any]:
            outcome, reason, detail = self._attempt(action)
            done: dict[str, Any] = {"execution_id": execution_id, "outcome": outcome.value}
            if reason is not None:
                done["reason"] = reason
            if detail is not None:
                done["detail"] = detail
            finished.append(done)
            return done

        try:
            stored = self.deps.once.run_once({"traceid": traceid, "action_id": action.id}, work)
        except InProgressError:
            why = (
                "another invocation holds this action for this message (running it, or crashed "
                "until its deadline); the message is delivered again later"
            )
            return _result(action, Outcome.IN_PROGRESS, why)
        except Exception as exc:
            if finished and not isinstance(exc, ActionError):
                # The side effect happened; only recording it failed: never send it again.
                logger.exception("action ran; its idempotency record was not saved")
                ran = finished[0]
                why = (
                    f"{ran.get('reason') or 'ran'}; its idempotency record was not saved "
                    f"({type(exc).__name__}: {exc}), so it is not retried"
                )
                return _result(action, Outcome(ran["outcome"]), why, ran.get("detail"))
            return _failed(action, exc)
        if stored.get("execution_id") != execution_id:
            return _result(
                action,
                Outcome.DUPLICATE,
                f"already ran for traceid {traceid}; not repeated",
                {"previous": stored.get("outcome")},
            )
        outcome = Outcome(stored["outcome"])
        return _result(action, outcome, stored.get("reason"), stored.get("detail"))


# The template parameters that cap the points stored (their reasons name them), and the rate
# counter's key per publishing device (action ids hold no '#': no clash with an action's counter).
POINTS_PER_MESSAGE: Final = "MaxPointsPerMessage"
POINTS_PER_DEVICE_MINUTE: Final = "MaxPointsPerDeviceMinute"
POINTS_KEY: Final = "points#"


def _cap_detail(parameter: str, cap: int, count: int) -> dict[str, Any]:
    return {"cap": parameter, "max": cap, "points": count, "stored": 0}


def _failed(action: Action, exc: Exception) -> ActionResult:
    """The outcome of an action that raised (called in the `except` block, which it logs)."""
    if isinstance(exc, ActionError):
        return _result(action, Outcome.REFUSED if exc.permanent else Outcome.FAILED, exc.reason)
    # An adapter failed in a way we did not foresee.
    logger.exception("action crashed", extra={"action_id": action.id})
    return _result(action, Outcome.FAILED, f"{type(exc).__name__}: {exc}")


def _result(
    action: Action,
    outcome: Outcome,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> ActionResult:
    # Validating these few plain values costs less than model_construct (pure Python) does.
    return ActionResult(
        action_id=action.id,
        action_type=action.type,
        outcome=outcome,
        reason=reason,
        detail=detail if detail is not None else {},
    )


def _refusal_summary(detail: dict[str, Any], total: int) -> str:
    first = detail["refused_points"][0]
    return (
        f"{detail['refused']:,} of {total:,} data points refused; "
        f"point {first['index']}: {'; '.join(first['reasons'])}"
    )


def _preview(payload: bytes) -> dict[str, Any]:
    """The payload's head for the inspector: text, or base64 when it is bytes (never U+FFFD)."""
    head = payload[:PREVIEW_BYTES]
    text = printable(head, cut=len(payload) > PREVIEW_BYTES)
    if text is None:
        kept = base64.b64encode(payload[:PREVIEW_BINARY_BYTES]).decode("ascii")
        return {"preview": kept, "encoding": "base64"}
    return {"preview": text + ("…" if len(payload) > PREVIEW_BYTES else "")}


def _parser_dead_letter(event: RouterEvent, result: ActionResult) -> dict[str, Any]:
    """A message its device's parser failed on: replayed whole once the parser is fixed."""
    return {
        "kind": "parser_failed",
        "reason": result.reason,
        "parser": result.detail.get("parser"),
        "logs": result.detail.get("logs", []),
        "event": _event_json(event),
    }


def _dead_letter(event: RouterEvent, result: ActionResult) -> dict[str, Any]:
    return {
        "kind": "action_failed",
        "action_id": result.action_id,
        "action_type": result.action_type,
        "reason": result.reason,
        "event": _event_json(event),
    }


def _event_json(event: RouterEvent) -> dict[str, Any]:
    """The original as parsed (with the device it was named for, so a replay files it under the
    same device); the local stack's QoS only when the local stack gave one, who in the stack
    published it only when it says."""
    exclude = {"only_actions"} | (set() if event.local_qos is not None else {"local_qos"})
    if not event.device:
        exclude.add("device")
    if not event.source:
        exclude.add("source")
    return event.model_dump(mode="json", exclude=exclude)
