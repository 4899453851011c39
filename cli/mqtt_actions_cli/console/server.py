"""Serving the console with uvicorn: in the foreground (`mqtt-actions console`) or in a thread
of its own next to the local stack (`mqtt-actions local`), with its own event loop so a slow
page never holds up the broker."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from mqtt_actions_cli.console.app import create_app
from mqtt_actions_cli.console.token_store import new_token
from mqtt_actions_cli.target import Target

LOCAL_HOST = "127.0.0.1"
START_TIMEOUT = 10.0
LOCAL_POLL_SECONDS = 0.2  # moto in this machine answers in ms: poll often
LOCAL_LOOKBACK_MS = 6_000  # > the local retries (1 + 2 s) plus a margin; grows with lateness
LOCAL_RECENT_MS = 1_000  # most polls read only the last second (or twice the lateness)...
LOCAL_SWEEP_POLLS = 10  # ...and every 10th (2 s) the whole look-back
STACK_POLL_SECONDS = 1.0
STACK_LOOKBACK_MS = 120_000  # on AWS entries can be stored late (async invokes, retries)


@dataclass
class Address:
    host: str
    port: int
    token: str

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/?token={self.token}"


def accepted_hosts(host: str, port: int) -> set[str]:
    """The Host header values that name this server (and only it)."""
    names = {host}
    if host == LOCAL_HOST:
        names.add("localhost")
    return {f"{name}:{port}" for name in names}


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now (port 0: a free one), so the URL is known before serving."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


class ConsoleServer:
    """`start()` binds and serves in a thread; `stop()` ends it. `address.url` has the token."""

    def __init__(
        self, target: Target, *, host: str = LOCAL_HOST, port: int = 0, token: str | None = None
    ) -> None:
        """`token`: the one kept in the state folder (token_store); None: a new one."""
        self.target = target
        self._sock = bind(host, port)
        bound_port = self._sock.getsockname()[1]
        self.address = Address(host, bound_port, token or new_token())
        pace: dict[str, Any] = (
            {
                "poll_seconds": LOCAL_POLL_SECONDS,
                "lookback_ms": LOCAL_LOOKBACK_MS,
                "recent_ms": LOCAL_RECENT_MS,
                "sweep_polls": LOCAL_SWEEP_POLLS,
            }
            if target.is_local
            else {"poll_seconds": STACK_POLL_SECONDS, "lookback_ms": STACK_LOOKBACK_MS}
        )
        app = create_app(
            target, token=self.address.token, hosts=accepted_hosts(host, bound_port), pace=pace
        )
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            server_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        """In the foreground until Ctrl-C (uvicorn handles the signals once it serves). A Ctrl-C
        that lands before uvicorn has taken the signal closes the coroutine it never ran, so the
        interpreter does not warn that it was never awaited (uvicorn's `run` leaves it open)."""
        import asyncio

        serve = self._server.serve(sockets=[self._sock])
        try:
            asyncio.run(serve, loop_factory=self._server.config.get_loop_factory())
        except KeyboardInterrupt:
            serve.close()
            raise

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="console", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the console did not start on {self.address.base}")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sock.close()
