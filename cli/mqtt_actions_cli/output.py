"""Printing: readable tables for people, JSON on stdout for machines (`--json`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

MAX_CELL = 60


def emit(args: argparse.Namespace, data: Any, render: Callable[[], str]) -> None:
    """`data` as JSON when --json was given, else the text `render()` returns."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        text = render()
        if text:
            print(text)


def note(message: str) -> None:
    """Progress and warnings go to stderr so stdout stays clean for --json and pipes."""
    print(message, file=sys.stderr)


def cell(value: object, width: int = MAX_CELL) -> str:
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    text = " ".join(text.split())  # one line per row, whatever the value holds
    return text if len(text) <= width else text[: width - 1] + "…"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, width: int = MAX_CELL
) -> str:
    """A plain aligned table; cells are one line, cut to `width` characters."""
    cells = [[cell(v, width) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def iso_ms(ms: int | None) -> str:
    """Milliseconds since the epoch as ISO-8601 UTC with milliseconds."""
    if ms is None:
        return ""
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


def topic_of(point: dict[str, Any]) -> Any:
    """The topic a bucket's data point arrived on (its `metadata.topic`), or None."""
    metadata = point.get("metadata")
    return metadata.get("topic") if isinstance(metadata, dict) else None
