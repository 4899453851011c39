"""The action form: one form per action type, to and from an action's configuration, and the
problems of `actions apply` placed next to the field they name (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mqtt_actions.conditions import as_number
from mqtt_actions_cli.errors import UsageError


@dataclass(frozen=True)
class Field:
    name: str  # the form field; also the config key unless `key` says otherwise
    label: str
    kind: str = "text"  # text | textarea | checkbox | number | select
    help: str = ""
    choices: tuple[str, ...] = ()


COMMON = (
    Field("id", "Id", help="lowercase letters, digits and -, e.g. store-temperatures"),
    Field("name", "Name", help="optional"),
    Field("topics", "Topic filters", "textarea", "one per line; + one level, # any levels"),
    Field("enabled", "Enabled", "checkbox"),
    Field(
        "when",
        "Conditions (when)",
        "conditions",
        "the action runs when ALL of them hold (AND; a condition holds when some data point of "
        "that variable satisfies it). For OR, make a second action with the other condition: "
        "the actions file has no OR. No condition: always. Value: 30 is a number, true/false "
        'true/false, "30" in quotes is text; exists takes none.',
    ),
    Field("rate_max", "Rate limit: at most", "number", "runs (empty: none; sms/email: 10)"),
    Field("rate_per", "per seconds", "number"),
)
BY_TYPE: dict[str, tuple[Field, ...]] = {
    "insert_bucket": (Field("device", "Bucket (device)", help="default $DEVICE$"),),
    "run_analysis": (
        Field("analyses", "Analyses", help="names, separated by commas"),
        Field("environment", "Environment", "textarea", "KEY=VALUE, one per line"),
    ),
    "sms": (
        Field("to", "To", "textarea", "phone numbers (+15555550100), one per line"),
        Field("message", "Message", "textarea", "placeholders: $VALUE$ $DEVICE$ $TOPIC$ …"),
    ),
    "email": (
        Field("to", "To", "textarea", "addresses, one per line"),
        Field("subject", "Subject"),
        Field("message", "Text body", "textarea"),
        Field("html", "HTML body", "textarea", "optional"),
    ),
    "mqtt_publish": (
        Field("topic", "Topic"),
        Field("payload", "Payload", "textarea", "default $PAYLOAD$"),
        Field("qos", "QoS", "select", choices=("0", "1")),
        Field("retain", "Retain", "checkbox"),
    ),
    "webhook": (
        Field("url", "URL", help="https://host/path"),
        Field(
            "headers",
            "Headers",
            "textarea",
            "Name: value, one per line; values are secrets, shown masked (••••1234): "
            "leave a masked value as it is to keep it",
        ),
        Field("allow_http", "Allow plain http", "checkbox"),
        Field("timeout_seconds", "Timeout (s)", "number"),
        Field("max_retries", "Retries", "number"),
    ),
}
LISTS = {"topics", "to"}
OPS = ("==", "!=", ">", ">=", "<", "<=", "contains", "exists")
_ROW = "when-"  # a condition row's fields: when-N-variable, when-N-op, when-N-value
_ROW_FIELDS = ("variable", "op", "value")
_PART_WORDS = {"variable": "variable", "op": "operator", "value": "value"}


def fields(kind: str) -> tuple[Field, ...]:
    return COMMON + BY_TYPE.get(kind, ())


def empty(kind: str) -> dict[str, str]:
    return {"type": kind, "enabled": "on"}


def from_config(config: Mapping[str, Any]) -> dict[str, str]:
    """An action's configuration as the form's text fields."""
    form: dict[str, str] = {"type": str(config["type"])}
    for key, value in config.items():
        if key in ("type", "rate_limit", "when", "headers", "environment", "analyses"):
            continue
        if isinstance(value, bool):
            form[key] = "on" if value else ""
        elif isinstance(value, list):
            form[key] = "\n".join(str(v) for v in value)
        elif value is not None:
            form[key] = str(value)
    for n, condition in enumerate(config.get("when") or []):
        form[f"{_ROW}{n}-variable"] = str(condition.get("variable", ""))
        form[f"{_ROW}{n}-op"] = str(condition.get("op", ""))
        form[f"{_ROW}{n}-value"] = value_text(condition.get("value"))
    limit = config.get("rate_limit")
    if isinstance(limit, dict):
        form["rate_max"], form["rate_per"] = str(limit["max"]), str(limit["per_seconds"])
    if "headers" in config:
        form["headers"] = "\n".join(f"{k}: {v}" for k, v in config["headers"].items())
    if "environment" in config:
        form["environment"] = "\n".join(f"{k}={v}" for k, v in config["environment"].items())
    if "analyses" in config:
        form["analyses"] = ", ".join(config["analyses"])
    return form


def _number(text: str) -> Any:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text  # the model names the field and says what it wants


def to_config(form: Mapping[str, str]) -> dict[str, Any]:
    """The form's fields as an action's configuration, for the same validation as a file."""
    kind = form.get("type", "")
    data: dict[str, Any] = {"type": kind}
    names = {f.name: f for f in fields(kind)}
    for name, spec in names.items():
        raw = form.get(name, "")
        if spec.kind == "checkbox":
            data[name] = raw == "on"
            continue
        text = raw.strip()
        if not text or name in ("rate_max", "rate_per", "when", "headers", "environment"):
            continue
        if name in LISTS:
            data[name] = [line.strip() for line in text.splitlines() if line.strip()]
        elif name == "analyses":
            data[name] = [n.strip() for n in re.split(r"[,\s]+", text) if n.strip()]
        elif spec.kind in ("number", "select"):
            data[name] = _number(text)
        else:
            data[name] = raw if spec.kind == "textarea" else text
    when = conditions(form)
    if when:
        data["when"] = when
    if form.get("rate_max", "").strip() or form.get("rate_per", "").strip():
        data["rate_limit"] = {
            "max": _number(form.get("rate_max", "").strip()),
            "per_seconds": _number(form.get("rate_per", "").strip()),
        }
    if kind == "webhook":
        data["headers"] = _pairs(form.get("headers", ""), ":", "headers")
    if kind == "run_analysis" and form.get("environment", "").strip():
        data["environment"] = _pairs(form["environment"], "=", "environment")
    return data


def value_text(value: Any) -> str:
    """A condition's value as the builder's text: what `read_value` reads back as that value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    return json.dumps(text, ensure_ascii=False) if read_value(text) != text else text


