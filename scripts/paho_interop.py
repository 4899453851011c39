"""Run Eclipse Paho's MQTT 3.1.1 interoperability suite against a broker and print one line per
test, then the pass count.

The suite (github.com/eclipse/paho.mqtt.testing, `interoperability/client_test.py`, EPL/EDL) is
not part of this project and is not on PyPI: clone it yourself and pass its directory. Two
defects of its own command line are worked around here: its `--port` option is parsed and then
rejected by `unittest.main()` re-reading sys.argv, and `will_message_test` lacks the `test_`
prefix, so unittest never runs it. Everything else is the suite as published.

    python scripts/paho_interop.py --suite ~/paho.mqtt.testing/interoperability --port 1883
    python scripts/paho_interop.py --suite DIR --local [--spec-broker]   # starts the local stack
    make paho PAHO=DIR                                                    # both local modes

Exit status: 0 when every test ran (whatever the results), 2 when the suite cannot be loaded or
the local stack does not start.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import unittest
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The suite's own module-level settings (set in its `if __name__ == "__main__":` block).
TOPICS = ("TopicA", "TopicA/B", "Topic/C", "TopicA/C", "/TopicA")
WILDTOPICS = ("TopicA/+", "+/C", "#", "/#", "/+", "+/+", "TopicA/#")
NOSUBSCRIBE_TOPICS = ("test/nosubscribe",)
EXTRA_TESTS = ("will_message_test",)  # defined without the test_ prefix
READY = re.compile(r"^ready: mqtt://(?P<host>[\d.]+):(?P<port>\d+) ")
START_TIMEOUT = 90.0


def at_most_qos1(client_class: Any) -> None:
    """The suite's client asking for QoS 1 wherever the suite asks for QoS 2 (IoT Core has no
    QoS 2): the suite's own code is unchanged, its client's subscribe and publish are wrapped."""
    subscribe, publish = client_class.subscribe, client_class.publish

    def subscribe_qos1(self: Any, topics: Any, qoss: Any) -> Any:
        return subscribe(self, topics, [min(qos, 1) for qos in qoss])

    def publish_qos1(
        self: Any, topic: Any, payload: Any, qos: int = 0, retained: bool = False
    ) -> Any:
        return publish(self, topic, payload, min(qos, 1), retained)

    client_class.subscribe, client_class.publish = subscribe_qos1, publish_qos1


def load_suite(suite_dir: Path, host: str, port: int, *, qos1: bool = False) -> unittest.TestSuite:
    """client_test.Test's tests (with will_message_test), wired to host:port."""
    if not (suite_dir / "client_test.py").is_file():
        raise SystemExit(
            f"error: {suite_dir}/client_test.py not found: pass --suite DIR with the "
            "suite's interoperability directory"
        )
    sys.path.insert(0, str(suite_dir))
    module = importlib.import_module("client_test")
    module.host, module.port = host, port
    module.topics, module.wildtopics = TOPICS, WILDTOPICS
    module.nosubscribe_topics = NOSUBSCRIBE_TOPICS
    if qos1:
        at_most_qos1(module.mqtt_client.Client)
    loader = unittest.TestLoader()
    names = [*loader.getTestCaseNames(module.Test), *EXTRA_TESTS]
    return unittest.TestSuite(module.Test(name) for name in names)


class Recorder(unittest.TextTestResult):
    """A result that also keeps (name, outcome, seconds) for every test."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows: list[tuple[str, str, float]] = []
        self._started = 0.0

    def startTest(self, test: unittest.TestCase) -> None:  # noqa: N802 - unittest's name
        self._started = time.monotonic()
        super().startTest(test)

    def _row(self, test: unittest.TestCase, outcome: str) -> None:
        name = test.id().rsplit(".", 1)[-1]
        self.rows.append((name, outcome, time.monotonic() - self._started))

    def addSuccess(self, test: unittest.TestCase) -> None:  # noqa: N802
        super().addSuccess(test)
        self._row(test, "pass")

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:  # noqa: N802
        super().addFailure(test, err)
        self._row(test, "FAIL")

    def addError(self, test: unittest.TestCase, err: Any) -> None:  # noqa: N802
        super().addError(test, err)
        self._row(test, "ERROR")


def run(
    suite_dir: Path, host: str, port: int, log: io.TextIOBase, *, qos1: bool = False
) -> list[tuple[str, str, float]]:
    suite = load_suite(suite_dir, host, port, qos1=qos1)
    with contextlib.redirect_stdout(log):  # the suite prints its progress
        runner = unittest.TextTestRunner(stream=log, verbosity=0, resultclass=Recorder)
        result = runner.run(suite)
    return result.rows if isinstance(result, Recorder) else []


@contextlib.contextmanager
def local_stack(spec_broker: bool) -> Iterator[tuple[str, int]]:
    """`mqtt-actions local` (this checkout) on free ports, state in a temporary directory."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="paho-interop-") as state:
        command = [
            sys.executable,
            "-m",
            "mqtt_actions_cli.main",
            "local",
            "--mqtt-port",
            "0",
            "--aws-port",
            "0",
            "--control-port",
            "0",
            "--no-console",
            "--fresh",
            "--state-dir",
            state,
            *(["--spec-broker"] if spec_broker else []),
        ]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("cli", "layers/core", ".")),
        }
        process = subprocess.Popen(  # noqa: S603 - this checkout's own command
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            for line in process.stdout or []:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        deadline, address = time.monotonic() + START_TIMEOUT, None
        while address is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            if match := READY.match(line):
                address = (match["host"], int(match["port"]))
        try:
            if address is None:
                raise SystemExit("error: the local stack did not start (run `make run` to see why)")
            yield address
        finally:
            process.terminate()
            process.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--suite", type=Path, required=True, help="paho.mqtt.testing's interoperability directory"
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--port", type=int, help="a broker already running on --host:PORT")
    target.add_argument("--local", action="store_true", help="start the local stack for the run")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--spec-broker",
        action="store_true",
        help="with --local: start it with --spec-broker (plain MQTT 3.1.1)",
    )
    parser.add_argument(
        "--qos1",
        action="store_true",
        help="the suite's QoS 2 requests made at QoS 1 (IoT Core has no QoS 2)",
    )
    parser.add_argument("--label", default=None, help="the broker's name in the output")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    parser.add_argument("--verbose", action="store_true", help="also print the suite's output")
    args = parser.parse_args(argv)

    log: io.TextIOBase = sys.stderr if args.verbose else io.StringIO()  # type: ignore[assignment]
    started = time.monotonic()
    if args.local:
        label = args.label or ("local stack --spec-broker" if args.spec_broker else "local stack")
        label += ", QoS 1 variant" if args.qos1 else ""
        with local_stack(args.spec_broker) as (host, port):
            rows = run(args.suite.resolve(), host, port, log, qos1=args.qos1)
    else:
        label = args.label or f"{args.host}:{args.port}"
        rows = run(args.suite.resolve(), args.host, args.port, log, qos1=args.qos1)
    passed = sum(1 for _, outcome, _ in rows if outcome == "pass")
    if args.json:
        print(
            json.dumps(
                {
                    "broker": label,
                    "passed": passed,
                    "total": len(rows),
                    "tests": [
                        {"name": n, "outcome": o, "seconds": round(s, 1)} for n, o, s in rows
                    ],
                }
            )
        )
    else:
        for name, outcome, seconds in rows:
            print(f"  {outcome:5} {name:32} {seconds:5.1f} s")
        print(f"{label}: {passed} of {len(rows)} passed ({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
