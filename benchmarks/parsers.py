"""What a device's payload parser costs the router: cold start and per-message CPU.

    .venv/bin/python benchmarks/parsers.py [--quick]

Cold start (fresh interpreter each time, best of N): importing `functions/router/app.py` as every
router starts, against the same import plus the first message of a device with a JavaScript
parser (V8 loaded, a context built with Buffer, the parser compiled and run) and with a Python
parser (its worker process started). The router without parsers never imports the engines.
Per message: `route()` with every adapter a no-op and one insert_bucket action, the TagoIO-style
hex parser of tests/data/parsers/hex_buffer.js (and its Python twin) against no parser; CPU is
the process's CPU time (V8 runs on threads of this process; the Python worker's CPU is its own
process's, read from its /proc stat), wall time beside it.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT)]

from _machine import machine  # noqa: E402
from router import MemoryOnce, Null  # noqa: E402

from mqtt_actions.actions import parse_actions  # noqa: E402
from mqtt_actions.events import RouterEvent  # noqa: E402
from mqtt_actions.parsers import DeviceParser, Parser, device_context  # noqa: E402
from mqtt_actions.router import ActionsSource, RouterDeps, route  # noqa: E402
from mqtt_actions.settings import RouterSettings  # noqa: E402

PARSERS = ROOT / "tests" / "data" / "parsers"
HEX = "0109611395"

FIRST_RUN = """
import functions.router.app
from mqtt_actions.parsers import Parser, run_parser
from mqtt_actions.payload import wrap_payload
source = open({path!r}, encoding="utf-8").read()
run_parser(Parser({language!r}, source, "p"), wrap_payload(b"{hex}", "d/x"), {{}})
"""


class _Lookup:
    def __init__(self, found: DeviceParser | None) -> None:
        self.found = found

    def for_device(self, device: str) -> DeviceParser | None:
        return self.found


def _worker_cpu() -> float:
    """CPU seconds of this process's Python parser worker (0 when there is none)."""
    from mqtt_actions.parsers.python import engine

    process = engine()._process  # a benchmark reads its own worker
    if process is None:
        return 0.0
    fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def per_message(found: DeviceParser | None, messages: int) -> tuple[float, float]:
    """(µs of CPU, µs of wall time) per routed message."""
    null = Null()
    deps = RouterDeps(
        actions=ActionsSource(
            lambda: parse_actions(
                {"actions": [{"id": "store", "topics": ["d/+"], "type": "insert_bucket"}]}
            ),
            ttl=1e9,
            clock=time.time,
        ),
        bucket=null,
        rate_limiter=null,
        notifier=null,
        publisher=null,
        invoker=null,
        webhooks=null,
        inspector=null,
        dead_letters=null,
        once=MemoryOnce(),
        parsers=_Lookup(found),
    )
    settings = RouterSettings.model_validate(
        {
            "BUCKET_TABLE": "b",
            "ACTIONS_TABLE": "a",
            "IDEMPOTENCY_TABLE": "i",
            "DEAD_LETTER_QUEUE_URL": "q",
        }
    )
    payload = base64.b64encode(HEX.encode()).decode()
    events = [
        RouterEvent(payload=payload, topic="d/x", clientid="x", timestamp=1, traceid=f"t{i}")
        for i in range(messages + 20)
    ]
    for event in events[:20]:  # warm: the engine loaded, the context built, the parser compiled
        assert route(event, deps, settings).results[-1].outcome.value == "done"
    cpu, worker, wall = time.process_time(), _worker_cpu(), time.perf_counter()
    for event in events[20:]:
        route(event, deps, settings)
    wall = time.perf_counter() - wall
    cpu = time.process_time() - cpu + _worker_cpu() - worker
    return cpu / messages * 1e6, wall / messages * 1e6


def cold(code: str, repeats: int) -> float:
    env = {"PYTHONPATH": f"{ROOT / 'layers' / 'core'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    best = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)  # noqa: S603
        best.append(time.perf_counter() - start)
    return min(best) * 1000


def main() -> None:
    quick = "--quick" in sys.argv
    messages = 300 if quick else 2_000
    repeats = 3 if quick else 7
    js = Parser("javascript", (PARSERS / "hex_buffer.js").read_text(encoding="utf-8"), "hex.js")
    py = Parser("python", (PARSERS / "hex_struct.py").read_text(encoding="utf-8"), "hex.py")
    device = device_context("x")
    rows = [
        ("no parser", per_message(None, messages)),
        ("hex parser, JavaScript (V8)", per_message(DeviceParser(js, device), messages)),
        ("hex parser, Python (worker)", per_message(DeviceParser(py, device), messages)),
    ]
    base_cpu = rows[0][1][0]
    head = f"| router, one insert_bucket action ({messages:,} messages) | CPU µs / message"
    print(f"{head} | wall µs / message | CPU ratio |")
    print("|---|---:|---:|---:|")
    for name, (cpu, wall) in rows:
        print(f"| {name} | {cpu:.0f} | {wall:.0f} | {cpu / base_cpu:.1f} |")

    router = cold("import functions.router.app", repeats)
    first_js = cold(
        FIRST_RUN.format(path=str(PARSERS / "hex_buffer.js"), language="javascript", hex=HEX),
        repeats,
    )
    first_py = cold(
        FIRST_RUN.format(path=str(PARSERS / "hex_struct.py"), language="python", hex=HEX), repeats
    )
    print()
    print(f"| cold start (fresh interpreter, best of {repeats}) | ms | ratio |")
    print("|---|---:|---:|")
    for name, ms in (
        ("import functions/router/app.py (no parser: no engine imported)", router),
        ("+ first message with a JavaScript parser (V8, Buffer, compile)", first_js),
        ("+ first message with a Python parser (worker started)", first_py),
    ):
        print(f"| {name} | {ms:.0f} | {ms / router:.2f} |")
    print()
    print(f"Machine: {machine()}")


if __name__ == "__main__":
    main()
