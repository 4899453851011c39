"""`--since 1h` / `--since 2026-11-25T10:00` as milliseconds since the epoch."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from mqtt_actions_cli.errors import UsageError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_AGO = re.compile(r"(\d+(?:\.\d+)?)([smhdw])", re.ASCII)


def parse_when(text: str, *, option: str, now: float | None = None) -> int:
    """A duration ago (`90s`, `15m`, `1h`, `2d`, `1w`) or an ISO-8601 time (UTC unless it says
    otherwise), as epoch milliseconds."""
    raw = text.strip()
    match = _AGO.fullmatch(raw)
    if match:
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        return int(((time.time() if now is None else now) - seconds) * 1000)
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {text!r} is neither a duration nor an ISO-8601 time",
            hint=f"write e.g. {option} 15m, {option} 2d or {option} 2026-11-25T10:00:00Z",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)
