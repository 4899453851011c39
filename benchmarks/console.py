"""Publish -> the entry on the console's Live page in a real browser, against the peer that
reads the same stream: `mqtt-actions inspect --follow`, in the same run, on the same messages.

    .venv/bin/python benchmarks/console.py [--seconds 20] [--rates 10,200]

Stack: `mqtt-actions local` in a subprocess (as `make run` starts it, console included), with an
insert_bucket action on the benchmark's topics. The third row is when the stack stored each
message's inspector entry (the entry's own `recorded` time): the floor both readers share. One
paho client publishes QoS 1 messages on `bench/console/<n>` at a steady rate; "sent" is taken
just before each publish. The Live page (chromium via Playwright, Debian's) records when each
row appears in its table (a MutationObserver, Date.now()); `mqtt-actions inspect --follow
--json --type publish` (a subprocess) records when it prints each line. Both clocks are this
machine's wall clock. A message not seen within the drain time counts as missed; the
percentiles are over the messages all three saw, so the paths are compared on the same messages.
The page keeps the newest 1,000 rows and coalesces a poll's entries into one update; the table
shows the rows it held at the end and the longest a `page.evaluate` round trip took during the
run (how responsive the page stayed), and the stack process's resident memory before and
after each point (the console runs in it).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT / "cli"), str(ROOT)]

import paho.mqtt.client as mqtt  # noqa: E402
import psutil  # noqa: E402
from _machine import machine  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

READY = re.compile(r"^ready: mqtt://[\d.]+:(\d+) aws=(\S+) control=(\S+) console=(\S+)")
DRAIN_SECONDS = 15.0
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OBSERVE = """
() => {
  window.__arrivals = [];
  const rows = document.getElementById("rows");
  new MutationObserver((changes) => {
    const now = Date.now();
    for (const change of changes) for (const tr of change.addedNodes) {
      if (tr.entry && tr.entry.topic) window.__arrivals.push([tr.entry.topic, now]);
    }
  }).observe(rows, { childList: true });
}
"""


def env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("cli", "layers/core", ".")),
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class Stack:
    process: subprocess.Popen[str]
    mqtt_port: int
    control_port: int
    console_url: str
    lines: list[str] = field(default_factory=list)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# One action on every benchmark message (insert_bucket, the common one), as a real stack has.
ACTIONS = """
actions:
  - {id: bench-store, topics: ["bench/console/#"], type: insert_bucket}
