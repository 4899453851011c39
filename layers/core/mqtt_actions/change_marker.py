"""A change marker: a small file whose content changes whenever the actions do.

The local stack rewrites it when `actions apply`, `actions rm` or the console write the actions
table, so the router keeps its actions cached (ACTIONS_CACHE_SECONDS) and still acts on a change
at the next message. On AWS no marker is configured and the cache's TTL alone applies.
"""

from __future__ import annotations

from pathlib import Path


class ChangeMarker:
    """`changed()` is True when the file's content differs from the last call's (a missing file
    reads as empty); one small read per call."""

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._seen: bytes | None = None

    def changed(self) -> bool:
        try:
            content = self._path.read_bytes()
        except OSError:
            content = b""
        if content == self._seen:
            return False
        self._seen = content
        return True