def read_value(text: str) -> Any:
    """The builder's value text as the `when` value, as YAML would read it: a number, true or
    false, nothing (empty), text in double quotes as that text, anything else as text."""
    stripped = text.strip()
    if not stripped:
        return None
    if len(stripped) >= 2 and stripped[0] == stripped[-1] == '"':
        try:
            return str(json.loads(stripped))
        except ValueError:
            return stripped
    if stripped in ("true", "false"):
        return stripped == "true"
    number = as_number(stripped)
    return number if number is not None and stripped == stripped.lstrip("+") else stripped


def condition_rows(form: Mapping[str, str]) -> list[dict[str, str]]:
    """The builder's rows in the form, in order, and one blank row to fill in."""
    numbers = sorted(
        {int(k.split("-")[1]) for k in form if k.startswith(_ROW) and k.split("-")[1].isdigit()}
    )
    rows = [{part: form.get(f"{_ROW}{n}-{part}", "") for part in _ROW_FIELDS} for n in numbers]
    return [*rows, {"variable": "", "op": "==", "value": ""}]


def conditions(form: Mapping[str, str]) -> list[dict[str, Any]]:
    """The builder's rows as `when:` (what an actions file holds); a row left blank is none."""
    out: list[dict[str, Any]] = []
    for row in condition_rows(form)[:-1]:
        variable, op, value = row["variable"].strip(), row["op"].strip(), row["value"]
        if not variable and not value.strip():
            continue
        condition: dict[str, Any] = {"variable": variable, "op": op}
        if op != "exists" or value.strip():
            condition["value"] = read_value(value)
        out.append(condition)
    return out


