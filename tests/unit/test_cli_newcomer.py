"""The CLI a newcomer meets: a reader that goes away (`| head`), --version, "did you mean" for a
mistyped command, the port-taken hint naming the env vars `make run` reads, the outbox's
refused webhook, and `inspect --device` for a device with no entries at all."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from mqtt_actions_cli.cmd_outbox import _row
from mqtt_actions_cli.local.command import ENV_MQTT_PORT, _check_free
from mqtt_actions_cli.main import EXIT_BROKEN_PIPE, main
from tests.unit.test_inspect_cli import NOW_MS, FakeQuery, publish, run

ROOT = Path(__file__).resolve().parents[2]


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` that has read enough: every write now fails (EPIPE)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("cli", "layers/core", ".")),
    }
    try:
        done = subprocess.run(
            # a usage error with --json: the JSON error goes to stdout, no stack needed
            [sys.executable, "-m", "mqtt_actions_cli.main", "outbox", "--stack", "s", "--json"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(write_end)
    assert b"Traceback" not in done.stderr
    assert b"Exception ignored" not in done.stderr
    assert b"BrokenPipe" not in done.stderr
    assert done.returncode == EXIT_BROKEN_PIPE


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("mqtt-actions ")


@pytest.mark.parametrize(
    ("argv", "meant"),
    [(["inspct"], "inspect"), (["action", "list"], "actions"), (["actions", "aply"], "apply")],
)
def test_a_mistyped_command_gets_a_did_you_mean(
    argv: list[str], meant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert f"did you mean {meant!r}?" in capsys.readouterr().err


def test_a_taken_port_names_the_flag_and_the_env_var_make_run_reads() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=rf"--mqtt-port N, or {ENV_MQTT_PORT}=N") as caught:
            _check_free("127.0.0.1", port, "MQTT", "--mqtt-port", ENV_MQTT_PORT)
    assert f"{ENV_MQTT_PORT}={port + 10} make run" in str(caught.value)


def test_a_webhook_that_got_no_answer_shows_the_error_not_http_none() -> None:
    item = {
        "kind": "webhook",
        "time": 1,
        "url": "http://127.0.0.1:9/in",
        "status": None,
        "action_id": "hook",
        "error": "connection refused",
    }
    row = _row(item)
    assert "None" not in " ".join(row)
    assert (row[3], row[4]) == ("no response", "action hook: connection refused")
    assert _row({**item, "status": 500, "error": None})[3] == "HTTP 500"


def test_inspect_a_device_with_no_entries_at_all_says_so() -> None:
    _code, _out, err = run("-d", "nobody")
    assert "no inspector entries for 'nobody' at all" in err
    assert "--since" not in err


def test_inspect_a_device_with_older_entries_names_its_latest() -> None:
    old = publish(1, NOW_MS - 3 * 86_400_000)
    _code, _out, err = run("-d", old.device, "--since", "1h", query=FakeQuery([old]))
    assert f"no inspector entries for {old.device!r} in that range; its latest is from" in err
    assert "try a longer --since" in err
