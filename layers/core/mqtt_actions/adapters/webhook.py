"""HTTPS POST with bounded retries, bounded responses and no requests to private addresses.

stdlib only (urllib): nothing to add to the layer, fast to import."""

from __future__ import annotations

import ipaddress
import random
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from mqtt_actions.ports import ActionError

MAX_RESPONSE_BYTES = 64 * 1024
RETRY_HEADER = "X-MQTT-Actions-Retry"
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirect could lead to an address the checks below refuse: do not follow it.
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def check_destination(url: str, *, allow_http: bool, allow_private: bool) -> None:
    """Refuse non-https URLs and hosts resolving to loopback, private, link-local or metadata
    addresses (e.g. 169.254.169.254) unless explicitly allowed."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (allow_http and parts.scheme == "http"):
        msg = f"webhook url must be https:// (got {parts.scheme or 'no'} scheme): {url[:200]}"
        raise ActionError(msg, permanent=True)
    host = parts.hostname
    if not host:
        raise ActionError(f"webhook url has no host: {url[:200]}", permanent=True)
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ActionError(f"webhook host {host!r} does not resolve: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            msg = (
                f"webhook host {host!r} resolves to non-public address {address}; "
                "set WEBHOOK_ALLOW_PRIVATE=true to allow it"
            )
            raise ActionError(msg, permanent=True)


class UrllibWebhookClient:
    def __init__(
        self,
        *,
        allow_private: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        backoff: float = 0.5,
    ) -> None:
        self._allow_private = allow_private
        self._sleep = sleep
        self._backoff = backoff
        self._opener = urllib.request.build_opener(_NoRedirect)

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
        check_destination(url, allow_http=allow_http, allow_private=self._allow_private)
        last = ""
        for attempt in range(retries + 1):
            if attempt:
                self._sleep(self._backoff * 2 ** (attempt - 1) * (1 + random.random() / 4))  # noqa: S311
            request = urllib.request.Request(  # noqa: S310 - scheme checked above
                url, data=body, method="POST", headers={**headers, RETRY_HEADER: str(attempt)}
            )
            try:
                with self._opener.open(request, timeout=timeout) as response:
                    response.read(MAX_RESPONSE_BYTES)
                    return int(response.status)
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code not in _RETRYABLE_STATUS:
                    msg = f"webhook answered HTTP {exc.code} {exc.reason}; not retried"
                    raise ActionError(msg, permanent=True) from exc
                last = f"HTTP {exc.code} {exc.reason}"
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        msg = f"webhook failed after {retries + 1} attempts; last error: {last}"
        raise ActionError(msg)
