"""The actions file: pydantic models of every action type, and a loader whose errors name the fix.

A file is refused whole: `parse_actions` collects every problem (each naming the action's index,
its id and the field) and raises one `ActionsFileError`. Models are frozen and refuse unknown
fields, so a typo such as `topic:` on an insert_bucket action is an error, not a silent default.
Models are strict (no "5" for 5, no 1 for true): YAML already gives numbers and booleans.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import hmac
import json
import math
import re
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, Self, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from mqtt_actions.conditions import ORDERED_OPS, as_number
from mqtt_actions.text import surrogate_problem
from mqtt_actions.topics import (
    InvalidFilterError,
    InvalidTopicError,
    validate_filter,
    validate_topic,
)

if TYPE_CHECKING:
    import yaml

__all__ = [
    "ACTION_TYPES",
    "OPS",
    "Action",
    "ActionBase",
    "ActionsFile",
    "ActionsFileError",
    "Condition",
    "ConditionValue",
    "EmailAction",
    "InsertBucketAction",
    "MqttPublishAction",
    "Op",
    "RateLimit",
    "RunAnalysisAction",
    "SmsAction",
    "WebhookAction",
    "effective_rate_limit",
    "load_actions_file",
    "load_stored_action",
    "parse_action",
    "parse_actions",
    "read_stored_action",
    "stored_fingerprint",
]

# Every rule of ours raises this error type; its message is final text for the user.
_RULE: Final = "mqtt_actions_rule"


def _fail(message: str) -> PydanticCustomError:
    # The message travels in the context so braces in user input are never read as a template.
    return PydanticCustomError(_RULE, "{message}", {"message": message})


def _show(value: object, limit: int = 60) -> str:
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


# --- field rules -------------------------------------------------------------------------------

_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}", re.ASCII)


def _check_id(value: str) -> str:
    if _ID.fullmatch(value):
        return value
    hint = "use 1 to 64 lowercase letters, digits and '-', starting with a letter or digit"
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")[:64].rstrip("-")
    if slug and _ID.fullmatch(slug):
        hint += f", e.g. {slug!r}"
    raise _fail(f"{_show(value)} is not a valid id; {hint}")


def _check_filter(value: str) -> str:
    try:
        validate_filter(value)
    except InvalidFilterError as exc:
        raise _fail(f"{_show(value)} is not a valid topic filter: {exc}") from None
    if value.startswith("$share/"):
        raise _fail(
            f"{_show(value)} is a shared-subscription filter; actions match topics directly, "
            "so drop the '$share/<group>/' prefix"
        )
    return value


_ANALYSIS = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)


def _check_analysis(value: str) -> str:
    if not _ANALYSIS.fullmatch(value):
        raise _fail(
            f"{_show(value)} is not an analysis name; use letters, digits, '_' and '-' only"
        )
    return value


_E164 = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)


def _check_phone(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML reads an unquoted +15555550100 as the integer 15555550100.
        raise _fail(
            f"{value} was read as a number, not a phone number; "
            f"put it in quotes with its '+', e.g. '+{value}'"
        )
    if isinstance(value, str) and not _E164.fullmatch(value):
        raise _fail(
            f"{_show(value)} is not an E.164 phone number; "
            "write it as +<country code><number>, e.g. +15555550100"
        )
    return value


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(
    rf"(?P<local>{_ATEXT}(?:\.{_ATEXT})*)@(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?",
    re.ASCII,
)


def _check_email(value: str) -> str:
    match = _EMAIL.fullmatch(value)
    if match and len(value) <= 254 and len(match["local"]) <= 64:
        return value
    if "<" in value:
        raise _fail(
            f"{_show(value)}: write just the address, without a display name, e.g. ops@example.com"
        )
    raise _fail(
        f"{_show(value)} is not an e-mail address; write it as name@domain, e.g. ops@example.com "
        "(internationalized domains in punycode)"
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_one_line(value: str) -> str:
    if _CONTROL.search(value):
        raise _fail(f"{_show(value)} holds a line break or control character; write it on one line")
    return value


def _check_topic_template(value: str) -> str:
    try:
        validate_topic(value)
    except InvalidTopicError as exc:
        raise _fail(f"{_show(value)} is not a topic to publish to: {exc}") from None
    return value


def _check_qos(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        return value
    if value == 2 and not isinstance(value, bool):
        raise _fail(
            "AWS IoT Core has no QoS 2 (it never acknowledges it); "
            "use 1 for at-least-once or 0 for at-most-once delivery"
        )
    raise _fail(f"must be 0 or 1, got {_describe(value)}")


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", re.ASCII)
_SET_BY_SENDER: Final = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def _check_headers(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not _TOKEN.fullmatch(name):
            raise _fail(
                f"header name {_show(name)} is not valid; use letters, digits and "
                "!#$%&'*+-.^_`|~ only, e.g. X-Api-Key"
            )
        if name.lower() in _SET_BY_SENDER:
            raise _fail(f"header {name!r} is set by the webhook sender; remove it")
        if any(c in text for c in "\r\n\x00"):
            raise _fail(f"header {name!r}: the value must not hold a line break or NUL")
    return value


_OP_SYNONYMS: Final = {
    "=": "==",
    "eq": "==",
    "ne": "!=",
    "<>": "!=",
    "gt": ">",
    "ge": ">=",
    "gte": ">=",
    "=>": ">=",
    "lt": "<",
    "le": "<=",
    "lte": "<=",
    "=<": "<=",
    "in": "contains",
    "has": "contains",
    "exist": "exists",
}


def _check_op(value: object) -> object:
    if isinstance(value, str) and value not in OPS:
        hint = _OP_SYNONYMS.get(value.lower()) or next(
            iter(difflib.get_close_matches(value, OPS, n=1)), None
        )
        raise _fail(
            f"{_show(value)} is not one of {', '.join(OPS)}"
            + (f"; did you mean {hint!r}?" if hint else "")
        )
    return value


def _check_condition_value(value: object) -> str | int | float | bool | None:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise _fail(f"{value} is not a finite number")
    kind = "a list" if isinstance(value, list) else "a mapping" if isinstance(value, dict) else None
    raise _fail(
        f"must be text, a number or true/false, got {kind or _show(value)}"
        + ("" if kind else "; put it in quotes to compare it as text")
    )


# --- models ------------------------------------------------------------------------------------

Id = Annotated[str, AfterValidator(_check_id)]
TopicFilter = Annotated[str, AfterValidator(_check_filter)]
Op = Literal["==", "!=", ">", ">=", "<", "<=", "contains", "exists"]
OPS: Final[tuple[str, ...]] = get_args(Op)
ConditionValue = Annotated[str | int | float | bool | None, PlainValidator(_check_condition_value)]
AnalysisName = Annotated[str, AfterValidator(_check_analysis)]
Phone = Annotated[str, BeforeValidator(_check_phone)]
EmailAddress = Annotated[str, AfterValidator(_check_email)]
NonEmpty = Annotated[str, Field(min_length=1)]


def _surrogate_in(value: object) -> str | None:
    if isinstance(value, str):
        return surrogate_problem(value)
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list | tuple):
        return next((p for v in value if (p := _surrogate_in(v)) is not None), None)
    return None


class _Model(BaseModel):
    # defer_build: validators are built on first use, not at import; the router never validates
    # a stored action whose fingerprint matches (load_stored_action), so it never builds them.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)

    @field_validator("*", mode="after")
    @classmethod
    def _unicode(cls, value: Any) -> Any:
        # Strict mode lets a lone surrogate ("\ud800" in JSON) through; SNS, SES and HTTP refuse it.
        if (problem := _surrogate_in(value)) is not None:
            raise _fail(problem)
        return value


class Condition(_Model):
    """`{variable, op, value}`: holds if any data point with that variable satisfies it."""

    variable: Annotated[str, Field(min_length=1, max_length=100)]
    op: Annotated[Op, BeforeValidator(_check_op)]
    value: ConditionValue = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Self:
        if self.op == "exists" and self.value is not None:
            raise _fail("op 'exists' takes no value; remove 'value'")
        if self.op != "exists" and self.value is None:
            raise _fail(f"op {self.op!r} needs a value to compare with; add e.g. value: 30")
        if self.op in ORDERED_OPS and as_number(self.value) is None:
            raise _fail(
                f"op {self.op!r} compares numbers and {_show(self.value)} is not one; "
                "use ==, != or contains to compare text"
            )
        return self


class RateLimit(_Model):
    """At most `max` runs of the action per `per_seconds` seconds."""

    max: Annotated[int, Field(ge=1)]
    per_seconds: Annotated[int, Field(ge=1, le=86_400)]


class ActionBase(_Model):
    """Fields every action type has."""

    id: Id
    name: str | None = None
    topics: Annotated[list[TopicFilter], Field(min_length=1)]
    enabled: bool = True
    when: list[Condition] = Field(default_factory=list)
    rate_limit: RateLimit | None = None


class InsertBucketAction(ActionBase):
    """Store the data points in a device's bucket (default: the publishing device's)."""

    type: Literal["insert_bucket"]
    device: NonEmpty = "$DEVICE$"


class RunAnalysisAction(ActionBase):
    """Invoke each named analysis with the data points."""

    type: Literal["run_analysis"]
    analyses: Annotated[list[AnalysisName], Field(min_length=1)]
    # Passed to the analysis as `context.environment` (TagoIO's analysis environment variables).
    environment: dict[str, str] = Field(default_factory=dict)


class SmsAction(ActionBase):
    """Send a text message (SNS) to each number."""

    type: Literal["sms"]
    to: Annotated[list[Phone], Field(min_length=1)]
    message: Annotated[str, Field(min_length=1, max_length=1600)]


class EmailAction(ActionBase):
    """Send an e-mail (SES) with a text body, an HTML body, or both."""

    type: Literal["email"]
    to: Annotated[list[EmailAddress], Field(min_length=1, max_length=50)]
    subject: Annotated[str, Field(min_length=1, max_length=998), AfterValidator(_check_one_line)]
    message: NonEmpty | None = None
    html: NonEmpty | None = None

    @model_validator(mode="after")
    def _has_body(self) -> Self:
        if self.message is None and self.html is None:
            raise _fail("an e-mail needs a body: add 'message' (plain text), 'html', or both")
        return self


class MqttPublishAction(ActionBase):
    """Publish to an MQTT topic (IoT Core: QoS 0 or 1)."""

    type: Literal["mqtt_publish"]
    topic: Annotated[str, AfterValidator(_check_topic_template)]
    payload: str = "$PAYLOAD$"
    qos: Annotated[Literal[0, 1], BeforeValidator(_check_qos)] = 0
    retain: bool = False


class WebhookAction(ActionBase):
    """POST to an HTTPS endpoint."""

    type: Literal["webhook"]
    # Declared before `url` so the url rule can read it.
    allow_http: bool = False
    url: Annotated[str, Field(max_length=2048)]
    headers: Annotated[dict[str, str], AfterValidator(_check_headers)] = Field(default_factory=dict)
    timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 5.0
    max_retries: Annotated[int, Field(ge=0, le=10)] = 3

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str, info: ValidationInfo) -> str:
        if any(c.isspace() or c in "\x00\x7f" or ord(c) < 32 for c in value):
            raise _fail(f"{_show(value)} holds a space or control character; percent-encode it")
        try:
            parts = urlsplit(value)
            _ = parts.port  # raises ValueError for a port that is not a number in range
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
            raise _fail(f"{_show(value)} is not a URL; write it as https://host/path")
        if not parts.hostname.isascii():  # a name the resolver would never find as written
            try:
                ascii_host = parts.hostname.encode("idna").decode("ascii")
            except UnicodeError:
                raise _fail(
                    f"{_show(value)} has a host name with an empty or over-long part "
                    "(63 characters at most between dots); write it as https://host/path"
                ) from None
            raise _fail(
                f"{_show(value)} has a non-ASCII host name; write the host as {ascii_host!r} "
                "(its ASCII form)"
            )
        if parts.scheme == "http" and info.data.get("allow_http") is not True:
            raise _fail(
                f"{_show(value)} uses http, which sends the data unencrypted; "
                "use https, or set allow_http: true"
            )
        return value


Action = Annotated[
    InsertBucketAction
    | RunAnalysisAction
    | SmsAction
    | EmailAction
    | MqttPublishAction
    | WebhookAction,
    Field(discriminator="type"),
]

_CLASSES: Final[dict[str, type[ActionBase]]] = {
    get_args(cls.model_fields["type"].annotation)[0]: cls
    for cls in (
        InsertBucketAction,
        RunAnalysisAction,
        SmsAction,
        EmailAction,
        MqttPublishAction,
        WebhookAction,
    )
}
ACTION_TYPES: Final[tuple[str, ...]] = tuple(_CLASSES)
_ACTION: Final = TypeAdapter[Action](Action, config=ConfigDict(defer_build=True))


class ActionsFile(_Model):
    """The whole file: `actions:` and nothing else; ids are unique."""

    actions: list[Action]

    @model_validator(mode="after")
    def _unique_ids(self) -> Self:
        seen: set[str] = set()
        for action in self.actions:
            if action.id in seen:
                raise _fail(f"id {action.id!r} is used by more than one action")
            seen.add(action.id)
        return self


_DEFAULT_NOTIFY_LIMIT: Final = RateLimit.model_construct(max=10, per_seconds=60)


def effective_rate_limit(action: Action) -> RateLimit | None:
    """The action's own rate limit; sms and email default to 10 per 60 s, others to none."""
    if action.rate_limit is not None:
        return action.rate_limit
    if isinstance(action, SmsAction | EmailAction):
        return _DEFAULT_NOTIFY_LIMIT
    return None


