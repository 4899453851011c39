"""`when:` conditions: each op, numbers vs text, text as numbers, missing variables, many points."""

import pytest

from mqtt_actions.actions import Condition
from mqtt_actions.conditions import as_number, explain


def evaluate(conditions: list[Condition], points: list[dict[str, object]]) -> bool:
    """Whether the conditions hold, as the router decides it: `explain` gives no reason."""
    return explain(conditions, points) is None


def cond(op: str, value: object = None, variable: str = "t") -> Condition:
    return Condition.model_validate({"variable": variable, "op": op, "value": value})


def point(value: object, variable: str = "t") -> dict[str, object]:
    return {"variable": variable, "value": value}


@pytest.mark.parametrize(
    ("actual", "op", "expected", "holds"),
    [
        # numbers
        pytest.param(31, ">", 30, True, id="31>30"),
        pytest.param(30, ">", 30, False, id="30>30-false"),
        pytest.param(30, ">=", 30, True, id="30>=30"),
        pytest.param(29.5, "<", 30, True, id="29.5<30"),
        pytest.param(30, "<=", 30.0, True, id="30<=30.0"),
        pytest.param(30, "==", 30.0, True, id="int==float"),
        pytest.param(30, "!=", 31, True, id="30!=31"),
        pytest.param(30, "!=", 30, False, id="30!=30-false"),
        # text that reads as a number compares as a number
        pytest.param("30", ">", 4, True, id="text-30>4-numerically"),
        pytest.param("30", "==", 30, True, id="text-30==30"),
        pytest.param("30.0", "==", "30", True, id="text-30.0==text-30"),
        pytest.param(" 1e3 ", "==", 1000, True, id="exponent-and-spaces"),
        pytest.param("-2.5", "<", "-2", True, id="negative-decimal"),
        pytest.param("100", ">", "9", True, id="both-text-numeric-not-lexicographic"),
        # not numbers
        pytest.param("1_000", "==", 1000, False, id="underscores-are-not-numbers"),
        pytest.param("nan", "!=", "NaN", True, id="nan-is-text"),
        pytest.param("inf", ">", 1, False, id="inf-is-not-a-number"),
        pytest.param(float("inf"), ">", 1, False, id="float-inf-is-not-a-number"),
        pytest.param("hot", ">", 30, False, id="ordered-op-on-text-false"),
        pytest.param("hot", "<", 30, False, id="ordered-op-on-text-false-both-ways"),
        pytest.param(None, ">", 0, False, id="ordered-op-on-null-false"),
        pytest.param(True, ">", 0, False, id="bool-is-not-a-number"),
        pytest.param(True, "==", 1, False, id="true-is-not-1"),
        pytest.param(True, "==", True, True, id="true==true"),
        pytest.param(True, "==", "true", True, id="true==text-true"),
        pytest.param(False, "!=", True, True, id="false!=true"),
        # text
        pytest.param("on", "==", "on", True, id="text-equal"),
        pytest.param("on", "==", "ON", False, id="text-case-sensitive"),
        pytest.param("on", "!=", "off", True, id="text-not-equal"),
        pytest.param(None, "!=", "x", True, id="null-is-empty-text"),
        pytest.param({"a": 1}, "==", '{"a":1}', True, id="object-as-json-text"),
        # contains
        pytest.param("door open", "contains", "open", True, id="contains"),
        pytest.param("door open", "contains", "Open", False, id="contains-case-sensitive"),
        pytest.param(1234, "contains", 23, True, id="contains-on-number-text"),
        pytest.param(None, "contains", "x", False, id="contains-on-null"),
    ],
)
def test_ops(actual: object, op: str, expected: object, holds: bool) -> None:
    assert evaluate([cond(op, expected)], [point(actual)]) is holds


@pytest.mark.parametrize(
    ("points", "holds"),
    [
        pytest.param([point(0)], True, id="present-with-any-value"),
        pytest.param([point(None)], True, id="present-with-null"),
        pytest.param([point(1, variable="other")], False, id="other-variable-only"),
        pytest.param([], False, id="no-points"),
    ],
)
def test_exists(points: list[dict[str, object]], holds: bool) -> None:
    assert evaluate([cond("exists")], points) is holds


def test_missing_variable_fails_every_op() -> None:
    assert not evaluate([cond("!=", "x")], [point("y", variable="other")])


