"""The router's ports in memory for tests: `mqtt_actions.memory` (the one in-memory
implementation, shared with the dry run and the router benchmark), and a RouterEvent builder."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

from mqtt_actions.actions import Action
from mqtt_actions.events import RouterEvent
from mqtt_actions.memory import Memory, memory_deps
from mqtt_actions.router import RouterDeps
from tests.support.lambda_env import router_settings

__all__ = ["SETTINGS", "Memory", "event", "in_memory_deps"]

SETTINGS = router_settings(MAX_HOPS="2", ANALYSIS_FUNCTIONS={"f": "ForecastFunction"})


def in_memory_deps(
    actions: Sequence[Action], memory: Memory, clock: Callable[[], float]
) -> RouterDeps:
    return memory_deps(actions, memory, clock=clock)


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