# --- loading and error messages ----------------------------------------------------------------


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


def _describe(value: object) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {_show(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {_show(value)}"


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
    cls = _CLASSES.get(type_) if isinstance(type_, str) else None
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
    if owners := [t for t, c in _CLASSES.items() if name in c.model_fields]:
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
        case "mqtt_actions_rule":
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
        return _ACTION.validate_python(entry), []
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


# --- stored actions (the router's cold start) -------------------------------------------------


@functools.cache
def _rules_digest() -> bytes:
    # Any change to this file (a rule, a field) changes every fingerprint, so actions stored under
    # the old rules are validated in full again.
    return hashlib.sha256(Path(__file__).read_bytes()).digest()


def stored_fingerprint(config: str) -> str:
    """The mark stored next to `config`, the `model_dump_json()` of an action validated under the
    rules of this module: `load_stored_action` trusts exactly that text, and nothing else."""
    text = config.encode("utf-8", "surrogatepass")
    return hashlib.sha256(_rules_digest() + text).hexdigest()


def load_stored_action(config: str, fingerprint: str | None) -> Action:
    """A stored action. When `fingerprint` matches, `config` is what a validated action dumped
    under these rules: the models are built without validating, so the router's cold start never
    builds the validators. Otherwise (no mark: stored by an older version; or the text changed
    since) it is validated in full; ActionsFileError names the id and the field.
    ValueError when `config` is not JSON."""
    action, _ = read_stored_action(config, fingerprint)
    return action


def read_stored_action(config: str, fingerprint: str | None) -> tuple[Action, bool]:
    """`load_stored_action`, and whether the fingerprint matched (False: validated in full)."""
    data = json.loads(config)
    if fingerprint is None or not hmac.compare_digest(fingerprint, stored_fingerprint(config)):
        [checked] = parse_actions({"actions": [data]})
        return checked, False
    fields = dict(data)
    fields["when"] = [Condition.model_construct(**c) for c in data["when"]]
    if data["rate_limit"] is not None:
        fields["rate_limit"] = RateLimit.model_construct(**data["rate_limit"])
    action: Action = _CLASSES[data["type"]].model_construct(**fields)  # type: ignore[assignment]
    return action, True


MAX_NESTING: Final = 64  # [ and { levels; an actions file needs about 4
_BRACKETS: Final = re.compile(r"[\[\]{}]")
_TOO_DEEP: Final = (
    f"the file is nested more than {MAX_NESTING} levels deep; an actions file needs a few"
)


def _nesting(text: str) -> int:
    """The deepest [ / { nesting, counting brackets even inside quotes (an upper bound).
    Checked first: PyYAML's scanner is quadratic in flow nesting, json is recursive."""
    depth = deepest = 0
    for bracket in _BRACKETS.finditer(text):
        depth = depth + 1 if bracket[0] in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


class _AliasError(ValueError):
    pass


def load_actions_file(text: str, *, source: str = "<actions>") -> list[Action]:
    """Parse an actions file, YAML or JSON. Needs pyyaml, which the CLI has and Lambda has not."""
    if _nesting(text) > MAX_NESTING:
        raise ActionsFileError([_TOO_DEEP], source=source)
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except _DuplicateKeyError as exc:
            raise ActionsFileError([str(exc)], source=source) from None
        except RecursionError:
            raise ActionsFileError([_TOO_DEEP], source=source) from None
        except json.JSONDecodeError:
            pass  # YAML flow style, or broken: the YAML parser reports where
        else:
            return parse_actions(data, source=source)
    import yaml  # the Lambda layer has no pyyaml; only the CLI loads files

    try:
        data = yaml.load(text, Loader=_strict_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise ActionsFileError([_yaml_problem(exc)], source=source) from None
    except yaml.YAMLError as exc:
        raise ActionsFileError([f"YAML error: {exc}"], source=source) from None
    except _AliasError as exc:
        raise ActionsFileError([str(exc)], source=source) from None
    except RecursionError:  # deep block-style nesting (indentation)
        raise ActionsFileError([_TOO_DEEP], source=source) from None
    return parse_actions(data, source=source)


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(
                f"duplicate key {key!r}; each field may appear once per mapping"
            )
        out[key] = value
    return out


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    if str(exc.problem).startswith("found duplicate key"):
        return f"{where}{exc.problem}; each field may appear once per mapping"
    context = f" ({exc.context})" if exc.context else ""
    return (
        f"{where}YAML syntax error: {exc.problem}{context}; check the indentation "
        "(spaces, not tabs) and put text containing ': ' or starting with > | * & ! % @ in quotes"
    )


# YAML aliases (*a) repeat a node without repeating its text: nine lines can stand for a billion
# values ("billion laughs"). A document may expand to its own size times this, plus a margin.
ALIAS_GROWTH: Final = 10
ALIAS_MARGIN: Final = 100_000


def _check_aliases(root: yaml.Node) -> None:
    """Refuse a document whose aliases form a cycle or expand it past the bound, before anything
    is built from it. Iterative: deep documents cannot exhaust the stack here."""
    import yaml

    def children(node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.MappingNode):
            return [part for pair in node.value for part in pair]
        return list(node.value) if isinstance(node, yaml.SequenceNode) else []

    sizes: dict[int, int] = {}  # node -> how many values it stands for, aliases expanded
    open_: set[int] = set()  # nodes on the current path
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            open_.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children(node))
            continue
        if id(node) in sizes:
            continue
        open_.add(id(node))
        stack.append((node, True))
        for child in children(node):
            if id(child) in open_:
                mark = child.start_mark
                raise _AliasError(
                    f"line {mark.line + 1}, column {mark.column + 1}: an alias refers to a node "
                    "that contains it; an actions file cannot be recursive"
                )
            if id(child) not in sizes:
                stack.append((child, False))
    expanded, bound = sizes[id(root)], ALIAS_MARGIN + ALIAS_GROWTH * len(sizes)
    if expanded > bound:
        raise _AliasError(
            f"aliases (*name) expand the file to {expanded:,} values, more than {bound:,}; "
            "write the repeated parts out or use fewer nested aliases"
        )


def _strict_loader() -> type[yaml.SafeLoader]:
    """yaml.SafeLoader that refuses duplicate keys (plain safe_load keeps the last silently),
    alias cycles and alias bombs."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_document(self, node: yaml.Node) -> Any:
            _check_aliases(node)
            return super().construct_document(node)

        def construct_mapping(
            self, node: yaml.MappingNode, deep: bool = False
        ) -> dict[Hashable, Any]:
            seen: set[object] = set()
            for key_node, _ in node.value:
                if (
                    isinstance(key_node, yaml.ScalarNode)
                    and key_node.tag != "tag:yaml.org,2002:merge"
                ):
                    key = self.construct_object(key_node, deep=deep)
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            "while constructing a mapping",
                            node.start_mark,
                            f"found duplicate key {_show(key)}",
                            key_node.start_mark,
                        )
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader
