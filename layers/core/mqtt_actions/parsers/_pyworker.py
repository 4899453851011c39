"""The worker process that runs Python payload parsers (started by python.py; standard library
only, run by path so it imports nothing of the project).

Protocol: one JSON request a line on stdin, `{"source", "name", "points", "device"}`; on stdout,
`{"log": LINE}` for each line the parser prints, as it prints it (a parser stopped at its time
limit keeps what it printed), then one answer line, `{"result"} | {"error", "kind"}`.
Limits: the parent kills this process past the time limit; RLIMIT_AS bounds its memory (argv[1],
MB). An audit hook refuses network, processes and files outside Python's own library (imports
still read those): a parser fails cleanly where it tries. This bounds mistakes, not a determined
attacker: Python parsers are the account's own code, as its analyses are.
"""

import io
import json
import resource
import sys
import traceback
from collections.abc import Callable
from typing import Any

MAX_LINES = 100
MAX_PARSERS = 8
MAX_LINE_CHARS = 2000

_DENIED_PREFIXES = (
    "socket.",
    "subprocess.",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.kill",
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.mkdir",
    "os.chmod",
    "os.chown",
    "os.truncate",
    "os.listdir",
    "os.scandir",
    "os.link",
    "os.symlink",
    "shutil.",
    "ctypes.",
    "urllib.Request",
    "http.client.connect",
    "ftplib.",
    "smtplib.",
    "webbrowser.",
    "sqlite3.",
)


def _allowed_roots() -> tuple[str, ...]:
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return tuple(sorted(root.rstrip("/") + "/" for root in roots if root))


def _install_guard() -> None:
    roots = _allowed_roots()

    def guard(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode = args[0], args[1]
            if isinstance(path, int):
                return
            text = str(path)
            writes = isinstance(mode, str) and any(c in mode for c in "wax+")
            if writes or not text.startswith(roots):
                raise PermissionError(
                    f"open({text!r}) refused: a payload parser has no file access"
                )
        elif event.startswith(_DENIED_PREFIXES):
            raise PermissionError(
                f"{event} refused: a payload parser has no network, process or file access"
            )

    sys.addaudithook(guard)


class _Lines(io.TextIOBase):
    """print() in a parser: console lines, like TagoIO's console.log, each sent to the parent
    as soon as it is complete."""

    def __init__(self, out: Any) -> None:
        self.lines: list[str] = []
        self._partial = ""
        self._out = out

    def write(self, text: str) -> int:
        self._partial += text
        *complete, self._partial = self._partial.split("\n")
        for line in complete:
            self._add(line)
        return len(text)

    def _add(self, line: str) -> None:
        if len(self.lines) < MAX_LINES:
            line = line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + "…"
            self.lines.append(line)
            self._out.write(json.dumps({"log": line}) + "\n")
            self._out.flush()

    def done(self) -> list[str]:
        if self._partial:
            self._add(self._partial)
            self._partial = ""
        return self.lines


def _describe(exc: BaseException, name: str) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == name]
    where = f" (line {frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def main() -> None:
    memory_mb = int(sys.argv[1])
    # The limit is on top of what the interpreter maps already (/proc/self/statm: pages).
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    limit = mapped + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    out = sys.stdout
    compiled: dict[str, Callable[..., Any]] = {}
    _install_guard()
    for line in sys.stdin:
        request = json.loads(line)
        name = request["name"]
        lines = _Lines(out)
        try:
            parse = compiled.get(request["source"])
            if parse is None:
                namespace: dict[str, Any] = {"__name__": "payload_parser"}
                code = compile(request["source"], name, "exec")
                sys.stdout = lines
                try:
                    exec(code, namespace)  # noqa: S102 - the device's own parser
                finally:
                    sys.stdout = out
                defined = namespace.get("parse")
                if not callable(defined):
                    raise TypeError("the parser defines no function parse(payload, device)")
                parse = defined
                if len(compiled) >= MAX_PARSERS:
                    compiled.pop(next(iter(compiled)))
                compiled[request["source"]] = parse
            sys.stdout = lines
            try:
                result = parse(request["points"], request["device"])
            finally:
                sys.stdout = out
        except MemoryError:
            answer: dict[str, Any] = {
                "kind": "memory",
                "error": f"MemoryError: over the {memory_mb} MB limit",
            }
        except SyntaxError as exc:
            answer = {"kind": "invalid", "error": f"SyntaxError: {exc.msg} (line {exc.lineno})"}
        except Exception as exc:
            answer = {"kind": "threw", "error": _describe(exc, name)}
        else:
            try:
                answer = {"result": json.loads(json.dumps(result, allow_nan=False))}
            except (TypeError, ValueError) as exc:
                answer = {"kind": "garbage", "error": f"parse() returned something not JSON: {exc}"}
        lines.done()  # a last line printed without a newline
        out.write(json.dumps(answer) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
