"""Wording shared by the action rules and the problem messages: how a user's value is shown.

`fail` makes the one error type every rule raises; its message is final text for the user.
"""

from __future__ import annotations

import json
from typing import Final

from pydantic_core import PydanticCustomError

__all__ = ["RULE", "describe", "fail", "show"]

# Every rule of ours raises this error type; its message is final text for the user.
RULE: Final = "mqtt_actions_rule"


def fail(message: str) -> PydanticCustomError:
    # The message travels in the context so braces in user input are never read as a template.
    return PydanticCustomError(RULE, "{message}", {"message": message})


def show(value: object, limit: int = 60) -> str:
    """A user's value for a message: text quoted, long text cut (`'xxx'...`), others as JSON,
    shortened first, so a huge or self-referencing value costs little."""
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else repr(value[:limit]) + "..."
    text = json.dumps(_shortened(value, limit, depth=3), default=str)
    return text if len(text) <= 2 * limit else text[: 2 * limit] + "..."


def _shortened(value: object, limit: int, depth: int) -> object:
    """`value` with text cut to `limit` and at most 5 items a level, `depth` levels deep."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "..."
    if isinstance(value, list | tuple | dict):
        if depth == 0:
            return "..."
        pairs = list(value.items())[:6] if isinstance(value, dict) else list(enumerate(value[:6]))
        shown = [(k, _shortened(v, limit, depth - 1)) for k, v in pairs[:5]]
        more = len(pairs) > 5
        if isinstance(value, dict):
            keys = [k if isinstance(k, str | int | float | bool) else str(k) for k, _ in shown]
            return dict(zip(keys, [v for _, v in shown], strict=True)) | (
                {"...": "..."} if more else {}
            )
        return [v for _, v in shown] + (["..."] if more else [])
    return value


def describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {show(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {show(value)}"
