"""What the local stack prints: one short line per event on stdout, and the functions' own output
(Powertools JSON logs, EMF metrics) kept out of the way unless asked for (`--verbose`)."""

from __future__ import annotations

import json
import logging
import sys
import threading
import warnings
from typing import IO, Any, Final

LOGGER_NAME: Final = "mqtt_actions.local"
log = logging.getLogger(LOGGER_NAME)

_function = threading.local()
_SHOWN_LEVELS: Final = frozenset({"WARNING", "ERROR", "CRITICAL"})
_DETAIL_KEYS: Final = ("action_id", "outcome", "reason", "topic")


def set_current_function(name: str | None) -> None:
    """Marks the calling thread as running `name`'s handler (None: no function)."""
    _function.name = name


def current_function() -> str | None:
    name: str | None = getattr(_function, "name", None)
    return name


class FunctionOutput:
    """A stdout that sends what handlers print to the stack's log: everything with `verbose`,
    otherwise only their warnings and errors, condensed. Other threads write through."""

    def __init__(self, real: IO[str], verbose: bool) -> None:
        self._real = real
        self._verbose = verbose
        self._pending = threading.local()

    def write(self, text: str) -> int:
        name = current_function()
        if name is None:
            return self._real.write(text)
        buffered: str = getattr(self._pending, "text", "") + text
        *lines, rest = buffered.split("\n")
        self._pending.text = rest
        for line in lines:
            if line.strip():
                self._emit(name, line)
        return len(text)

    def _emit(self, name: str, line: str) -> None:
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if not isinstance(record, dict):
            log.info("fn   %s: %s", name, line)
            return
        if "_aws" in record:  # an EMF metrics blob
            if self._verbose:
                log.debug("fn   %s metrics: %s", name, line)
            return
        level = str(record.get("level", "INFO")).upper()
        if self._verbose:
            log.info("fn   %s %s", name, line)
        elif level in _SHOWN_LEVELS:
            detail = " ".join(f"{k}={record[k]}" for k in _DETAIL_KEYS if k in record)
            log.warning("fn   %s %s: %s %s", name, level, record.get("message", ""), detail)

    def flush(self) -> None:
        self._real.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._real.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._real, "encoding", "utf-8") or "utf-8"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def setup(verbose: bool, stream: IO[str] | None = None) -> IO[str]:
    """Configure logging for the local stack; returns the stream its lines go to."""
    out = stream or sys.stdout
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    quiet = logging.INFO if verbose else logging.WARNING
    for noisy, level in (
        ("amqtt", quiet),
        ("transitions", logging.WARNING),
        ("werkzeug", logging.ERROR),
        ("botocore", logging.WARNING),
        ("urllib3", logging.WARNING),
    ):
        logging.getLogger(noisy).setLevel(level)
    if not logging.getLogger().handlers:
        root = logging.StreamHandler(out)
        root.setFormatter(
            logging.Formatter(
                "%(asctime)s.%(msecs)03d %(name)s %(levelname)s %(message)s", "%H:%M:%S"
            )
        )
        logging.getLogger().addHandler(root)
    # Powertools warns when a handler that raised flushed no metrics: the failure is logged already.
    warnings.filterwarnings(
        "ignore", message="No application metrics to publish", category=UserWarning
    )
    logging.captureWarnings(True)
    return out
