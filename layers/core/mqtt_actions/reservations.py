"""A rate limiter that takes a window's allowance in blocks and spends them in memory.

The per-device points cap (`MaxPointsPerDeviceMinute`, issue #23) counted every storing message
with one conditional UpdateItem: one more DynamoDB write a message ($1.25 a million on demand)
and, on the local stack, the slowest call of a message. A warm router keeps its adapters between
messages (Lambda reuses the execution environment: "objects declared outside of the function's
handler method remain initialized", https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html),
so it can reserve room for several messages at once and count them locally.

`ReservingRateLimiter` wraps a `RateLimiter` (the shared, atomic counter). To let `count` through
it spends what this instance already reserved in the window; when that is short, it reserves the
rest, rounded up to a block of `max_count // BLOCK_SHARE` (at least what is needed), and when
the block no longer fits, exactly what is needed. So:
- never more than `max_count` a window, however many instances run: every reservation is the
  shared counter's conditional add, and an instance spends only what it reserved;
- one instance alone lets through exactly what the shared counter would: the exact fallback
  takes the last room;
- several instances may refuse early by what the others reserved and did not spend, at most one
  block (1/50 of the cap) each;
- a cap under BLOCK_SHARE has blocks of 1: one shared call a check, as without the wrapper.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from mqtt_actions.ports import RateLimiter

BLOCK_SHARE: Final = 50  # a block is this share of the cap: 5,000 a minute -> blocks of 100
MAX_KEYS: Final = 10_000  # reservations kept (the least recently used are forgotten: unspent)


class ReservingRateLimiter:
    def __init__(self, shared: RateLimiter, *, max_keys: int = MAX_KEYS) -> None:
        self._shared = shared
        self._max_keys = max_keys
        # key -> (window, room reserved and not yet spent)
        self._room: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def allow(
        self, action_id: str, max_count: int, per_seconds: int, now: float, count: int = 1
    ) -> bool:
        if count > max_count:
            return False
        window = int(now // per_seconds)
        held = self._room.pop(action_id, None)
        room = held[1] if held is not None and held[0] == window else 0
        if room < count:
            need = count - room
            block = max(need, max_count // BLOCK_SHARE)
            if block > need and self._shared.allow(action_id, max_count, per_seconds, now, block):
                room += block
            elif self._shared.allow(action_id, max_count, per_seconds, now, need):
                room += need
            else:
                self._keep(action_id, window, room)
                return False
        self._keep(action_id, window, room - count)
        return True

    def _keep(self, key: str, window: int, room: int) -> None:
        if room <= 0:
            return
        self._room[key] = (window, room)
        while len(self._room) > self._max_keys:
            self._room.popitem(last=False)
