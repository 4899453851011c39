"""JavaScript parsers in V8 (PyPI `mini-racer`: V8 in a shared library, wheels for Linux x86_64
and aarch64), as TagoIO runs them: the parser's code is the body of a function of `payload`,
`device`, `raw_payload`, `Buffer` and `console`; what `payload` holds when it ends is stored.

Each parser gets a V8 context of its own (an isolate: one parser cannot see or change another's
globals), built on first use with `Buffer` (the npm `buffer` package 6.0.3 and its two
dependencies, vendored in js/ with their MIT/BSD licences) and the parser compiled once; warm
contexts are kept for the next messages (at most MAX_CONTEXTS, least recently used dropped).
A run over its time limit is stopped by V8 (TerminateExecution) and its context dropped; a run
over its memory limit likewise (V8 cannot go on in that isolate).

No `require`, network, files or timers: V8 has none (mini-racer's own setTimeout is shadowed),
and `require` throws an error saying so.
"""

from __future__ import annotations

import atexit
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Final

from py_mini_racer import JSEvalException, JSOOMException, JSTimeoutException, MiniRacer

from mqtt_actions.parsers import Parser, ParserError, ParserLimits, ParserRun, check_points

MAX_CONTEXTS: Final = 8
# Vendored CommonJS modules, in the order they are defined (names as `require` asks for them).
_MODULES: Final = (
    ("base64-js", "base64-js.js"),
    ("ieee754", "ieee754.js"),
    ("buffer", "buffer.js"),
)


@cache
def _prelude() -> str:
    """The vendored modules wrapped as CommonJS factories, then runtime.js."""
    folder = resources.files("mqtt_actions.parsers").joinpath("js")
    parts = ["var __mqttActionsModules = {};"]
    for name, filename in _MODULES:
        code = folder.joinpath(filename).read_text(encoding="utf-8")
        parts.append(
            f"__mqttActionsModules[{json.dumps(name)}] = function (module, exports, require) {{\n"
            f"{code}\n}};"
        )
    parts.append(folder.joinpath("runtime.js").read_text(encoding="utf-8"))
    return "\n".join(parts)


class _Compiled:
    """One parser's V8 context, its code compiled."""

    def __init__(self, parser: Parser, limits: ParserLimits) -> None:
        self.context = MiniRacer()
        try:
            self.context.set_hard_memory_limit(limits.memory_mb * 1024 * 1024)
            self.context.eval(_prelude())
            self.context.call("__mqttActionsRuntime.compile", parser.source)
        except JSEvalException as exc:
            self.close()
            raise ParserError(
                "invalid", f"the parser does not compile: {_first_line(exc)}"
            ) from None

    def close(self) -> None:
        self.context.close()


_V8_WHERE: Final = re.compile(r"^\S*:(\d+): (\w*Error: .*)$")


def _first_line(exc: Exception) -> str:
    """V8's compile error as `SyntaxError: ... (line N)`, N counted in the parser's own code
    (mini-racer's message reads `undefined:LINE: SyntaxError: ...`, then the source line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        where = _V8_WHERE.match(line)
        if where:  # new Function puts two lines before the body
            return f"{where.group(2)} (line {max(1, int(where.group(1)) - 2)})"
    for line in lines:
        if "Error" in line:
            return line
    return lines[0] if lines else type(exc).__name__


class JavaScriptEngine:
    """Warm V8 contexts by parser digest; one run at a time (runs are short and bounded)."""

    def __init__(self, max_contexts: int = MAX_CONTEXTS) -> None:
        self._max = max_contexts
        self._compiled: OrderedDict[str, _Compiled] = OrderedDict()
        self._invalid: OrderedDict[str, str] = OrderedDict()  # digest -> compile error
        self._lock = threading.Lock()

    def run(
        self,
        parser: Parser,
        points: list[dict[str, Any]],
        device: Mapping[str, Any],
        limits: ParserLimits,
    ) -> ParserRun:
        with self._lock:
            compiled = self._context(parser, limits)
            try:
                answer = compiled.context.call(
                    "__mqttActionsRuntime.run",
                    json.dumps(points),
                    json.dumps(device),
                    timeout_sec=limits.timeout_seconds,
                )
            except JSTimeoutException:
                logs = self._lines(compiled)
                self._drop(parser.digest)
                msg = f"the parser ran past its time limit of {limits.timeout_seconds:g} s; stopped"
                raise ParserError("timeout", msg, logs) from None
            except JSOOMException:
                self._drop(parser.digest)
                msg = (
                    f"the parser used more than its memory limit of {limits.memory_mb} MB; stopped"
                )
                raise ParserError("memory", msg) from None
        result: dict[str, Any] = answer  # call() brings the object back through JSON
        logs = [str(line) for line in result["logs"]]
        if result["error"] is not None:
            raise ParserError("threw", str(result["error"]), logs)
        value = json.loads(result["result"])
        return ParserRun(check_points(value, logs), logs)

    def compile(self, parser: Parser, limits: ParserLimits) -> None:
        """Compile `parser` (kept warm for its first run); ParserError("invalid") if it does not."""
        with self._lock:
            self._context(parser, limits)

    def _context(self, parser: Parser, limits: ParserLimits) -> _Compiled:
        digest = parser.digest
        if digest in self._invalid:
            self._invalid.move_to_end(digest)
            raise ParserError("invalid", self._invalid[digest])
        compiled = self._compiled.get(digest)
        if compiled is not None:
            self._compiled.move_to_end(digest)
            return compiled
        try:
            compiled = _Compiled(parser, limits)
        except ParserError as failure:
            self._invalid[digest] = failure.message
            while len(self._invalid) > self._max:
                self._invalid.popitem(last=False)
            raise
        self._compiled[digest] = compiled
        while len(self._compiled) > self._max:
            _, oldest = self._compiled.popitem(last=False)
            oldest.close()
        return compiled

    def _lines(self, compiled: _Compiled) -> list[str]:
        """The console lines of a run V8 stopped (the context still answers after a timeout)."""
        try:
            lines = compiled.context.call("__mqttActionsRuntime.lines")
            return [str(line) for line in lines]
        except Exception:  # a context that cannot answer any more: the lines are lost
            return []

    def _drop(self, digest: str) -> None:
        compiled = self._compiled.pop(digest, None)
        if compiled is not None:
            compiled.close()

    def close(self) -> None:
        with self._lock:
            while self._compiled:
                _, compiled = self._compiled.popitem()
                compiled.close()


@cache
def engine() -> JavaScriptEngine:
    """The process's engine, built on the first JavaScript parser run. Its contexts are closed
    at exit: mini-racer's V8 threads otherwise keep the interpreter from exiting."""
    built = JavaScriptEngine()
    atexit.register(built.close)
    return built


def run_javascript(
    parser: Parser,
    points: list[dict[str, Any]],
    device: Mapping[str, Any],
    limits: ParserLimits,
) -> ParserRun:
    return engine().run(parser, points, device, limits)
