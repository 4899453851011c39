"""Problems in an actions file, in words that name the action, the field and the fix.

A file is refused whole: `parse_actions` collects every problem (each naming the action's index,
its id and the field) and raises one `ActionsFileError`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Any, Final, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from mqtt_actions.actions.model import ACTION_ADAPTER, ACTION_TYPES, CLASSES, Action
from mqtt_actions.actions.wording import RULE
from mqtt_actions.actions.wording import describe as _describe
from mqtt_actions.actions.wording import show as _show
from mqtt_actions.text import surrogate_problem

__all__ = ["ActionsFileError", "parse_action", "parse_actions"]


class ActionsFileError(ValueError):
    """An actions file (or stored action) that cannot be used; `.problems` lists every reason."""

    def __init__(self, problems: Sequence[str], *, source: str = "<actions>") -> None:
        self.problems = list(problems)
        self.source = source
        count = len(self.problems)
        lines = "".join(f"\n  - {p}" for p in self.problems)
        super().__init__(
            f"{source}: {count} problem{'s' if count != 1 else ''}; "
            f"the file is refused as a whole:{lines}"
        )


_EXAMPLES: Final = {
    "id": "id: store-temperatures",
    "topics": 'topics: ["home/+/temperature"]',
    "analyses": "analyses: [forecast]",
    "sms.to": 'to: ["+15555550100"]',
    "email.to": "to: [ops@example.com]",
    "message": 'message: "$TOPIC$ = $VALUE$$UNIT$"',
    "subject": 'subject: "Alarm $DEVICE$"',
    "topic": 'topic: "ack/$DEVICE$"',
    "url": "url: https://example.com/in",
    "variable": "variable: temperature",
    "op": 'op: ">"',
    "max": "max: 5",
    "per_seconds": "per_seconds: 60",
}


def _model_at(model: type[BaseModel], path: Sequence[int | str]) -> type[BaseModel] | None:
    """The model that holds the fields at `path` inside `model` (for did-you-mean)."""
    for part in path:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        inner = _find_model(field.annotation) if field else None
        if inner is None:
            return None
        model = inner
    return model


def _find_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _find_model(arg)
        if found is not None:
            return found
    return None


def _path(parts: Sequence[int | str]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def _example(type_: str | None, field: str) -> str:
    example = _EXAMPLES.get(f"{type_}.{field}") or _EXAMPLES.get(field)
    return f", e.g. {example}" if example else ""


def _entry_problems(exc: ValidationError, entry: dict[Any, Any]) -> list[str]:
    """Turn pydantic errors about one action into messages: `<field path>: <what to do>`."""
    type_ = entry.get("type")
    cls = CLASSES.get(type_) if isinstance(type_, str) else None
    found: list[tuple[tuple[int | str, ...], str]] = []
    suggested: set[tuple[int | str, ...]] = set()  # fields an unknown field was probably meant as
    missing: dict[int, tuple[int | str, ...]] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if cls is not None and loc[:1] == (type_,):
            loc = loc[1:]  # pydantic puts the discriminator tag first
        if err["type"] == "extra_forbidden":
            text, meant = _unknown_field(cls, loc, type_)
            if meant is not None:
                suggested.add((*loc[:-1], meant))
            found.append((loc[:-1], text))
            continue
        if err["type"] == "missing":
            missing[len(found)] = loc
        found.append(_message(err, loc, type_))
    # `topic:` where `topics:` belongs is one mistake, not also a missing `topics`.
    return [
        f"{_path(loc)}: {text}" if loc else text
        for i, (loc, text) in enumerate(found)
        if missing.get(i) not in suggested
    ]


def _unknown_field(
    cls: type[BaseModel] | None, loc: tuple[int | str, ...], type_: object
) -> tuple[str, str | None]:
    model = _model_at(cls, loc[:-1]) if cls else None
    name = str(loc[-1])
    fields = list(model.model_fields) if model else []
    close = difflib.get_close_matches(name, fields, n=1) or [
        f for f in fields if len(name) >= 3 and f.startswith(name)
    ]
    if close:
        return f"unknown field {name!r}; did you mean {close[0]!r}?", close[0]
    if owners := [t for t, c in CLASSES.items() if name in c.model_fields]:
        return f"unknown field {name!r}; it belongs to {' and '.join(owners)} actions", None
    if fields:
        return f"unknown field {name!r}; the fields here are {', '.join(fields)}", None
    return f"unknown field {name!r}", None


def _message(
    err: ErrorDetails, loc: tuple[int | str, ...], type_: object
) -> tuple[tuple[int | str, ...], str]:
    kind, ctx, value = err["type"], err.get("ctx", {}), err["input"]
    field = str(loc[-1]) if loc else ""
    got = _describe(value)
    tname = type_ if isinstance(type_, str) else None
    match kind:
        case str() if kind == RULE:
            return loc, str(ctx["message"])
        case "missing":
            return loc[:-1], f"missing required field {field!r}{_example(tname, field)}"
        case "union_tag_invalid":
            close = difflib.get_close_matches(str(type_), ACTION_TYPES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return loc, f"type {_show(type_)} is not one of {', '.join(ACTION_TYPES)}{hint}"
        case "union_tag_not_found":
            return loc, f"missing required field 'type': one of {', '.join(ACTION_TYPES)}"
        case "model_attributes_type" | "model_type" | "dict_type":
            what = "" if loc else "an action "
            return loc, f"{what}must be a mapping (name: value, ...), got {got}"
        case "string_type":
            quote = "; put it in quotes" if isinstance(value, int | float) else ""
            return loc, f"expected text, got {got}{quote}"
        case "string_unicode":
            problem = surrogate_problem(value) if isinstance(value, str) else None
            return loc, problem or f"{err['msg']} (got {got})"
        case "int_type":
            return loc, f"expected a whole number, got {got}"
        case "float_type":
            return loc, f"expected a number, got {got}"
        case "bool_type":
            return loc, f"expected true or false, got {got}"
        case "list_type":
            return loc, f"expected a list [...], got {got}{_example(tname, field)}"
        case "too_short":
            n = ctx["min_length"]
            return loc, f"needs at least {n} item{'s' if n != 1 else ''}{_example(tname, field)}"
        case "too_long":
            return loc, f"holds at most {ctx['max_length']} items, got {ctx['actual_length']}"
        case "string_too_short":
            n = ctx["min_length"]
            return loc, "must not be empty" if n == 1 else f"needs at least {n} characters"
        case "string_too_long":
            return loc, f"holds at most {ctx['max_length']} characters, got {len(str(value))}"
        case "greater_than_equal" | "greater_than" | "less_than_equal" | "less_than":
            bound = {"greater_than_equal": ">=", "greater_than": ">"}.get(kind) or (
                "<=" if kind == "less_than_equal" else "<"
            )
            limit = ctx.get("ge", ctx.get("gt", ctx.get("le", ctx.get("lt"))))
            if isinstance(limit, float) and limit.is_integer():
                limit = int(limit)  # "<= 30", not "<= 30.0", for a float field
            return loc, f"must be {bound} {limit}, got {_show(value)}"
        case _:
            return loc, f"{err['msg']} (got {got})"


def _action_problems(entry: object, index: int) -> tuple[Action | None, list[str]]:
    ident = entry.get("id") if isinstance(entry, dict) else None
    prefix = f"actions[{index}]" + (f" (id {ident!r})" if isinstance(ident, str) else "")
    try:
        return ACTION_ADAPTER.validate_python(entry), []
    except ValidationError as exc:
        raw = entry if isinstance(entry, dict) else {}
        return None, [f"{prefix}: {p}" for p in _entry_problems(exc, raw)]


def parse_action(data: object, *, index: int = 0, source: str = "<actions>") -> Action:
    """One action (e.g. a stored item). Raises ActionsFileError naming each problem."""
    action, problems = _action_problems(data, index)
    if action is None:
        raise ActionsFileError(problems, source=source)
    return action


def parse_actions(data: object, *, source: str = "<actions>") -> list[Action]:
    """The loaded file (`{"actions": [...]}`) as actions; ActionsFileError lists every problem."""
    if data is None:
        raise ActionsFileError(
            ["the file is empty; it must hold an 'actions:' list"], source=source
        )
    if not isinstance(data, dict):
        raise ActionsFileError(
            [f"the top level must be a mapping with an 'actions:' list, got {_describe(data)}"],
            source=source,
        )
    problems: list[str] = []
    meant_actions = False
    for key in data:
        if key != "actions":
            meant_actions |= bool(difflib.get_close_matches(str(key), ["actions"], n=1))
            problems.append(
                f"unknown top-level field {_show(key)}"
                + ("; did you mean 'actions'?" if meant_actions else "; only 'actions' goes here")
            )
    entries = data.get("actions")
    if not isinstance(entries, list):
        if "actions" in data:
            problems.append(
                "'actions' must be a list of actions (write 'actions: []' for none), "
                f"got {_describe(entries)}"
            )
        elif not meant_actions:
            problems.append("missing the top-level 'actions:' list")
        raise ActionsFileError(problems, source=source)

    actions: list[Action] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(entries):
        action, entry_problems = _action_problems(entry, index)
        problems += entry_problems
        if action is not None:
            actions.append(action)
        ident = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(ident, str):
            if ident in first_index:
                problems.append(
                    f"actions[{index}] (id {ident!r}): id {ident!r} is already used by "
                    f"actions[{first_index[ident]}]; give each action its own id"
                )
            else:
                first_index[ident] = index
    if problems:
        raise ActionsFileError(problems, source=source)
    return actions
