"""Lifecycle events and the bindings (InspectorFunction's logic): each event is filed under the
device its client id is bound to, a failed connect names the device holding its client id, the
disconnect of a bound connection ends the binding, and a certificate connection taking a token
device's client id ends that device's binding (mqtt_actions.bindings).

An ended binding is kept until it expires: it still names the device of its connection's last
messages and events (AWS may deliver them after the disconnect), but holds the client id against
nobody. The inspector reads the binding as it is when the event arrives; lifecycle events may
come out of order and twice (AWS IoT developer guide, life-cycle-events.html).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Protocol

from mqtt_actions.bindings import Binding, DeviceIdentity, ends_binding, is_certificate
from mqtt_actions.inspector import InspectorEntry
from mqtt_actions.lifecycle import Connected, ConnectFailed, Disconnected, LifecycleEvent


class LifecycleLog(Protocol):
    def record_lifecycle(
        self,
        event: LifecycleEvent,
        device: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> InspectorEntry: ...


class BindingEnds(Protocol):
    def get(self, client_id: str) -> Binding | None: ...

    def end(self, client_id: str, *, bound_at_most_ms: int) -> bool: ...


REFUSALS_PER_MINUTE = 20  # refused CONNECTs the inspector records a minute (RefusalSampler)


class RefusalSampler:
    """At most `per_window` refused CONNECTs (connect_failed events) recorded a window; the
    others are counted, and the count goes on the next one recorded (issue #23: a storm of
    refused CONNECTs under made-up client ids grew the inspector without limit, one device
    each). Per process: on AWS, per warm InspectorFunction instance. Not thread-safe (one
    Lambda invocation at a time; the local stack calls handlers from one thread at a time)."""

    def __init__(self, per_window: int = REFUSALS_PER_MINUTE, window_s: float = 60.0) -> None:
        self.per_window, self.window_s = per_window, window_s
        self._window = -1
        self._recorded = 0
        self.suppressed = 0  # not recorded since the last one that was

    def admit(self, now_s: float) -> int | None:
        """None: do not record this one (counted); else record it, with this many suppressed
        before it (the count then restarts)."""
        window = int(now_s // self.window_s)
        if window != self._window:
            self._window, self._recorded = window, 0
        if self._recorded >= self.per_window:
            self.suppressed += 1
            return None
        self._recorded += 1
        suppressed, self.suppressed = self.suppressed, 0
        return suppressed


def record_presence(
    event: LifecycleEvent,
    log: LifecycleLog,
    bindings: BindingEnds | None,
    identity: DeviceIdentity,
    now_s: float | None = None,
    suppressed: int = 0,
) -> InspectorEntry:
    """Record `event` in the inspector under its device; end the binding it closes.
    `suppressed`: refused CONNECTs not recorded before this one (RefusalSampler)."""
    binding = None
    if identity is DeviceIdentity.BINDING and bindings is not None:
        found = bindings.get(event.client_id)
        now = time.time() if now_s is None else now_s
        if found is not None and found.names_message_at(event.timestamp, now):
            binding = found
    certificate = is_certificate(event.principal_identifier)
    if (
        binding is not None
        and certificate
        and (
            binding.ended_at_ms is not None
            or (isinstance(event, Connected) and binding.bound_at_ms <= event.timestamp)
        )
    ):
        # A certificate connection with this client id (its thing name; principalIdentifier is
        # the certificate id, life-cycle-events.html): IoT Core closed the token connection
        # holding it (DUPLICATE_CLIENTID, which ends no binding by itself), so end that binding.
        if binding.ended_at_ms is None and bindings is not None:
            bindings.end(event.client_id, bound_at_most_ms=event.timestamp)
        binding = None
    extra: dict[str, Any] = {}
    if suppressed:
        extra["suppressed_before"] = suppressed
        extra["sampled"] = (
            f"{suppressed:,} refused CONNECTs before this one were not recorded (the inspector "
            f"keeps at most {REFUSALS_PER_MINUTE} a minute)"
        )
    if isinstance(event, ConnectFailed) and binding is not None and binding.ended_at_ms is None:
        extra["held_by"] = binding.device
        extra["note"] = (
            f"client id {event.client_id!r} is held by a live connection of device "
            f"{binding.device!r}; a second device with this client id is refused"
        )
    entry = log.record_lifecycle(event, binding.device if binding else None, extra)
    if (
        isinstance(event, Disconnected)
        and binding is not None
        and bindings is not None
        and ends_binding(binding, event.disconnect_reason, event.timestamp)
    ):
        bindings.end(event.client_id, bound_at_most_ms=event.timestamp)
    return entry
