"""How fast `mqtt-actions` answers: each command's wall time beside `python -c pass` and
`mosquitto_pub --help` (a C client's start-up) in the same run, interleaved.

    .venv/bin/python benchmarks/cli.py [--runs 7] [--json]

The commands run as a user runs them: the installed `mqtt-actions` script of this venv, in a
fresh process each time. `--help` of the main command and of every command in PLUGINS must
answer in 0.3 s; three reads against the local stack (`bucket query`, `inspect --since 1m`,
`actions list`) in 1 s, end to end: process start, request, table printed. The stack is
`mqtt-actions local` in a subprocess on free ports, with one action and a few stored messages.
Rows show the median and best wall time over the runs, the median CPU time (user + system, a
steadier figure on a shared machine), and the median as a multiple of `python -c pass`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT / "cli"), str(ROOT)]

from _machine import machine  # noqa: E402

from mqtt_actions_cli.plugins import PLUGINS  # noqa: E402

SCRIPT = Path(sys.executable).with_name("mqtt-actions")
READY = re.compile(r"^ready: mqtt://[\d.]+:(\d+) aws=(\S+) control=http://[\d.]+:(\d+)")
HELP_TARGET_S = 0.3
READ_TARGET_S = 1.0
ACTIONS = """\
actions:
  - {id: bench-store, topics: ["bench/#"], type: insert_bucket}
"""


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall s, CPU s) of one run of `argv` to its exit; its output is discarded."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # noqa: S603
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def start_stack(state: str) -> tuple[subprocess.Popen[str], int]:
    command = [str(SCRIPT), "local", "--mqtt-port", "0", "--aws-port", "0", "--control-port", "0"]
    command += ["--no-console", "--state-dir", state]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(  # noqa: S603 - our own command
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    for _ in range(400):  # bounded: the banner is a few dozen lines
        line = process.stdout.readline()
        if not line:
            break
        if (match := READY.match(line)) is not None:
            return process, int(match.group(3))
    process.kill()
    raise SystemExit("the local stack did not start")


def prepare(env: dict[str, str]) -> None:
    """One action and three stored messages of device bench-01, so the reads return rows."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(ACTIONS)
    cli = [str(SCRIPT)]
    subprocess.run([*cli, "actions", "apply", f.name], env=env, check=True, capture_output=True)  # noqa: S603
    os.unlink(f.name)
    for value in (20, 21, 22):
        payload = json.dumps({"variable": "temperature", "value": value})
        publish = [*cli, "publish", "bench/room/temperature", payload, "--client-id", "bench-01"]
        subprocess.run(publish, env=env, check=True, capture_output=True)  # noqa: S603
    for _ in range(50):  # bounded: stored within a second or two
        found = subprocess.run(  # noqa: S603
            [*cli, "bucket", "query", "bench-01", "--json"], env=env, capture_output=True, text=True
        )
        if found.returncode == 0 and len(json.loads(found.stdout).get("points", [])) >= 3:
            return
        time.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (default 7)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    if not SCRIPT.exists():
        raise SystemExit(f"{SCRIPT} is missing: run `make venv`")
    mosquitto_pub = shutil.which("mosquitto_pub")
    rows: list[tuple[str, list[str], float | None]] = [
        ("python -c pass", [sys.executable, "-c", "pass"], None),
    ]
    if mosquitto_pub:
        rows.append(("mosquitto_pub --help", [mosquitto_pub, "--help"], None))
    rows.append(("mqtt-actions --help", [str(SCRIPT), "--help"], HELP_TARGET_S))
    rows += [
        (f"mqtt-actions {name} --help", [str(SCRIPT), name, "--help"], HELP_TARGET_S)
        for name in PLUGINS
    ]
    reads = [
        ["bucket", "query", "bench-01"],
        ["inspect", "--since", "1m"],
        ["actions", "list"],
    ]
    rows += [("mqtt-actions " + " ".join(a), [str(SCRIPT), *a], READ_TARGET_S) for a in reads]

    state = tempfile.mkdtemp(prefix="mqtt-actions-bench-cli-")
    stack, control_port = start_stack(state)
    env = {**os.environ, "MQTT_ACTIONS_CONTROL_PORT": str(control_port)}
    try:
        prepare(env)
        times: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in rows}
        for _ in range(args.runs):  # interleaved: a busy moment hits every command alike
            for label, argv, _target in rows:
                times[label].append(run_once(argv, env))
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(timeout=60)
        shutil.rmtree(state, ignore_errors=True)

    floor = statistics.median(wall for wall, _ in times["python -c pass"])
    results = []
    for label, _argv, target in rows:
        walls = [wall for wall, _ in times[label]]
        median = statistics.median(walls)
        results.append(
            {
                "command": label,
                "median_s": round(median, 3),
                "best_s": round(min(walls), 3),
                "cpu_s": round(statistics.median(cpu for _, cpu in times[label]), 3),
                "x_python": round(median / floor, 1),
                "target_s": target,
                "meets": None if target is None else median <= target,
            }
        )
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("| command | median s | best s | CPU s | \u00d7 `python -c pass` | target |")
    print("|---|---|---|---|---|---|")
    for r in results:
        target = (
            "-" if r["target_s"] is None else f"≤ {r['target_s']} s " + ("✓" if r["meets"] else "✗")
        )
        print(
            f"| `{r['command']}` | {r['median_s']:.3f} | {r['best_s']:.3f} | {r['cpu_s']:.3f} "
            f"| {r['x_python']:.1f} | {target} |"
        )
    load = os.getloadavg()
    print(f"\n{args.runs} interleaved runs each; load average {load[0]:.1f}. Machine: {machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
