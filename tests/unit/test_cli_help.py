"""Every command's --help teaches: a description and examples; usage errors exit 2."""

from __future__ import annotations

import pytest

from mqtt_actions_cli.main import main

COMMANDS = [
    ["actions", "apply"],
    ["actions", "list"],
    ["actions", "rm"],
    ["actions", "test"],
    ["bucket", "query"],
    ["outbox"],
    ["dlq", "list"],
    ["dlq", "replay"],
    ["dlq", "discard"],
    ["devices", "create"],
    ["publish"],
]
GROUPS = [["actions"], ["bucket"], ["dlq"], ["devices"]]


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_top_level_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, ["--help"])
    assert code == 0
    for name in ("local", "actions", "bucket", "inspect", "outbox", "dlq", "devices", "publish"):
        assert f"\n    {name}" in out, name
    assert "quick start" in out
    assert "exit codes: 0 ok, 1 operational error, 2 usage or validation error" in out


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_each_command_has_a_description_examples_and_the_shared_options(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, [*argv, "--help"])
    assert code == 0
    assert "examples:\n  mqtt-actions " + " ".join(argv) in out
    for option in ("--json", "--local", "--stack NAME", "--region REGION"):
        assert option in out


@pytest.mark.parametrize("argv", GROUPS, ids=" ".join)
def test_groups_have_help_and_need_a_subcommand(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, [*argv, "--help"])
    assert code == 0
    assert "COMMAND" in out
    code, _, err = run(capsys, argv)
    assert code == 2
    assert "required" in err


def test_no_command_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, [])
    assert code == 2
    assert "usage: mqtt-actions" in err


def test_an_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, ["frobnicate"])
    assert code == 2
    assert "invalid choice: 'frobnicate'" in err


def test_local_and_stack_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, ["actions", "list", "--local", "--stack", "x"])
    assert code == 2
    assert "not allowed with argument" in err


def test_plugins_missing_from_this_build_say_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mqtt_actions_cli import plugins

    monkeypatch.setitem(
        plugins.PLUGINS, "inspect", ("mqtt_actions_cli.no_such_module", "add_x", "watch", "")
    )
    code, _, err = run(capsys, ["inspect", "--follow"])
    assert code == 1
    assert "`mqtt-actions inspect` is not available in this build" in err
