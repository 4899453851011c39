"""The console's token, kept in the state folder so that it survives restarts (open tabs keep
their cookie) until `--new-console-token` rotates it.

The file `console-token` holds the token and nothing else, mode 0600 (only its owner reads it:
the token opens the console, which shows device data and can send messages). It is written
atomically (a temporary file created 0600, then a rename): a crash never leaves half a token."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path
from typing import Final

TOKEN_FILE: Final = "console-token"  # noqa: S105 - a file name, not a secret
TOKEN_BYTES: Final = 32  # secrets.token_urlsafe(32): 43 characters, 256 bits


class TokenFileError(OSError):
    """The token file cannot be used; the message says which file and what to do."""


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def console_token(state_dir: Path, *, rotate: bool = False) -> str:
    """The token kept in `state_dir` (made there on first use); `rotate`: a new one, saved."""
    path = state_dir / TOKEN_FILE
    if not rotate:
        found = _read(path)
        if found is not None:
            return found
    token = new_token()
    _write(path, token)
    return token


def _read(path: Path) -> str | None:
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):  # not made yet: _write says what is wrong
        return None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        os.chmod(path, 0o600)  # someone widened it: keep it the owner's only
    text = path.read_text(encoding="utf-8").strip()
    if len(text) < TOKEN_BYTES or not text.replace("-", "").replace("_", "").isalnum():
        return None  # empty or damaged: a new one replaces it
    return text


def _write(path: Path, token: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(token + "\n")
        os.replace(temporary, path)
    except OSError as exc:
        raise TokenFileError(
            f"cannot keep the console token in {path}: {exc.strerror or exc}; choose a "
            "writable --state-dir (or MQTT_ACTIONS_STATE_DIR)"
        ) from None
