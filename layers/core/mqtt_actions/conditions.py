"""An action's `when:` conditions, checked against the message's data points.

Semantics (the README's reference says the same):
- All conditions must hold. A condition holds if ANY data point with its `variable` satisfies it.
- `exists` holds if there is such a data point, whatever its value.
- Numbers compare as numbers when both sides are numbers: ints, floats, or text that reads as a
  finite decimal number ("30", "-2.5", "1e3") of at most 100 characters. true/false are not
  numbers.
- Otherwise `==` and `!=` compare the text forms (true -> "true", null -> ""), and the ordered
  ops `> >= < <=` do not hold: "hot" is neither above nor below 30.
- `contains` is a case-sensitive substring test on the text forms.
Pure and allocation-light: it runs for every matched action of every message.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol

from mqtt_actions.templating import value_text
from mqtt_actions.text import without_surrogates

__all__ = ["MAX_NUMBER_CHARS", "ORDERED_OPS", "Condition", "as_number", "explain"]


class Condition(Protocol):
    """What a condition is here (the actions model's `Condition` is one): read-only fields, so
    this module needs nothing from the actions package, which needs `as_number` from here."""

    @property
    def variable(self) -> str: ...
    @property
    def op(self) -> str: ...
    @property
    def value(self) -> object: ...


# Linear: one quantifier per part of a number. `[0-9]+\.?[0-9]*` (two quantifiers over the same
# digits) backtracked quadratically: "1" * 16,000 + "x" took 13 s and stalled the router.
_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# Longer text is not a number: it bounds the work per value whatever a device sends (a double has
# 17 significant digits; 100 characters leave room for padding zeros and an exponent).
MAX_NUMBER_CHARS: Final = 100
_COMPARE: Final[dict[str, Callable[[float, float], bool]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
ORDERED_OPS: Final = frozenset({">", ">=", "<", "<="})
_MAX_SHOWN: Final = 5  # values per reason
_MAX_CHARS: Final = 80  # characters per value shown: a 6 kB value must not fill the inspector


def as_number(value: object) -> int | float | None:
    """`value` as a finite number, or None: ints, floats and numeric text; never true/false."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        if len(value) > MAX_NUMBER_CHARS:
            return None
        text = value.strip()
        if not _NUMBER.fullmatch(text):
            return None
        try:
            number = float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:  # more digits than int() accepts from text
            return None
        return number if math.isfinite(number) else None
    return None


def _satisfies(actual: object, op: str, expected: object) -> bool:
    if op == "contains":
        return value_text(expected) in value_text(actual)
    left, right = as_number(actual), as_number(expected)
    if left is not None and right is not None:
        return _COMPARE[op](left, right)
    if op == "==":
        return value_text(actual) == value_text(expected)
    if op == "!=":
        return value_text(actual) != value_text(expected)
    return False  # an ordered op on something that is not a number


def _holds(condition: Condition, points: Sequence[Mapping[str, object]]) -> bool:
    variable, op, expected = condition.variable, condition.op, condition.value
    for point in points:
        if point.get("variable") == variable and (
            op == "exists" or _satisfies(point.get("value"), op, expected)
        ):
            return True
    return False


def _shown(value: object) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= _MAX_CHARS else repr(value[:_MAX_CHARS]) + "…"
    text = without_surrogates(value_text(value)) or "null"
    return text if len(text) <= _MAX_CHARS else text[:_MAX_CHARS] + "…"


_NOT: Final = {
    "==": ("does not equal", "none equals"),
    "!=": ("equals", "none differs from"),
    "contains": ("does not contain", "none contains"),
}


def _reason(condition: Condition, points: Sequence[Mapping[str, object]]) -> str:
    variable, op, expected = condition.variable, condition.op, condition.value
    values = [p.get("value") for p in points if p.get("variable") == variable]
    if not values:
        return f"no data point with variable {variable!r}"
    shown = ", ".join(_shown(v) for v in values[:_MAX_SHOWN])
    if len(values) > _MAX_SHOWN:
        shown += f", ... ({len(values)} values)"
    single, many = _NOT.get(op, (f"is not {op}", f"none is {op}"))
    if len(values) > 1:
        return f"{variable} = {shown}: {many} {_shown(expected)}"
    if op in ORDERED_OPS and as_number(values[0]) is None:
        return f"{variable} = {shown} is not a number, so it is not {op} {_shown(expected)}"
    return f"{variable} = {shown} {single} {_shown(expected)}"


def explain(conditions: Sequence[Condition], points: Sequence[Mapping[str, object]]) -> str | None:
    """Why the conditions do not hold ("temperature = 25 is not > 30"), or None if they do:
    all must hold, each for some data point (no conditions: None)."""
    reasons = [_reason(c, points) for c in conditions if not _holds(c, points)]
    return "; ".join(reasons) or None