def test_any_point_with_the_variable_may_satisfy_it() -> None:
    points = [point(10), point(40), point(20)]
    assert evaluate([cond(">", 30)], points)
    assert not evaluate([cond(">", 50)], points)


def test_all_conditions_must_hold_each_by_any_point() -> None:
    points = [point(35, "temperature"), point(80, "humidity")]
    both = [cond(">", 30, "temperature"), cond(">=", 80, "humidity")]
    assert evaluate(both, points)
    assert not evaluate([*both, cond("exists", variable="pressure")], points)


def test_no_conditions_always_hold() -> None:
    assert evaluate([], [])
    assert explain([], []) is None


@pytest.mark.parametrize(
    ("conditions", "points", "reason"),
    [
        pytest.param([cond(">", 30, "temperature")], [point(25, "temperature")],
                     "temperature = 25 is not > 30", id="number"),
        pytest.param([cond(">", 30, "temperature")], [point("hot", "temperature")],
                     "temperature = 'hot' is not a number, so it is not > 30", id="not-a-number"),
        pytest.param([cond("==", "on", "s")], [point("off", "s")],
                     "s = 'off' does not equal 'on'", id="equals"),
        pytest.param([cond("!=", "on", "s")], [point("on", "s")],
                     "s = 'on' equals 'on'", id="not-equals"),
        pytest.param([cond("contains", "x", "s")], [point(None, "s")],
                     "s = null does not contain 'x'", id="contains-null"),
        pytest.param([cond("exists", variable="humidity")], [point(1)],
                     "no data point with variable 'humidity'", id="exists"),
        pytest.param([cond(">", 30, "t")], [point(25), point("28")],
                     "t = 25, '28': none is > 30", id="many-points"),
        pytest.param([cond(">", 30, "t")], [point(i) for i in range(7)],
                     "t = 0, 1, 2, 3, 4, ... (7 values): none is > 30", id="many-points-capped"),
        pytest.param([cond(">", 30, "t"), cond("exists", variable="h")], [point(1)],
                     "t = 1 is not > 30; no data point with variable 'h'", id="every-failure"),
        pytest.param([cond(">", 0, "t"), cond("exists", variable="h")], [point(1)],
                     "no data point with variable 'h'", id="only-the-failures"),
        pytest.param([cond("==", "on", "t")], [point("x" * 6000)],
                     f"t = {'x' * 80!r}… does not equal 'on'", id="long-text-shortened"),
        pytest.param([cond("==", "on", "t")], [point([[1] * 50])],
                     f"t = [[{','.join(['1'] * 39)},… does not equal 'on'", id="long-list"),
        pytest.param([cond("==", "on", "t")], [point({"k": "\ud800"})],
                     't = {"k":"\ufffd"} does not equal \'on\'', id="lone-surrogate-shown-as-fffd"),
    ],
)  # fmt: skip
def test_explain(conditions: list[Condition], points: list[dict[str, object]], reason: str) -> None:
    assert explain(conditions, points) == reason
    assert not evaluate(conditions, points)


def test_explain_is_none_when_the_conditions_hold() -> None:
    assert explain([cond(">", 30)], [point(31)]) is None


@pytest.mark.parametrize(
    ("value", "number"),
    [
        pytest.param(3, 3, id="int"),
        pytest.param(2.5, 2.5, id="float"),
        pytest.param("42", 42, id="int-text"),
        pytest.param("+.5", 0.5, id="signed-fraction"),
        pytest.param("1E-2", 0.01, id="exponent"),
        pytest.param("9" * 5000, None, id="too-many-digits"),
        pytest.param("0" * 97 + "1.5", 1.5, id="100-chars"),
        pytest.param("0" * 98 + "1.5", None, id="over-100-chars-is-text"),
        pytest.param("1" * 16_000 + "x", None, id="issue-23-backtracking"),
        pytest.param("1.", 1.0, id="trailing-dot"),
        pytest.param("1e999", None, id="overflows-to-inf"),
        pytest.param("", None, id="empty"),
        pytest.param("0x10", None, id="hex"),
        pytest.param("١٢", None, id="non-ascii-digits"),
        pytest.param(True, None, id="bool"),
        pytest.param(float("nan"), None, id="nan"),
        pytest.param(None, None, id="none"),
        pytest.param([1], None, id="list"),
    ],
)
def test_as_number(value: object, number: float | None) -> None:
    assert as_number(value) == number
