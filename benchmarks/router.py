"""Per-message cost of the routing logic (adapters faked) and the router's cold import.

    .venv/bin/python benchmarks/router.py [--quick]

Routing: 10, 1,000 and 10,000 actions (70 % exact filters, 20 % '+', 10 % '#'), each message
matching a few of them, insert_bucket into the in-memory ports of `mqtt_actions.memory` (the
ones the tests and the dry run use; insert_bucket runs without the idempotency guard).
Import: `functions/router/app.py` in a fresh interpreter against a bare
`import boto3, pydantic; from aws_lambda_powertools import Logger`, same run, best of N.
"""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT)]

from _machine import machine  # noqa: E402

from mqtt_actions.actions import parse_actions  # noqa: E402
from mqtt_actions.events import RouterEvent  # noqa: E402
from mqtt_actions.memory import Memory, memory_deps  # noqa: E402
from mqtt_actions.router import route  # noqa: E402
from tests.support.lambda_env import router_settings  # noqa: E402

DEVICES = 10  # per site; sites = actions / 10, so a message matches ~3 actions at any size


def actions(n: int, rng: random.Random) -> list[Any]:
    sites = max(1, n // DEVICES)
    rows = []
    for i in range(n):
        s, d = rng.randrange(sites), rng.randrange(DEVICES)
        r = rng.random()
        if r < 0.7:
            topic = f"site{s}/dev{d}/temp"
        elif r < 0.9:
            topic = f"site{s}/+/temp"
        else:
            topic = f"site{s}/dev{d}/#"
        rows.append({"id": f"a{i}", "topics": [topic], "type": "insert_bucket"})
    return parse_actions({"actions": rows})


def bench_routing(n: int, messages: int, rng: random.Random) -> tuple[float, float]:
    loaded = actions(n, rng)
    sites = max(1, n // DEVICES)
    deps = memory_deps(loaded, Memory())  # the in-memory ports the tests and the dry run use
    settings = router_settings()
    payload = base64.b64encode(json.dumps({"variable": "temp", "value": 21.5}).encode()).decode()
    events = [
        RouterEvent(
            payload=payload,
            topic=f"site{rng.randrange(sites)}/dev{rng.randrange(DEVICES)}/temp",
            clientid="dev",
            timestamp=1,
            traceid=f"t{i}",
        )
        for i in range(messages)
    ]
    deps.actions.match("warm/up")  # built once per cache period, outside the per-message cost
    matched = 0
    start = time.perf_counter()
    for event in events:
        matched += len(route(event, deps, settings).results)
    elapsed = time.perf_counter() - start
    return elapsed / messages * 1e6, matched / messages


def import_time(code: str, repeats: int) -> float:
    env = {"PYTHONPATH": f"{ROOT / 'layers' / 'core'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    best = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)  # noqa: S603
        best.append(time.perf_counter() - start)
    return min(best) * 1000


def main() -> None:
    quick = "--quick" in sys.argv
    rng = random.Random(7)
    print("| actions | µs / message | matches / message |")
    print("|---:|---:|---:|")
    for n in (10, 1_000, 10_000):
        us, per = bench_routing(n, 500 if quick else 3_000, rng)
        print(f"| {n:,} | {us:.1f} | {per:.1f} |")
    repeats = 3 if quick else 7
    baseline = import_time(
        "import boto3, pydantic; from aws_lambda_powertools import Logger", repeats
    )
    router = import_time("import functions.router.app", repeats)
    print()
    print(f"| cold import (fresh interpreter, best of {repeats}) | ms | ratio |")
    print("|---|---:|---:|")
    print(f"| baseline: boto3 + pydantic + Powertools Logger | {baseline:.0f} | 1.00 |")
    print(f"| functions/router/app.py | {router:.0f} | {router / baseline:.2f} |")
    print()
    print(f"Machine: {machine()}")


if __name__ == "__main__":
    main()
