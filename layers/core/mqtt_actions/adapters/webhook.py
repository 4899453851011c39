"""HTTPS POST with bounded retries, a bounded total time, bounded responses and no requests to
private addresses.

- Destination: https only unless the action allows http; the host is resolved once and every
  address must be public (no loopback, private, link-local, metadata 169.254.169.254, ...)
  unless WEBHOOK_ALLOW_PRIVATE. The connection goes to the address that was checked, so a DNS
  answer that changes between check and connect (DNS rebinding) cannot reach another host.
- Redirects are never followed: a 3xx is a permanent refusal naming where it pointed.
- Time: `timeout` bounds each socket operation; the whole post (every attempt, the pauses
  between them, a server that drips its answer byte by byte) ends by a deadline: at most
  `max_total_seconds`, and never past the Lambda invocation's own end (see `register`). A 2xx
  whose body is still arriving at the deadline counts as delivered; anything cut earlier does not.
- Response: at most 64 KB is read, then the connection is closed.

stdlib only (http.client): nothing to add to the layer, fast to import.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

from mqtt_actions.masking import mask_url
from mqtt_actions.ports import ActionError

MAX_RESPONSE_BYTES = 64 * 1024
RETRY_HEADER = "X-MQTT-Actions-Retry"
DEFAULT_MAX_TOTAL_SECONDS = 20.0  # of the router's 30 s Lambda timeout
LAMBDA_MARGIN_SECONDS = 3.0  # left to the router after a webhook, to record and answer
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CHUNK = 8192

Resolver = Callable[[str, int], Sequence[str]]


class _LambdaContext(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]  # checked, in the resolver's order


# IPv6 forms that carry an IPv4 address in their last 32 bits, which Python's `is_global` judges
# by the IPv6 prefix alone: NAT64 (RFC 6052: 64:ff9b::169.254.169.254 reaches the metadata
# address through a NAT64 gateway) and the deprecated IPv4-compatible ::a.b.c.d (RFC 4291).
_CARRIES_IPV4: Final = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A unicast global address, judged by the IPv4 address an IPv6 one carries, if any
    (issue #23: 64:ff9b::a9fe:a9fe, ::a9fe:a9fe and multicast passed `is_global`)."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped
        if carried is None and any(address in network for network in _CARRIES_IPV4):
            carried = ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
        if carried is not None:
            return is_public(carried)
    return address.is_global and not address.is_multicast


def resolve_destination(
    url: str, *, allow_http: bool, allow_private: bool, resolve: Resolver = _system_resolver
) -> Destination:
    """Where a POST to `url` may go, or ActionError: non-https URLs and hosts resolving to
    loopback, private, link-local or metadata addresses (e.g. 169.254.169.254) are refused
    (permanently) unless explicitly allowed; a name that does not resolve may resolve later."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        msg = (
            f"webhook url must be https:// (got {parts.scheme or 'no'} scheme): "
            f"{mask_url(url)[:200]}"
        )
        raise ActionError(msg, permanent=True)
    host = parts.hostname
    if not host:
        raise ActionError(f"webhook url has no host: {mask_url(url)[:200]}", permanent=True)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ActionError(f"webhook url has a bad port: {exc}", permanent=True) from None
    try:
        addresses = tuple(resolve(host, port))
    except (OSError, UnicodeError) as exc:
        raise ActionError(f"webhook host {host!r} does not resolve: {exc}") from exc
    if not addresses:
        raise ActionError(f"webhook host {host!r} resolves to no address")
    if not allow_private:
        for text in addresses:
            address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
            if not is_public(address):
                msg = (
                    f"webhook host {host!r} resolves to non-public address {address}; "
                    "set WEBHOOK_ALLOW_PRIVATE=true to allow it"
                )
                raise ActionError(msg, permanent=True)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, host, port, target, addresses)


def check_destination(
    url: str, *, allow_http: bool, allow_private: bool, resolve: Resolver = _system_resolver
) -> None:
    """`resolve_destination` for its refusals only."""
    resolve_destination(url, allow_http=allow_http, allow_private=allow_private, resolve=resolve)


def _connect(destination: Destination, timeout: float | None) -> socket.socket:
    """A TCP connection to the first checked address that answers (never a new DNS lookup)."""
    last: OSError | None = None
    for address in destination.addresses:
        try:
            return socket.create_connection((address, destination.port), timeout)
        except OSError as exc:
            last = exc
    assert last is not None  # noqa: S101 - addresses is never empty
    raise last


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, destination: Destination, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._destination = destination

    def connect(self) -> None:
        self.sock = _connect(self._destination, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, destination: Destination, timeout: float, tls: ssl.SSLContext) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout, context=tls)
        self._destination = destination
        self._tls = tls

    def connect(self) -> None:
        raw = _connect(self._destination, self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self._destination.host)


