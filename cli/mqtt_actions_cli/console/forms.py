"""The action form: one form per action type, to and from an action's configuration, and the
problems of `actions apply` placed next to the field they name (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
        "textarea",
        "YAML list, e.g. [{variable: temperature, op: '>', value: 30}]; empty: always",
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
    if config.get("when"):
        form["when"] = to_yaml(config["when"]).strip()
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
    if form.get("when", "").strip():
        data["when"] = _yaml_field(form["when"], "when")
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


_FIELD = re.compile(
    r"^actions\[\d+\](?: \(id .*?\))?: (?:unknown field '|missing required field ')?"
    r"([A-Za-z_]+)(?:\.([A-Za-z_]+))?"
)


def problems_by_field(problems: Sequence[str]) -> dict[str, list[str]]:
    """Each problem under the form field it names (`rate_limit` under rate_max), the rest under
    '' (shown at the top)."""
    out: dict[str, list[str]] = {}
    for problem in problems:
        match = _FIELD.match(problem)
        name = match.group(1) if match else problem.split(":", 1)[0]
        if name == "rate_limit":
            name = "rate_per" if match and match.group(2) == "per_seconds" else "rate_max"
        out.setdefault(name, []).append(problem)
    return out
