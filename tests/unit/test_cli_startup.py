"""`mqtt-actions --help` and every `COMMAND [SUB] --help` load nothing heavy: only the command
named is imported, and command modules defer ops/pydantic/boto3 to their handlers (main.py's
docstring says how). Each case runs in a fresh interpreter and reads its sys.modules."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from mqtt_actions.inspector import EntryType
from mqtt_actions_cli import plugins
from mqtt_actions_cli.main import build_parser
from mqtt_actions_cli.ops.defaults import ENTRY_TYPES

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