class _RetryableError(Exception):
    """This attempt failed in a way another attempt may not."""


class HttpWebhookClient:
    """Implements the router's WebhookClient port."""

    def __init__(
        self,
        *,
        allow_private: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        backoff: float = 0.5,
        max_total_seconds: float = DEFAULT_MAX_TOTAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        resolve: Resolver = _system_resolver,
    ) -> None:
        self._allow_private = allow_private
        self._sleep = sleep
        self._backoff = backoff
        self._max_total = max_total_seconds
        self._clock = clock
        self._resolve = resolve
        self._remaining_ms: Callable[[], int] | None = None
        self._tls = ssl.create_default_context()

    def register(self, context: _LambdaContext) -> None:
        """Ends every post before the invocation does (Lambda's remaining time, less a margin)."""
        self._remaining_ms = context.get_remaining_time_in_millis

    def _budget(self) -> float:
        budget = self._max_total
        if self._remaining_ms is not None:
            budget = min(budget, self._remaining_ms() / 1000 - LAMBDA_MARGIN_SECONDS)
        return budget

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
        budget = self._budget()
        deadline = self._clock() + budget
        destination = resolve_destination(
            url, allow_http=allow_http, allow_private=self._allow_private, resolve=self._resolve
        )
        last = "no attempt: the invocation had no time left"
        attempts = 0
        for attempt in range(retries + 1):
            if attempt:
                pause = self._backoff * 2 ** (attempt - 1) * (1 + random.random() / 4)  # noqa: S311
                if self._clock() + pause >= deadline:
                    break
                self._sleep(pause)
            left = deadline - self._clock()
            if left <= 0:
                break
            attempts += 1
            try:
                return self._attempt(
                    destination,
                    body,
                    {**headers, RETRY_HEADER: str(attempt)},
                    timeout=min(timeout, left),
                    left=left,
                )
            except _RetryableError as exc:
                last = str(exc)
        if attempts > retries:
            plural = "s" if attempts != 1 else ""
            msg = f"webhook failed after {attempts} attempt{plural}; last error: {last}"
        else:
            msg = (
                f"webhook gave up after {attempts} of {retries + 1} attempts: the total time "
                f"limit of {budget:.1f} s would pass; last error: {last}"
            )
        raise ActionError(msg)

    def _attempt(
        self,
        destination: Destination,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float,
        left: float,
    ) -> int:
        conn: http.client.HTTPConnection = (
            _PinnedHTTPSConnection(destination, timeout, self._tls)
            if destination.scheme == "https"
            else _PinnedHTTPConnection(destination, timeout)
        )
        expired = threading.Event()

        def stop() -> None:  # the deadline: wake a read that a dripping server keeps alive
            expired.set()
            sock: Any = conn.sock
            if sock is not None:
                with contextlib.suppress(OSError):  # already closed: nothing to wake
                    sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(left, stop)
        timer.daemon = True
        timer.start()
        try:
            conn.request("POST", destination.target, body=body, headers=dict(headers))
            response = conn.getresponse()
            if expired.is_set():  # http.client takes a cut-off status line or headers as whole
                raise _RetryableError(f"no complete answer within {left:.1f} s")
            status, reason = response.status, response.reason
            location = response.getheader("Location", "")
            _drain(response, MAX_RESPONSE_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            if expired.is_set():
                raise _RetryableError(f"no complete answer within {left:.1f} s") from exc
            raise _RetryableError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            timer.cancel()
            conn.close()
        if 200 <= status < 300:
            return status
        if 300 <= status < 400:
            msg = (
                f"webhook answered HTTP {status} {reason} to {location[:200]!r}; "
                "redirects are not followed (the new address is not checked): use the final URL"
            )
            raise ActionError(msg, permanent=True)
        if status not in _RETRYABLE_STATUS:
            msg = f"webhook answered HTTP {status} {reason}; not retried"
            raise ActionError(msg, permanent=True)
        raise _RetryableError(f"HTTP {status} {reason}")


def _drain(response: http.client.HTTPResponse, limit: int) -> int:
    """Read at most `limit` bytes of the answer, a chunk at a time; the rest is never read."""
    read = 0
    while read < limit:
        chunk = response.read1(min(_CHUNK, limit - read))
        if not chunk:
            break
        read += len(chunk)
    return read


# The name the handler and other branches import.