def _pairs(text: str, sep: str, field: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, found, value = line.partition(sep)
        if not found or not name.strip():
            raise UsageError(
                f"{field}: line {number} is not NAME{sep} VALUE; nothing was stored",
                problems=[f"{field}: line {number} {line.strip()!r} needs NAME{sep} VALUE"],
            )
        out[name.strip()] = value.strip()
    return out


def _yaml_field(text: str, field: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UsageError(
            f"{field}: not YAML; nothing was stored", problems=[f"{field}: {exc}"]
        ) from None


def to_yaml(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)


def from_yaml(text: str) -> dict[str, Any]:
    """The YAML editor's text: one action (a mapping), or a file holding exactly one."""
    data = _yaml_field(text, "yaml")
    if isinstance(data, dict) and isinstance(data.get("actions"), list) and len(data) == 1:
        if len(data["actions"]) != 1:
            raise UsageError("the editor holds one action", problems=["actions: give exactly one"])
        data = data["actions"][0]
    if not isinstance(data, dict):
        raise UsageError(
            "the editor must hold one action, a mapping (id:, topics:, type: …)",
            problems=["yaml: not a mapping"],
        )
    return data


_PATH = re.compile(r"([A-Za-z_]+)((?:\[\d+\]|\.[A-Za-z_]+)*): ")
_NAMED = re.compile(r"(?:unknown field|missing required field) '([A-Za-z_]+)'")
_STEP = re.compile(r"\[(\d+)\]|\.([A-Za-z_]+)")


def _split_prefix(problem: str) -> tuple[str | None, str]:
    """`actions[0] (id 'x'): rest` -> ('x', rest); no id -> (None, rest). Linear: the id is the
    Python repr the parser wrote, read up to its closing quote."""
    if not problem.startswith("actions["):
        return None, problem
    close = problem.find("]")
    if close < 0:
        return None, problem
    rest = problem[close + 1 :]
    if rest.startswith(": "):
        return None, rest[2:]
    if not rest.startswith(" (id ") or len(rest) < 6:
        return None, problem
    quote, at, chars = rest[5], 6, []
    while at < len(rest) and rest[at] != quote:
        if rest[at] == "\\" and at + 1 < len(rest):
            at += 1
        chars.append(rest[at])
        at += 1
    tail = rest[at + 1 :]
    if not tail.startswith("): "):
        return None, problem
    return "".join(chars), tail[3:]


def _field_words(kind: str, name: str, steps: str) -> str:
    labels = {f.name: f.label for f in fields(kind)}
    if name == "rate_limit":
        part = "per seconds" if "per_seconds" in steps else "at most"
        return f"Rate limit ({part})"
    words = labels.get(name, name)
    for index, attr in _STEP.findall(steps):
        if index:
            words += f", {'row' if name == 'when' else 'line'} {int(index) + 1}"
        else:
            words += f", {_PART_WORDS.get(attr, attr)}"
    return words


def worded(problem: str, kind: str = "") -> tuple[str, str]:
    """A problem of `actions apply` as the form says it: (the form field it is about, the text
    naming the action by its id and the field in words). `rate_limit` goes under rate_max or
    rate_per; a problem about no field under ''."""
    ident, rest = _split_prefix(problem)
    who = f"Action {ident!r}" if ident else "This action"
    path = _PATH.match(rest)
    named = _NAMED.match(rest)
    if path is not None:
        name, steps, text = path.group(1), path.group(2), rest[path.end() :]
        field = name
        if name == "rate_limit":
            field = "rate_per" if "per_seconds" in steps else "rate_max"
        return field, f"{who}, field {_field_words(kind, name, steps)}: {text}"
    if named is not None:
        name = named.group(1)
        words = _field_words(kind, name, "")
        return name, f"{who}, field {words}: {rest}"
    return "", f"{who}: {rest}"


def problems_by_field(problems: Sequence[str], kind: str = "") -> dict[str, list[str]]:
    """Each problem, in words (`worded`), under the form field it names (`rate_limit` under
    rate_max or rate_per), the rest under '' (shown at the top)."""
    out: dict[str, list[str]] = {}
    for problem in problems:
        field, text = worded(problem, kind)
        out.setdefault(field, []).append(text)
    return out
