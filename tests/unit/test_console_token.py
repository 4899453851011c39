"""The console's token lives in the state folder (0600) and survives restarts until rotated."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from mqtt_actions_cli.console.token_store import TOKEN_FILE, TokenFileError, console_token


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_first_start_makes_a_token_only_its_owner_reads(tmp_path: Path) -> None:
    token = console_token(tmp_path / "state")
    path = tmp_path / "state" / TOKEN_FILE
    assert path.read_text() == token + "\n"
    assert mode(path) == 0o600
    assert len(token) >= 43


def test_a_restart_keeps_the_token(tmp_path: Path) -> None:
    assert console_token(tmp_path) == console_token(tmp_path)


def test_rotate_makes_and_keeps_a_new_one(tmp_path: Path) -> None:
    first = console_token(tmp_path)
    second = console_token(tmp_path, rotate=True)
    assert second != first
    assert console_token(tmp_path) == second
    assert mode(tmp_path / TOKEN_FILE) == 0o600


@pytest.mark.parametrize("damaged", ["", "short", "not a token at all, with spaces and ! marks"])
def test_a_damaged_file_is_replaced(tmp_path: Path, damaged: str) -> None:
    (tmp_path / TOKEN_FILE).write_text(damaged)
    token = console_token(tmp_path)
    assert token != damaged.strip()
    assert (tmp_path / TOKEN_FILE).read_text() == token + "\n"


def test_a_file_others_can_read_is_narrowed_back(tmp_path: Path) -> None:
    token = console_token(tmp_path)
    (tmp_path / TOKEN_FILE).chmod(0o644)
    assert console_token(tmp_path) == token
    assert mode(tmp_path / TOKEN_FILE) == 0o600


def test_an_unwritable_folder_says_which_and_what_to_do(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TokenFileError, match=r"--state-dir"):
        console_token(blocker / "state")
