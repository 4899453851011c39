"""One of this project's commands as a child process, as `make run` starts it: this checkout's
code on PYTHONPATH, every output line read (so the child never blocks on a full pipe), the first
line matching a pattern awaited, stopped with SIGINT as Ctrl-C. The e2e tests, the corpus runner
and the local benchmark start `mqtt-actions local` with it."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def project_env() -> dict[str, str]:
    paths = [str(ROOT / "cli"), str(ROOT / "layers" / "core"), str(ROOT)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}


class Child:
    """`command` running from the checkout; `lines` holds what it printed so far."""

    def __init__(self, command: list[str], *, on_line: Callable[[str], None] | None = None) -> None:
        self.lines: list[str] = []
        self._on_line = on_line
        self.process = subprocess.Popen(  # noqa: S603 - our own commands
            command,
            cwd=ROOT,
            env=project_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._found: queue.Queue[re.Match[str] | None] = queue.Queue()
        self._pattern: re.Pattern[str] | None = None

    def _read(self) -> None:
        assert self.process.stdout is not None  # noqa: S101 - PIPE above
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            if self._on_line is not None:
                self._on_line(line)
            if self._pattern is not None and (match := self._pattern.match(line)) is not None:
                self._found.put(match)
        self._found.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str] | None:
        """The first line matching `pattern` (call once, right after starting); None when the
        child ended or `timeout` seconds passed without one."""
        self._pattern = pattern
        self._reader.start()
        try:
            return self._found.get(timeout=timeout)
        except queue.Empty:
            return None

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.lines[-n:])

    def stop(self, timeout: float = 30.0) -> None:
        """Ctrl-C (SIGINT) unless it ended already; killed when it does not stop in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        if self._reader.is_alive():
            self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()
