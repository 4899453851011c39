"""Who a message belongs to: the binding client id -> device. Pure: no I/O (the table is behind
`ports.BindingReader`; adapters/binding_store.py holds it in DeviceBindingsTable).

What AWS documents, and so all this relies on (docs/SECURITY.md, "How a device is identified"):
- a custom authorizer receives the MQTT client id (`protocolData.mqtt.clientId`, AWS IoT
  developer guide "Defining your Lambda function", config-custom-auth.html#custom-auth-lambda),
  and its policy can allow `iot:Connect` on exactly `client/<that id>`;
- a rule's `clientid()` is "the ID of the MQTT client sending the message, or `n/a` if the
  message wasn't sent over MQTT" (iot-sql-functions.html);
- `principal()` is an X.509 certificate thumbprint for a certificate device (iot-sql-functions.
  html); what it returns for a custom authorizer's connection is NOT documented, so it never
  names a token device here;
- IoT Core keeps one connection per client id: a second CONNECT with the same id closes the
  first, with `disconnectReason` DUPLICATE_CLIENTID (life-cycle-events.html).

So a token device is named by the binding its authorizer recorded for the client id before it
answered; a certificate device by its client id, which the DevicePolicy ties to its thing name
(`iot:Connection.Thing.ThingName`); a message whose client id has no binding belongs to nobody
(`UNKNOWN_CONNECTION`): it is dead-lettered, never filed under the bare client id.

A binding ends when the disconnect event of its connection arrives (`ends_binding`), when it
expires (no sooner than the authorizer's disconnectAfterInSeconds), or when the device is
revoked. The router and the inspector keep what they looked up for `CACHE_SECONDS` at most
(`DeviceDirectory`), so a revoke or a new binding takes effect within that many seconds; a
client id with no binding is never cached, so a new binding counts at once.

An ended binding is kept (`ended_at_ms`, until the table's TTL removes it), because a device
wakes, publishes and vanishes: its disconnect event and its last messages are handled
asynchronously, in either order. AWS documents that lifecycle messages "might be sent out of
order", that an event's `timestamp` is "an approximation of when the event occurred ... +/- 2
minutes" (life-cycle-events.html), and that the rule's `timestamp()` is the time "as observed by
the AWS IoT rules engine" (iot-sql-functions.html). So an ended binding still names the device
of a message whose timestamp is no later than the disconnect plus `ENDED_GRACE_MS` (those 2
minutes), and names nobody after that. It never holds the client id against another device
(`Binding.holds`): a new connection's binding replaces it, and a certificate connection (its
client id is its thing) is named by its client id.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

UNKNOWN_CONNECTION: Final = "unknown connection"
NOT_MQTT: Final = "n/a"  # clientid() of a message not sent over MQTT (iot-data Publish)
# The inspector's name for a message whose device is unknown: never a device name (`(` and `)`
# are not allowed in one), so nothing is ever filed under it by mistake.
UNKNOWN_DEVICE: Final = "(unknown)"
CACHE_SECONDS: Final = 5.0
CACHE_SIZE: Final = 10_000
# How long after its disconnect an ended binding still names the device of a message: the
# accuracy AWS gives for a lifecycle event's timestamp (+/- 2 minutes, life-cycle-events.html).
ENDED_GRACE_MS: Final = 120_000
CLIENT_ID_MAX: Final = 128  # IoT Core's limit for a client id (AWS IoT Core quotas)
# `*` and `?` are policy wildcards and `${` a policy variable; `#` and `+` get no lifecycle
# events (life-cycle-events.html), so a binding of such a client id could never end.
_CLIENT_ID_REFUSED: Final = re.compile(r"[*?#+]|\$\{")
_THUMBPRINT: Final = re.compile(r"[0-9a-f]{64}")


class DeviceIdentity(StrEnum):
    """How the router and the inspector name the device of a client id (env DEVICE_IDENTITY).
    binding: the authorizer's binding, or the thing name of a certificate device (AWS, and the
    local stack with --auth tokens). client-id: the client id itself (only the local stack
    without token checking, where nothing is checked at connect)."""

    BINDING = "binding"
    CLIENT_ID = "client-id"


@dataclass(frozen=True)
class Binding:
    """One connection's client id, the device it belongs to, until when, and when the
    connection's disconnect event ended it (None: not ended)."""

    client_id: str
    device: str
    connection_id: str
    bound_at_ms: int
    expires_at_s: int
    ended_at_ms: int | None = None

    def live(self, now_s: float) -> bool:
        """Not expired (an ended binding is live until it expires: it still names the device
        of its connection's last messages)."""
        return now_s < self.expires_at_s

    def holds(self, now_s: float) -> bool:
        """Holds the client id against another device: live and not ended."""
        return self.ended_at_ms is None and self.live(now_s)

    def names_message_at(self, at_ms: int, now_s: float) -> bool:
        """Names the device of a message the rules engine stamped `at_ms`: live, and not ended
        or ended no sooner than `ENDED_GRACE_MS` before it."""
        if not self.live(now_s):
            return False
        return self.ended_at_ms is None or at_ms <= self.ended_at_ms + ENDED_GRACE_MS


