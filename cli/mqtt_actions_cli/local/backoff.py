"""Failed-login back-off for the local broker's token checking (`--auth tokens`), per client id
and per source address (issue #23: 20 wrong tokens, then the right one was accepted at once).

After `free` failed logins in a row for a key, the next CONNECT with that key within the delay
is refused without asking the authorizer; the delay doubles with each further failure, from 1 s
up to `max_delay_s`. A successful login forgets the client id's and the address's failures.
Attempts refused while backing off do not lengthen it (a device retrying every second gets in
once the delay has passed and its token is right). Memory is bounded: at most `max_keys` keys,
the least recently failed forgotten first, and a key is forgotten `forget_s` after its last
failure.

IoT Core has no such back-off for a custom authorizer (docs/SECURITY.md says what it offers:
one CONNECT per second per client id, and the authorizer's own checks).
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

FREE_FAILURES: Final = 5
MAX_DELAY_S: Final = 60.0
MAX_KEYS: Final = 10_000
FORGET_S: Final = 600.0


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return address == "localhost"


@dataclass
class _Failures:
    count: int
    last_s: float


class LoginBackoff:
    def __init__(
        self,
        *,
        free: int = FREE_FAILURES,
        max_delay_s: float = MAX_DELAY_S,
        max_keys: int = MAX_KEYS,
        forget_s: float = FORGET_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.max_delay_s = free, max_delay_s
        self.max_keys, self.forget_s = max_keys, forget_s
        self._clock = clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    @staticmethod
    def keys(client_id: str | None, source: str | None) -> list[str]:
        """The client id's key, and the source address's unless it is loopback: every device
        of the machine the local stack runs on comes from 127.0.0.1, one would lock out all."""
        keys = [f"client:{client_id}"] if client_id else []
        if source and not _loopback(source):
            keys.append(f"source:{source}")
        return keys

    def wait(self, client_id: str | None, source: str | None) -> float:
        """Seconds left before a CONNECT with this client id or from this source is asked
        about again (0: ask now)."""
        now = self._clock()
        return max((self._left(key, now) for key in self.keys(client_id, source)), default=0.0)

    def _left(self, key: str, now: float) -> float:
        found = self._failures.get(key)
        if found is None:
            return 0.0
        if now - found.last_s >= self.forget_s:
            del self._failures[key]
            return 0.0
        if found.count < self.free:
            return 0.0
        delay = min(2.0 ** (found.count - self.free), self.max_delay_s)
        return max(0.0, found.last_s + delay - now)

    def failed(self, client_id: str | None, source: str | None) -> None:
        now = self._clock()
        for key in self.keys(client_id, source):
            found = self._failures.pop(key, None)
            count = 1 if found is None or now - found.last_s >= self.forget_s else found.count + 1
            self._failures[key] = _Failures(count, now)  # most recent last
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, client_id: str | None, source: str | None) -> None:
        for key in self.keys(client_id, source):
            self._failures.pop(key, None)
