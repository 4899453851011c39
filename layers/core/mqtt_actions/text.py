"""Text every receiver accepts. A Python str can hold a lone surrogate (U+D800..U+DFFF), e.g.
from the JSON escape "\\ud800"; UTF-8 cannot encode one, so DynamoDB, SNS, SES, SQS and HTTP
all refuse it. Such text is refused where it enters, with the position named. Pure."""

from __future__ import annotations

import re
from typing import Final

__all__ = ["surrogate_problem", "without_surrogates"]

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def surrogate_problem(text: str) -> str | None:
    """Why `text` is not Unicode text (a lone surrogate, where), or None when it is."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"holds a lone surrogate U+{ord(text[exc.start]):04X} at index {exc.start}, "
            "which is not Unicode text (UTF-8 cannot encode it)"
        )
    return None


def without_surrogates(text: str) -> str:
    """`text` with each lone surrogate shown as U+FFFD: for text meant for people."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)
