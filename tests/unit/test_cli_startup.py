"""`mqtt-actions --help` and every `COMMAND [SUB] --help` load nothing heavy: only the command
named is imported, and command modules defer ops/pydantic/boto3 to their handlers (main.py's
docstring says how). The reads on the local stack (`bucket query`, `inspect`, `actions list`)
are answered by the stack's control API and load no boto3 or pydantic either (reads.py). Each
case runs in a fresh interpreter and reads its sys.modules."""

from __future__ import annotations

import argparse
import http.server
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from mqtt_actions.inspector import EntryType
from mqtt_actions_cli import plugins
from mqtt_actions_cli.main import build_parser
from mqtt_actions_cli.ops.defaults import ENTRY_TYPES
from tests.support.http_servers import send_json, serving

HEAVY = ("boto3", "botocore", "moto", "amqtt", "paho", "pydantic", "yaml", "starlette", "jinja2")

PROBE = """
import contextlib, io, json, sys
from mqtt_actions_cli.main import main
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()):
        code = main([*argv, "--help"])
    assert code == 0, (argv, code)
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))))
"""


def _subcommands(parser: argparse.ArgumentParser, prefix: list[str]) -> list[list[str]]:
    found = [prefix] if prefix else []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _subcommands(sub, [*prefix, name])
    return found


def _by_command() -> dict[str, list[list[str]]]:
    every = _subcommands(build_parser(), [])
    return {name: [argv for argv in every if argv[0] == name] for name in plugins.PLUGINS}


def _loaded_by(argvs: list[list[str]]) -> list[str]:
    probe = [sys.executable, "-c", PROBE, json.dumps(argvs), json.dumps(HEAVY)]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_the_main_help_loads_nothing_heavy() -> None:
    assert _loaded_by([[]]) == []


@pytest.mark.parametrize("command", list(plugins.PLUGINS))
def test_each_command_and_subcommand_help_loads_nothing_heavy(command: str) -> None:
    argvs = _by_command()[command]
    assert argvs, f"{command} registers no parser"
    loaded = _loaded_by(argvs)
    assert loaded == [], (
        f"`mqtt-actions {command} ... --help` imported {loaded}: import what handlers use "
        "through mqtt_actions_cli.lazy.lazy() or inside the handler (see main.py)"
    )


def test_the_main_help_is_the_same_with_or_without_the_commands_loaded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """PLUGINS' summaries (what the fast --help shows) agree with each command's own help=."""
    texts = []
    for parser in (build_parser(), build_parser([])):
        parser.print_help()
        texts.append(capsys.readouterr().out)
    assert texts[1] == texts[0]


def test_the_help_choices_for_entry_types_are_the_inspectors() -> None:
    assert tuple(t.value for t in EntryType) == ENTRY_TYPES


# ---------------------------------------------------------------------------- reads


READ_PROBE = """
import contextlib, io, json, sys
from mqtt_actions_cli.main import main
for argv in json.loads(sys.argv[1]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    assert code == 0, (argv, code)
    assert out.getvalue(), argv
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))))
"""
ENTRY = {
    "device": "sensor-01",
    "type": "publish",
    "time": 1_765_000_000_000,
    "uid": "t-1",
    "traceid": "t-1",
    "session": None,
    "version": None,
    "qos": 1,
    "details": {"topic": "home/t", "size": 20, "points": 1, "matched": 1, "preview": "{}"},
    "recorded": None,
}
ANSWERS: dict[str, Any] = {  # what the local stack's control API answers (local/ops_routes.py)
    "/outputs": {"Region": "us-east-1", "BucketTableName": "b", "InspectorTableName": "i"},
    "/ops/bucket.query": {
        "device": "sensor-01",
        "points": [{"variable": "t", "value": 21, "time_ms": 1, "time_iso": "1970-01-01T00:00Z"}],
    },
    "/ops/inspector.query": {"entries": [ENTRY]},
    "/ops/actions.list": {
        "actions": [{"id": "store", "topics": ["home/#"], "type": "insert_bucket"}],
        "rows": [["store", "insert_bucket", "home/#", True, "always", "none"]],
    },
}


class _FakeControlApi(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        found = self.path in ANSWERS
        send_json(self, 200 if found else 404, ANSWERS[self.path] if found else {})


@pytest.fixture
def control_port() -> Iterator[int]:
    with serving(_FakeControlApi) as port:
        yield port


@pytest.mark.parametrize(
    "argv",
    [
        ["bucket", "query", "sensor-01"],
        ["bucket", "query", "sensor-01", "--since", "1h", "--json"],
        ["inspect", "--since", "1m"],
        ["inspect", "--since", "2026-12-01T00:00:00Z", "--type", "publish", "--json"],
        ["actions", "list"],
        ["actions", "list", "--json"],
    ],
    ids=" ".join,
)
def test_a_read_on_the_local_stack_loads_no_boto3_nor_pydantic(
    control_port: int, argv: list[str]
) -> None:
    env = {**os.environ, "MQTT_ACTIONS_CONTROL_PORT": str(control_port)}
    probe = [sys.executable, "-c", READ_PROBE, json.dumps([argv]), json.dumps(HEAVY)]
    done = subprocess.run(probe, capture_output=True, text=True, timeout=120, check=False, env=env)  # noqa: S603
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [], (
        f"`mqtt-actions {' '.join(argv)}` on the local stack imported {done.stdout.strip()}: "
        "its data comes from the control API (reads.py)"
    )
