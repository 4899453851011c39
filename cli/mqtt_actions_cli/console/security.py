"""The console's front door, as ASGI middleware: every request passes these checks first.

- Host: the Host header must name the address served (a DNS-rebinding page's requests carry
  the attacker's host name): anything else gets 421 and nothing else.
- Token: the printed URL holds a random token; the first visit trades it for an HttpOnly,
  SameSite=Strict cookie and is redirected to the same page without it. No token: 401; a
  wrong one: 403.
- Cross-site: a POST/PUT/DELETE/PATCH needs an Origin (when the browser sends one) equal to
  the served origin AND the CSRF token (header X-CSRF-Token or form field _csrf); else 403.
  GET and HEAD change nothing.
- Every answer carries a Content-Security-Policy without inline script or eval, no-store, no
  referrer (the token never leaks in a Referer), nosniff and no framing."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "mqtt_actions_console"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD"})
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
MAX_FORM_BYTES = 1024 * 1024


class Guard:
    """Wraps the console app; `hosts` are the Host header values accepted (host:port)."""

    def __init__(self, app: App, *, token: str, hosts: set[str], scheme: str = "http") -> None:
        self.app = app
        self.token = token
        self.hosts = {h.lower() for h in hosts}
        self.origins = {f"{scheme}://{h}" for h in self.hosts}
        self.csrf = hmac.new(token.encode(), b"csrf", hashlib.sha256).hexdigest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":  # the console has none: refuse the handshake (403)
            await send({"type": "websocket.close", "code": 1008})
            return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if headers.get("host", "").lower() not in self.hosts:
            await _plain(send, 421, "refused: this console answers only to its own address")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        given = query.get("token")
        if given is not None:
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                await _plain(send, 403, "refused: wrong token; open the URL the console printed")
                return
            await self._trade(scope, query, send)
            return
        cookie = _cookie(headers.get("cookie", ""))
        if cookie is None:
            await _plain(send, 401, "a token is needed: open the URL the console printed")
            return
        if not hmac.compare_digest(cookie.encode(), self.token.encode()):
            await _plain(send, 403, "refused: wrong token; open the URL the console printed")
            return
        if scope["method"] not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin is not None and origin.lower() not in self.origins:
                await _plain(send, 403, "refused: a cross-site request")
                return
            await self._checked(scope, headers, receive, send)
            return
        scope.setdefault("state", {})["csrf"] = self.csrf
        await self.app(scope, receive, _with_headers(send))

    async def _trade(self, scope: Scope, query: dict[str, str], send: Send) -> None:
        """The token in the URL becomes a cookie; the page is loaded again without it."""
        rest = {k: v for k, v in query.items() if k != "token"}
        location = scope.get("path", "/") + (f"?{urlencode(rest)}" if rest else "")
        cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode()),
                    (b"set-cookie", cookie.encode()),
                    (b"content-length", b"0"),
                    *HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    async def _checked(
        self, scope: Scope, headers: dict[str, str], receive: Receive, send: Send
    ) -> None:
        """Check the CSRF token (header, or form field); then run the app with the body read."""
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_FORM_BYTES:
                await _plain(send, 413, "the request is too large")
                return
        sent = headers.get(CSRF_HEADER)
        if sent is None and headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            sent = dict(parse_qsl(body.decode("utf-8", "replace"))).get(CSRF_FIELD)
        if sent is None or not hmac.compare_digest(sent.encode(), self.csrf.encode()):
            await _plain(send, 403, "refused: the request lacks this console's CSRF token")
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        scope.setdefault("state", {})["csrf"] = self.csrf
        await self.app(scope, replay, _with_headers(send))


def _cookie(header: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header is no cookie
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in HEADERS if k not in present]
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return wrapped


async def _plain(send: Send, status: int, text: str) -> None:
    body = (text + "\n").encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
