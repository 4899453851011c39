"""A payload as the console shows it: text when it is text, else hex and base64, always with its
length in bytes (never replacement characters for bytes that are not text)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mqtt_actions.text import printable

HEX_LIMIT = 4096  # bytes shown in a hex dump (the base64 is whole)


@dataclass(frozen=True)
class Payload:
    size: int
    text: str | None  # None: bytes, not text
    pretty: str | None  # indented JSON, when the text is JSON
    base64: str
    hexdump: str

    @property
    def binary(self) -> bool:
        return self.text is None


def view(raw: bytes) -> Payload:
    text = printable(raw)
    pretty = None
    if text is not None and text.strip()[:1] in ("{", "["):
        try:
            pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pretty = None
    return Payload(
        size=len(raw),
        text=text,
        pretty=pretty,
        base64=base64.b64encode(raw).decode("ascii"),
        hexdump=hexdump(raw[:HEX_LIMIT]) + ("\n…" if len(raw) > HEX_LIMIT else ""),
    )


def from_base64(encoded: str | None) -> Payload | None:
    """The payload a record holds as base64 (a router event's), or None when it holds none."""
    if encoded is None:
        return None
    try:
        return view(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        return None


def head_of(details: Mapping[str, Any]) -> tuple[bytes, bool]:
    """An inspector publish entry's payload head: (bytes, True) when the router kept it as base64
    (bytes, not text), else (its text as UTF-8, False)."""
    preview = str(details.get("preview", ""))
    if details.get("encoding") == "base64":
        try:
            return base64.b64decode(preview, validate=True), True
        except (binascii.Error, ValueError):
            pass  # not what the router writes: shown as the text it is
    return preview.encode("utf-8"), False


def preview(details: Mapping[str, Any]) -> Payload:
    """An inspector publish entry's payload head as the pages show it."""
    raw, binary = head_of(details)
    if binary:
        return view(raw)
    return Payload(
        size=len(raw),
        text=raw.decode("utf-8"),
        pretty=None,
        base64=base64.b64encode(raw).decode("ascii"),
        hexdump=hexdump(raw[:HEX_LIMIT]),
    )


def hexdump(raw: bytes, width: int = 16) -> str:
    lines = []
    for start in range(0, len(raw), width):
        chunk = raw[start : start + width]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{start:08x}  {chunk.hex(' '):<{width * 3}} {text}")
    return "\n".join(lines)
