"""Ctrl-C at any moment of a command: one line at most, exit 130, never a traceback. A real
SIGINT goes to the installed `mqtt-actions` script while Python starts, while modules load,
while the local stack starts and once it serves, and to commands that wait (inspect --follow,
console)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, LocalStack

SCRIPT = Path(sys.executable).with_name("mqtt-actions")  # what `make venv` installs


def _start(*argv: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    if not SCRIPT.exists():
        pytest.fail(f"{SCRIPT} is missing: run `make venv`")
    return subprocess.Popen(  # noqa: S603 - our own command
        [str(SCRIPT), *argv],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_a_terminal_starts_it,
    )


def _as_a_terminal_starts_it() -> None:
    """A command typed in a terminal gets Ctrl-C's default action. A test run started in the
    background (`make test &`) ignores SIGINT, and children inherit that: the signal would be
    lost until the stack installs its own handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    return out, err


def _assert_one_line_and_130(
    process: subprocess.Popen[str], out: str, err: str, *, early: bool = False
) -> None:
    if early and _interpreter_start(process, err):
        return
    assert process.returncode == 130, (process.returncode, out, err)
    assert "Traceback" not in out + err, err
    assert len(err.strip().splitlines()) <= 1, err
    if err.strip():
        assert err.strip() == "mqtt-actions: interrupted"


def _interpreter_start(process: subprocess.Popen[str], err: str) -> bool:
    """A Ctrl-C that lands while the interpreter itself starts, before any line of ours runs:
    before Python installs its handler (the signal's default action ends the process, -SIGINT),
    while `site` runs (CPython's "Fatal Python error: init_import_site", exit 1), or while the
    console script imports our package. No Python code can catch those; the venv keeps the window
    short (plain-path .pth, no import hook: ~7 ms). Under load a fixed delay can land in it."""
    if process.returncode not in (-signal.SIGINT, 1):
        return False
    return not re.search(r'File "[^"]*mqtt_actions_cli[/\\]', err)


def _wait_for_line(process: subprocess.Popen[str], prefix: str, limit: int = 400) -> str:
    assert process.stdout is not None
    for _ in range(limit):  # bounded: the stack prints a banner of a few dozen lines
        line = process.stdout.readline()
        if not line or line.startswith(prefix):
            return line
    return ""


@pytest.mark.parametrize("delay", [0.01, 0.3, 1.0, 2.5], ids=lambda d: f"after {d} s")
def test_ctrl_c_while_the_local_stack_starts(delay: float, tmp_path: Path) -> None:
    local = _start(
        "local", "--mqtt-port", "0", "--aws-port", "0", "--control-port", "0",
        "--no-console", "--state-dir", str(tmp_path),
    )  # fmt: skip
    time.sleep(delay)
    out, err = _interrupt(local)
    _assert_one_line_and_130(local, out, err, early=True)


def test_ctrl_c_once_the_local_stack_serves(tmp_path: Path) -> None:
    local = _start(
        "local", "--mqtt-port", "0", "--aws-port", "0", "--control-port", "0",
        "--no-console", "--state-dir", str(tmp_path),
    )  # fmt: skip
    assert _wait_for_line(local, "ready:").startswith("ready:")
    out, err = _interrupt(local)
    _assert_one_line_and_130(local, out, err)
    assert out.rstrip().splitlines()[-1] == "stopped"  # it stopped cleanly, state saved


@pytest.mark.parametrize(
    "argv",
    [["inspect", "--follow"], ["console", "--no-browser", "--port", "0"]],
    ids=" ".join,
)
def test_ctrl_c_in_a_command_that_waits(argv: list[str], stack: LocalStack) -> None:
    command = _start(*argv, env={"MQTT_ACTIONS_CONTROL_PORT": stack.control_url.rsplit(":", 1)[1]})
    if argv[0] == "console":
        assert _wait_for_line(command, "target").startswith("target")
    else:
        time.sleep(2.0)  # loaded and following (nothing to print on an idle stack)
    out, err = _interrupt(command)
    _assert_one_line_and_130(command, out, err)