def client_id_problem(client_id: str | None) -> str | None:
    """Why a client id cannot be bound (None: it can). The reason is for logs and people."""
    if not client_id:
        return "no client id: a token device must send one (TagoIO requires it too)"
    if len(client_id) > CLIENT_ID_MAX:
        return f"client id longer than {CLIENT_ID_MAX} characters (IoT Core's limit)"
    if _CLIENT_ID_REFUSED.search(client_id):
        return (
            "client id holds '*', '?', '#', '+' or '${': IoT policies read the first as "
            "wildcards and IoT Core sends no lifecycle events for '#' and '+'"
        )
    if not client_id.isprintable():
        return "client id holds control characters"
    return None


def is_certificate(principal: str) -> bool:
    """principal() of a connection authenticated by an X.509 certificate (its thumbprint)."""
    return bool(_THUMBPRINT.fullmatch(principal))


def ends_binding(binding: Binding, disconnect_reason: str, disconnected_at_ms: int) -> bool:
    """Whether a disconnect event of `binding.client_id` ends this binding. DUPLICATE_CLIENTID
    means a newer connection holds the client id (its own binding, if it is a token device), and
    a binding recorded after the disconnect belongs to a newer connection too; an ended binding
    stays as its first disconnect left it (AWS may send an event twice)."""
    return (
        binding.ended_at_ms is None
        and disconnect_reason != "DUPLICATE_CLIENTID"
        and binding.bound_at_ms <= disconnected_at_ms
    )


class DeviceDirectory:
    """The device of a message's client id, through the bindings, kept warm for `ttl` seconds
    in a bounded cache (only found bindings are kept: a new binding counts at once)."""

    def __init__(
        self,
        lookup: Callable[[str], Binding | None],
        identity: DeviceIdentity = DeviceIdentity.BINDING,
        *,
        ttl: float = CACHE_SECONDS,
        size: int = CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lookup = lookup
        self._identity = identity
        self._ttl = ttl
        self._size = size
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Binding]] = OrderedDict()

    def device_for(
        self, client_id: str, principal: str = "", at_ms: int | None = None
    ) -> str | None:
        """The device a message of `client_id`, stamped `at_ms` by the rules engine (default:
        now), belongs to, or None (an unknown connection)."""
        if client_id == NOT_MQTT:
            return NOT_MQTT  # published by the stack itself (iot-data), not by a device
        if self._identity is DeviceIdentity.CLIENT_ID:
            return client_id or None
        binding = self.binding(client_id)
        if binding is not None and binding.ended_at_ms is None:
            return binding.device
        if client_id and is_certificate(principal):
            return client_id  # the DevicePolicy lets a certificate connect as its thing only
        at = int(self._clock() * 1000) if at_ms is None else at_ms
        if binding is not None and binding.names_message_at(at, self._clock()):
            return binding.device  # sent before its connection's disconnect was handled
        return None

    def binding(self, client_id: str) -> Binding | None:
        """The live binding of `client_id`, ended or not, or None. A binding that is not ended
        is cached for at most `ttl` seconds; an ended one is read again each time, so that the
        binding of a new connection replacing it counts at once."""
        if not client_id:
            return None
        now = self._clock()
        cached = self._cache.get(client_id)
        if cached is not None and now - cached[0] < self._ttl and cached[1].live(now):
            self._cache.move_to_end(client_id)
            return cached[1]
        self._cache.pop(client_id, None)
        found = self._lookup(client_id)
        if found is None or not found.live(now):
            return None
        if found.ended_at_ms is not None:
            return found
        self._cache[client_id] = (now, found)
        while len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return found
