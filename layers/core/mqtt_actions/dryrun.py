"""Dry run: the router's real logic over the in-memory ports (mqtt_actions.memory). Nothing is
stored, sent, published, invoked or posted; each effect that would have happened is kept, with
the action that caused it. `mqtt-actions actions test` prints them.

Rate limits are not consulted (a dry run neither spends nor reads the counters) and every
action runs as if for the first time."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mqtt_actions.actions import Action
from mqtt_actions.events import RouterEvent
from mqtt_actions.memory import Effect, Memory, memory_deps
from mqtt_actions.parsers import ParserLookup
from mqtt_actions.ports import ActionResult, MessageRecord
from mqtt_actions.router import route
from mqtt_actions.settings import RouterSettings

__all__ = ["ActionPreview", "DryRunReport", "Effect", "dry_run"]


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
    parsers: ParserLookup | None = None,
) -> DryRunReport:
    """Route `event` through `actions` as the router would, sending nothing; with `parsers`,
    the device's payload parser runs first, as in the router."""
    memory = Memory(webhook_status=0)  # nothing was sent, so nothing answered
    deps = memory_deps(actions, memory, clock=clock, dry_run=True)
    if parsers is not None:
        deps = dataclasses.replace(deps, parsers=parsers)
    summary = route(event, deps, settings)
    previews = tuple(ActionPreview(r, memory.for_action(r.action_id)) for r in summary.results)
    return DryRunReport(summary.message, previews)
