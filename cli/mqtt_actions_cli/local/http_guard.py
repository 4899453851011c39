"""The local stack's HTTP endpoints answer only to themselves (issue #23).

moto's server reflects any `Origin` in `Access-Control-Allow-Origin` and ignores `Host`, and the
control API took cross-site `text/plain` POSTs: a web page open during `make run` (or reached by
DNS rebinding) listed the tables, read token rows and stored data in another device's bucket
through `/invoke/RouterFunction`. Every request to moto's server and to the control API now
passes `refusal` first:

- `Host` must name the server (`127.0.0.1:PORT`, `localhost:PORT`, or the bound address): a
  DNS-rebinding page's requests carry the attacker's host name. Answer 421.
- `Origin`, when a browser sends one, must be the server's own: a page elsewhere gets 403.
- `Sec-Fetch-Site`, when a browser sends it, must be `same-origin` or `none` (typed in the
  address bar): a cross-site request without Origin (some browsers' simple GET) gets 403.

boto3, the AWS CLI, curl and the `mqtt-actions` command send no Origin and no Sec-Fetch-Site, and
name the server they were given, so they pass. moto's CORS headers are removed from every answer
(`without_cors`), so no page may read one even where the checks above would let it through.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

__all__ = ["HostGuard", "Refusal", "own_hosts", "refusal", "without_cors"]

_LOOPBACK: Final = "127.0.0.1"
_SAME_SITE: Final = frozenset({"same-origin", "none"})

Refusal = tuple[int, str]


def own_hosts(host: str, port: int) -> frozenset[str]:
    """The Host header values that name a server bound to `host:port`, and only it."""
    names = {host.lower()}
    if host in (_LOOPBACK, "localhost"):
        names |= {_LOOPBACK, "localhost"}
    return frozenset(f"{name}:{port}" for name in names)


def refusal(headers: Mapping[str, str], hosts: frozenset[str]) -> Refusal | None:
    """(status, reason) when a request must be refused, else None. `headers` lower-cased names."""
    host = headers.get("host", "").strip().lower()
    if host not in hosts:
        return 421, (
            f"refused: this local endpoint answers only to {', '.join(sorted(hosts))} "
            f"(Host {host[:100]!r})"
        )
    origin = headers.get("origin")
    if origin is not None and origin.strip().lower() not in {f"http://{h}" for h in hosts}:
        return 403, f"refused: a request from the web page at {origin[:100]!r}"
    site = headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in _SAME_SITE:
        return 403, f"refused: a {site[:20]} request from a web page"
    return None


def without_cors(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Response headers without moto's `Access-Control-*` (it reflects any Origin)."""
    return [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]


class HostGuard:
    """WSGI middleware for moto's server: `refusal` first, CORS headers off. `hosts` is set once
    the port is known (the server may bind port 0)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self.hosts: frozenset[str] = frozenset()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        headers = {
            name: str(environ.get(key, ""))
            for name, key in (
                ("host", "HTTP_HOST"),
                ("origin", "HTTP_ORIGIN"),
                ("sec-fetch-site", "HTTP_SEC_FETCH_SITE"),
            )
            if key in environ
        }
        refused = refusal(headers, self.hosts)
        if refused is not None:
            status, reason = refused
            body = {"__type": "AccessDeniedException", "message": reason}
            encoded = json.dumps(body).encode("utf-8")
            start_response(
                f"{status} {'Misdirected Request' if status == 421 else 'Forbidden'}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(encoded)))],
            )
            return [encoded]

        def start(status: str, response_headers: list[tuple[str, str]], *exc: Any) -> Any:
            return start_response(status, without_cors(response_headers), *exc)

        return self._app(environ, start)
