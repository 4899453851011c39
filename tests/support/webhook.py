"""The one webhook receiver every suite uses: a local HTTP server that records each POST and
answers as the test tells it (a status, some failures first, some requests left unanswered)."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.support.http_servers import serving


@dataclass
class Hook:
    """What the receiver got (`requests`: path, headers, body, status answered) and how it answers:
    `status` normally; `status_when_failing` for the next `fail_next` requests; no answer at all
    for the next `stall_next` (until the test ends: the client times out)."""

    url: str = ""
    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0
    status_when_failing: int = 500
    stall_next: int = 0
    released: threading.Event = field(default_factory=threading.Event)

    def delivered(self) -> int:
        """Requests answered 2xx."""
        return sum(1 for r in self.requests if 200 <= r["status"] < 300)


@contextlib.contextmanager
def receiving() -> Iterator[Hook]:
    """A webhook receiver on a free port of 127.0.0.1 (`hook.url` ends in /in) for the block."""
    hook = Hook()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            request = {"path": self.path, "headers": self.headers, "body": body, "status": 0}
            hook.requests.append(request)
            if hook.stall_next > 0:
                hook.stall_next -= 1
                hook.released.wait(10)  # bounded; set when the block ends
                self.close_connection = True
                return
            if hook.fail_next > 0:
                hook.fail_next -= 1
                request["status"] = hook.status_when_failing
            else:
                request["status"] = hook.status
            self.send_response(request["status"])
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            return

    with serving(Handler) as port:
        hook.url = f"http://127.0.0.1:{port}/in"
        try:
            yield hook
        finally:
            hook.released.set()  # before the server stops: a stalled request returns