"""


def apply_actions(control_port: int) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "mqtt_actions_cli.main", "actions", "apply", "-"],
        input=ACTIONS,
        cwd=ROOT,
        env=env() | {"MQTT_ACTIONS_CONTROL_PORT": str(control_port)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if ran.returncode != 0:
        raise SystemExit(f"actions apply failed: {ran.stderr}")


def start_stack() -> Stack:
    command = [sys.executable, "-m", "mqtt_actions_cli.main", "local"]
    command += ["--mqtt-port", "0", "--aws-port", "0", "--control-port", "0"]
    command += ["--state-dir", tempfile.mkdtemp(prefix="console-bench-"), "--fresh"]
    process = subprocess.Popen(  # noqa: S603 - our own command
        command, cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    found: queue.Queue[re.Match[str] | None] = queue.Queue()
    lines: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if (match := READY.match(line)) is not None:
                found.put(match)
        found.put(None)

    threading.Thread(target=read, daemon=True).start()
    match = found.get(timeout=120)
    if match is None:
        raise SystemExit("the local stack did not start:\n" + "\n".join(lines[-30:]))
    return Stack(process, int(match[1]), int(match[3].rsplit(":", 1)[1]), match[4].strip(), lines)


class Follower:
    """`mqtt-actions inspect --follow --json --type publish`: when each topic was printed."""

    def __init__(self, control_port: int) -> None:
        command = [sys.executable, "-m", "mqtt_actions_cli.main", "inspect", "--follow"]
        command += ["--json", "--type", "publish", "--since", "5s"]
        self.seen: dict[str, float] = {}
        self.recorded: dict[str, float] = {}  # when the stack stored the entry (its own field)
        self.process = subprocess.Popen(  # noqa: S603 - our own command
            command,
            cwd=ROOT,
            env=env() | {"MQTT_ACTIONS_CONTROL_PORT": str(control_port)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            now = time.time()
            try:
                entry = json.loads(line)
                topic = entry["details"]["topic"]
            except (ValueError, KeyError, TypeError):
                continue
            self.seen.setdefault(topic, now)
            if isinstance(entry.get("recorded"), int):
                self.recorded.setdefault(topic, entry["recorded"] / 1000)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def publish_steady(port: int, rate: float, seconds: float, run: str) -> dict[str, float]:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{run}")
    client.connect("127.0.0.1", port, keepalive=30)
    client.loop_start()
    sent: dict[str, float] = {}
    start = time.perf_counter()
    count = int(rate * seconds)
    try:
        for n in range(count):
            due = start + n / rate
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            topic = f"bench/console/{run}/{n}"
            sent[topic] = time.time()
            client.publish(topic, json.dumps({"variable": "n", "value": n}), qos=1)
    finally:
        time.sleep(0.5)
        client.disconnect()
        client.loop_stop()
    return sent


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Point:
    rate: float
    path: str
    latencies_ms: list[float]
    sent: int
    note: str = ""
    seen: int = 0


def measure(stack: Stack, page: Any, rate: float, seconds: float) -> list[Point]:
    run = f"r{int(rate)}-{int(time.time())}"
    page.goto(stack.console_url)
    page.wait_for_selector("#status:text('live')", timeout=30_000)
    page.evaluate(OBSERVE)
    follower = Follower(stack.control_port)
    time.sleep(3)  # the follower's first query is done
    rss_before = psutil.Process(stack.process.pid).memory_info().rss
    slowest_ms = 0.0
    done = threading.Event()
    sent: dict[str, float] = {}

    def publisher() -> None:
        sent.update(publish_steady(stack.mqtt_port, rate, seconds, run))
        done.set()

    threading.Thread(target=publisher, daemon=True).start()
    while not done.is_set():  # the page stays responsive: a round trip into it
        t = time.perf_counter()
        page.evaluate("document.getElementById('rows').childElementCount")
        slowest_ms = max(slowest_ms, (time.perf_counter() - t) * 1000)
        time.sleep(0.5)
    deadline = time.time() + DRAIN_SECONDS
    while time.time() < deadline:
        arrived = dict(page.evaluate("window.__arrivals"))
        if all(t in arrived for t in sent) and all(t in follower.seen for t in sent):
            break
        time.sleep(0.5)
    arrived = {t: ms / 1000 for t, ms in page.evaluate("window.__arrivals")}
    rows = page.evaluate("document.getElementById('rows').childElementCount")
    rss_after = psutil.Process(stack.process.pid).memory_info().rss
    follower.stop()
    # Percentiles over the messages every path saw (a path that saw more late messages would
    # otherwise look slower for seeing them); `seen` counts each path's own.
    common = [t for t in sent if t in arrived and t in follower.seen and t in follower.recorded]
    browser = [(arrived[t] - sent[t]) * 1000 for t in common]
    cli = [(follower.seen[t] - sent[t]) * 1000 for t in common]
    stored = [(follower.recorded[t] - sent[t]) * 1000 for t in common]
    counts = (len(arrived.keys() & sent.keys()), len(follower.seen.keys() & sent.keys()))
    note = (
        f"rows kept {rows}, slowest page round trip {slowest_ms:.0f} ms, "
        f"stack RSS {rss_before / 2**20:.0f} -> {rss_after / 2**20:.0f} MiB"
    )
    return [
        Point(rate, "console Live page (chromium)", browser, len(sent), note, counts[0]),
        Point(rate, "mqtt-actions inspect --follow", cli, len(sent), "", counts[1]),
        Point(rate, "(the stack: stored the entry)", stored, len(sent), "", len(common)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="per rate (default 20)")
    parser.add_argument("--rates", default="10,200", help="messages per second (default 10,200)")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("needs chromium on PATH (sudo apt-get install -y chromium)")
    stack = start_stack()
    apply_actions(stack.control_port)
    points: list[Point] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            for rate in (float(r) for r in args.rates.split(",")):
                points += measure(stack, page, rate, args.seconds)
            browser.close()
    finally:
        stack.stop()
    print(f"publish -> seen, {args.seconds:g} s per rate, QoS 1, one publisher, local stack")
    print(f"{'rate':>6}  {'path':<31} {'p50 ms':>7} {'p99 ms':>7} {'seen':>11}  p99 vs CLI")
    for i in range(0, len(points), 3):
        page_point, cli_point, stack_point = points[i : i + 3]
        for point in (page_point, cli_point, stack_point):
            ratio = pct(point.latencies_ms, 0.99) / pct(cli_point.latencies_ms, 0.99)
            print(
                f"{point.rate:>4g}/s  {point.path:<31} {pct(point.latencies_ms, 0.5):>7.0f} "
                f"{pct(point.latencies_ms, 0.99):>7.0f} "
                f"{point.seen:>5}/{point.sent:<5}  {ratio:.2f}x"
            )
        print(f"        {page_point.note}")
    print(machine())


if __name__ == "__main__":
    main()
