"""Text every receiver accepts. A Python str can hold a lone surrogate (U+D800..U+DFFF), e.g.
from the JSON escape "\\ud800"; UTF-8 cannot encode one, so DynamoDB, SNS, SES, SQS and HTTP
all refuse it. Such text is refused where it enters, with the position named. Pure."""

from __future__ import annotations

import codecs
import re
from typing import Final

__all__ = [
    "first_surrogate",
    "printable",
    "surrogate_in",
    "surrogate_problem",
    "without_surrogates",
]

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
# C0 controls but tab, LF and CR, DEL, C1 controls: in a payload they mean bytes, not text.
_CONTROL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def first_surrogate(text: str) -> int | None:
    """The index of the first lone surrogate in `text`, or None: the one check every module uses."""
    if text.isascii():
        return None
    found = _SURROGATE.search(text)
    return None if found is None else found.start()


def surrogate_problem(text: str) -> str | None:
    """Why `text` is not Unicode text (a lone surrogate, where), or None when it is."""
    if (at := first_surrogate(text)) is None:
        return None
    return (
        f"holds a lone surrogate U+{ord(text[at]):04X} at index {at}, "
        "which is not Unicode text (UTF-8 cannot encode it)"
    )


def surrogate_in(value: object) -> str | None:
    """`surrogate_problem` of the first text in `value`: text, or lists, tuples and mappings
    (keys and values) of them, nested. For model validators: pydantic's strict and optional str
    fields let a lone surrogate through."""
    if isinstance(value, str):
        return surrogate_problem(value)
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple):
        return next((p for v in value if (p := surrogate_in(v)) is not None), None)
    return None


def without_surrogates(text: str) -> str:
    """`text` with each lone surrogate shown as U+FFFD: for text meant for people."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def printable(raw: bytes, *, cut: bool = False) -> str | None:
    """`raw` as text when it is UTF-8 without control characters (tab, LF and CR allowed), else
    None: a payload to show as hex or base64, never as replacement characters. `cut`: `raw` is
    the head of a longer payload, so a character cut at its end is dropped, not refused."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(raw, final=not cut)
    except UnicodeDecodeError:
        return None
    return None if _CONTROL.search(text) else text
