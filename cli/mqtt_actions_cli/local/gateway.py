"""The legacy-port gateway in the local stack: Debian's haproxy with the repository's
configuration (mqtt_actions_cli/gateway/haproxy.cfg), in front of the broker's TLS listener.

Devices connect to it without TLS; it opens TLS to the TLS listener with SNI = the local domain
and ALPN mqtt, verified against the local CA, exactly as the ECS service does in front of IoT
Core's token endpoint. It is a child process: stopping the stack stops it, and it gets SIGTERM
if the stack dies (PR_SET_PDEATHSIG), so no haproxy outlives a `kill -9`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from mqtt_actions_cli.gateway import CONFIG, HEALTH_PATH, GatewayValues
from mqtt_actions_cli.local.output import log

HAPROXY: Final = "haproxy"
INSTALL_HINT: Final = "make sysdeps (as root), or: sudo apt-get install haproxy"
START_SECONDS: Final = 10.0
STOP_SECONDS: Final = 5.0
_PR_SET_PDEATHSIG: Final = 1


class GatewayError(RuntimeError):
    """haproxy did not start (the message holds what it said)."""


def haproxy_path() -> str | None:
    """Debian's haproxy (/usr/sbin is not on every user's PATH)."""
    return shutil.which(HAPROXY) or shutil.which(HAPROXY, path="/usr/sbin:/usr/local/sbin")


def free_port(host: str) -> int:
    """A port nothing listens on now (haproxy cannot be told to pick one and say which)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class LocalGateway:
    """haproxy on `host:port` (0: a free port) forwarding to the TLS listener on `tls_port`."""

    host: str
    port: int
    tls_port: int
    domain: str
    ca_file: Path
    executable: str
    version: str = ""
    output: list[str] = field(default_factory=list)  # its last lines, for error messages
    _process: subprocess.Popen[str] | None = None
    _reader: threading.Thread | None = None
    _health_port: int = 0

    def values(self) -> GatewayValues:
        return GatewayValues(
            bind=f"{self.host}:{self.port}",
            health_bind=f"{self.host}:{self._health_port}",
            target=f"{self.host}:{self.tls_port}",
            sni=self.domain,
            ca_file=str(self.ca_file),
        )

    def start(self) -> None:
        """Start haproxy and wait until it answers its health check (GatewayError if not)."""
        self.version = _version(self.executable)
        if self.port == 0:
            self.port = free_port(self.host)
        self._health_port = free_port(self.host)
        environment = {"PATH": os.environ.get("PATH", ""), **self.values().environment()}
        self._process = subprocess.Popen(  # noqa: S603 - Debian's haproxy, our configuration
            [self.executable, "-db", "-f", str(CONFIG)],
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=_die_with_parent,  # prctl only: takes no lock
        )
        self._reader = threading.Thread(target=self._read, name="haproxy-output", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_SECONDS
        while not self._healthy():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                said = " | ".join(self.output[-5:]) or "nothing"
                raise GatewayError(f"haproxy did not start on {self.host}:{self.port}: {said}")
            time.sleep(0.05)

    def _healthy(self) -> bool:
        url = f"http://{self.host}:{self._health_port}{HEALTH_PATH}"
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                return int(answer.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def _read(self) -> None:
        stream = self._process.stdout if self._process is not None else None
        for line in stream or ():
            text = line.rstrip("\n")
            self.output = [*self.output[-20:], text]
            log.info("gw   %s", text)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop haproxy (SIGTERM: it closes its connections at once), then SIGKILL if need be."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_SECONDS)
        if self._reader is not None:
            self._reader.join(timeout=STOP_SECONDS)
        if process.stdout is not None:
            with contextlib.suppress(OSError):
                process.stdout.close()


def _version(executable: str) -> str:
    """'HAProxy 2.6.12' (from `haproxy -v`), or '' when it does not say."""
    try:
        said = subprocess.run(  # noqa: S603 - Debian's haproxy
            [executable, "-v"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""
    words = said.split()
    return f"HAProxy {words[2].split('-')[0]}" if len(words) > 2 else ""
