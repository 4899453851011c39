"""What the local stack remembers between runs: one JSON file in the state directory.

Saved: every DynamoDB table of the template (actions, bucket rows, inspector, idempotency and
rate-limit records), the SQS queues (dead letters), the outbox, and the broker's retained
messages. Not saved: MQTT sessions (clients reconnect; persistent sessions start empty), runs in
flight. Written atomically (a temporary file, then a rename), so a `kill -9` loses at most what
changed since the last save; a file that cannot be read is set aside, never loaded half.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from mqtt_actions_cli.local.output import log

STATE_FILE: Final = "state.json"
FORMAT: Final = 1
SAVE_SECONDS: Final = 3.0  # at most this much is lost to a kill -9 (more for a large state)
ENV_STATE_DIR: Final = "MQTT_ACTIONS_STATE_DIR"
# relative to where the stack starts (make run: the checkout)
DEFAULT_STATE_DIR: Final = ".local-state"


class StateError(ValueError):
    """The state file is not one this version wrote (the reason says what is wrong)."""


@dataclass
class Snapshot:
    """Everything saved, as plain JSON-ready data keyed by the template's logical ids."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # DynamoDB JSON items
    queues: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # {body, attributes}
    outbox: list[dict[str, Any]] = field(default_factory=list)
    retained: dict[str, dict[str, Any]] = field(default_factory=dict)  # topic -> message

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "saved_at": int(time.time() * 1000),
            "tables": self.tables,
            "queues": self.queues,
            "outbox": self.outbox,
            "retained": self.retained,
        }

    @classmethod
    def from_json(cls, data: Any) -> Snapshot:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise StateError(f"format {found!r}, expected {FORMAT}")
        snapshot = cls(
            tables=data.get("tables") or {},
            queues=data.get("queues") or {},
            outbox=data.get("outbox") or [],
            retained=data.get("retained") or {},
        )
        shapes = (
            ("tables", snapshot.tables, dict),
            ("queues", snapshot.queues, dict),
            ("outbox", snapshot.outbox, list),
            ("retained", snapshot.retained, dict),
        )
        for name, value, kind in shapes:
            if not isinstance(value, kind):
                raise StateError(
                    f"{name!r} is a {type(value).__name__}, expected a {kind.__name__}"
                )
        for name, rows in (*snapshot.tables.items(), *snapshot.queues.items()):
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise StateError(f"{name!r} does not hold a list of objects")
        return snapshot

    def summary(self, table_labels: Mapping[str, str]) -> str:
        """'3 actions, 120 bucket rows, ...' for the banner (only what is there)."""
        parts = [
            f"{len(self.tables[name]):,} {label}"
            for name, label in table_labels.items()
            if self.tables.get(name)
        ]
        letters = sum(len(messages) for messages in self.queues.values())
        if letters:
            parts.append(f"{letters:,} dead letters")
        if self.outbox:
            parts.append(f"{len(self.outbox):,} outbox items")
        if self.retained:
            parts.append(f"{len(self.retained):,} retained messages")
        return ", ".join(parts) or "nothing"


def encode_payload(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


def decode_payload(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


class StateDir:
    """The state directory: load the snapshot (setting a bad one aside), save one atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / STATE_FILE
        self.set_aside: Path | None = None  # where an unreadable state file was moved
        self.problem: str | None = None  # why it was unreadable

    def load(self) -> Snapshot | None:
        """The saved snapshot; None when there is none or it was unreadable (then set aside)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self._aside(f"cannot read it ({exc})")
            return None
        try:
            return Snapshot.from_json(json.loads(text))
        except (ValueError, TypeError) as exc:  # JSONDecodeError and StateError are ValueErrors
            self._aside(str(exc))
            return None

    def set_aside_now(self, problem: str) -> None:
        """Move the state file aside (it could be read but not restored)."""
        self._aside(problem)

    def _aside(self, problem: str) -> None:
        self.problem = problem
        aside = self.path.with_name(f"{STATE_FILE}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            self.path.replace(aside)
        except OSError as exc:
            log.error("state %s is unreadable and cannot be moved aside: %s", self.path, exc)
            return
        self.set_aside = aside
        return

    def save(self, snapshot: Snapshot) -> None:
        """Write the snapshot atomically (never a half-written state file)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
        # 0600 from the first byte: the state holds token hashes, bucket data and the outbox.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                json.dump(snapshot.to_json(), out, separators=(",", ":"))
                out.flush()
                os.fsync(out.fileno())
            temporary.replace(self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()

    def clear(self) -> None:
        """--fresh: start empty (the previous state is replaced at the first save)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
