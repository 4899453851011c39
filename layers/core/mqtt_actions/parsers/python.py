"""Python parsers, `def parse(payload, device)` returning the points, run in a worker process
(`_pyworker.py`): a parser in an endless loop is killed at the time limit without touching the
router, its memory is bounded (RLIMIT_AS), and an audit hook refuses network, processes and
files. The worker is started on the first Python parser run and kept warm; a killed worker is
started again on the next run.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final

from mqtt_actions.parsers import Parser, ParserError, ParserLimits, ParserRun, check_points

_WORKER: Final = Path(__file__).with_name("_pyworker.py")
# Time the worker gets to start (the interpreter and json), on top of the parser's own limit.
START_SECONDS: Final = 5.0


class PythonEngine:
    """One warm worker process; one run at a time."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._memory_mb = 0
        self._lock = threading.Lock()

    def run(
        self,
        parser: Parser,
        points: list[dict[str, Any]],
        device: Mapping[str, Any],
        limits: ParserLimits,
    ) -> ParserRun:
        request = {"source": parser.source, "name": parser.name, "points": points, "device": device}
        with self._lock:
            started = self._process is None or self._memory_mb != limits.memory_mb
            process = self._worker(limits.memory_mb)
            stdin, stdout = process.stdin, process.stdout
            if stdin is None or stdout is None:  # pragma: no cover - Popen with PIPE sets both
                raise RuntimeError("the parser worker has no pipes")
            logs: list[str] = []
            answer: dict[str, Any] | None = None
            try:
                stdin.write(json.dumps(request).encode() + b"\n")
                stdin.flush()
                budget = limits.timeout_seconds + (START_SECONDS if started else 0.0)
                lines = _Lines(stdout.fileno(), time.monotonic() + budget)
                while (line := lines.next()) is not None:
                    message: dict[str, Any] = json.loads(line)
                    if "log" not in message:
                        answer = message
                        break
                    logs.append(str(message["log"]))  # kept even if the parser is stopped
            except (BrokenPipeError, OSError):
                answer = None
            if answer is None:
                code = process.poll()
                self._stop()
                if code is None:
                    limit = limits.timeout_seconds
                    msg = f"the parser ran past its time limit of {limit:g} s; stopped"
                    raise ParserError("timeout", msg, logs) from None
                msg = f"the parser's worker process ended (exit status {code}): out of memory?"
                raise ParserError("memory", msg, logs) from None
        if "error" in answer:
            raise ParserError(str(answer.get("kind", "threw")), str(answer["error"]), logs)
        return ParserRun(check_points(answer["result"], logs), logs)

    def _worker(self, memory_mb: int) -> subprocess.Popen[bytes]:
        if self._process is not None and self._memory_mb != memory_mb:
            self._stop()
        if self._process is None or self._process.poll() is not None:
            env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}
            self._process = subprocess.Popen(  # noqa: S603 - our own worker, by path
                [sys.executable, "-I", "-S", str(_WORKER), str(memory_mb)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                close_fds=True,
            )
            self._memory_mb = memory_mb
        return self._process

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()

    def close(self) -> None:
        with self._lock:
            self._stop()


class _Lines:
    """The worker's output, line by line, until a deadline: `next()` gives one complete line, or
    None when time is up or the worker ended (its unfinished line, if any, is dropped)."""

    def __init__(self, fd: int, deadline: float) -> None:
        self._fd = fd
        self._deadline = deadline
        self._buffer = b""

    def next(self) -> bytes | None:
        while b"\n" not in self._buffer:
            left = self._deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:  # the worker ended
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


@cache
def engine() -> PythonEngine:
    built = PythonEngine()
    atexit.register(built.close)
    return built


def run_python(
    parser: Parser,
    points: list[dict[str, Any]],
    device: Mapping[str, Any],
    limits: ParserLimits,
) -> ParserRun:
    return engine().run(parser, points, device, limits)
