"""The action models (pydantic) and their field rules: what a valid action is.

Models are frozen and refuse unknown fields, so a typo such as `topic:` on an insert_bucket action
is an error, not a silent default. Models are strict (no "5" for 5, no 1 for true): YAML already
gives numbers and booleans. Every rule raises `wording.fail` with final text for the user.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Annotated, Any, Final, Literal, Self, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mqtt_actions.actions.wording import describe as _describe
from mqtt_actions.actions.wording import fail as _fail
from mqtt_actions.actions.wording import show as _show
from mqtt_actions.conditions import ORDERED_OPS, as_number
from mqtt_actions.limits import MAX_EMAIL_RECIPIENTS, MAX_SMS_CHARS, MAX_SUBJECT_CHARS
from mqtt_actions.text import surrogate_in
from mqtt_actions.topics import (
    InvalidFilterError,
    InvalidTopicError,
    validate_filter,
    validate_topic,
)

__all__ = [
    "ACTION_TYPES",
    "CLASSES",
    "OPS",
    "Action",
    "ActionBase",
    "AnalysisName",
    "Condition",
    "ConditionValue",
    "EmailAction",
    "EmailAddress",
    "InsertBucketAction",
    "MqttPublishAction",
    "Op",
    "Phone",
    "RateLimit",
    "RunAnalysisAction",
    "SmsAction",
    "WebhookAction",
    "effective_rate_limit",
]

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
    match = _EMAIL.fullmatch(value) if len(value) <= 254 else None  # RFC 5321's cap, checked first
    if match and len(match["local"]) <= 64:
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


class _Model(BaseModel):
    # defer_build: validators are built on first use, not at import; the router never validates
    # a stored action whose fingerprint matches (`stored.read_stored_action`): it builds none.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, defer_build=True)

    @field_validator("*", mode="after")
    @classmethod
    def _unicode(cls, value: Any) -> Any:
        # Strict mode lets a lone surrogate ("\ud800" in JSON) through; SNS, SES and HTTP refuse it.
        if (problem := surrogate_in(value)) is not None:
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
    message: Annotated[str, Field(min_length=1, max_length=MAX_SMS_CHARS)]


class EmailAction(ActionBase):
    """Send an e-mail (SES) with a text body, an HTML body, or both."""

    type: Literal["email"]
    to: Annotated[list[EmailAddress], Field(min_length=1, max_length=MAX_EMAIL_RECIPIENTS)]
    subject: Annotated[
        str, Field(min_length=1, max_length=MAX_SUBJECT_CHARS), AfterValidator(_check_one_line)
    ]
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
        if "$" in parts.scheme or "$" in parts.netloc:
            # A device's value in the host would choose where the data and the headers go.
            raise _fail(
                f"{_show(value)} has a placeholder ($...$) in its scheme, host or port, where a "
                "device's value would choose the server; write the host as text and put "
                "placeholders in the path or query only, e.g. https://hooks.example.com/in/$DEVICE$"
            )
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

CLASSES: Final[dict[str, type[ActionBase]]] = {
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
ACTION_TYPES: Final[tuple[str, ...]] = tuple(CLASSES)
ACTION_ADAPTER: Final = TypeAdapter[Action](Action, config=ConfigDict(defer_build=True))

_DEFAULT_NOTIFY_LIMIT: Final = RateLimit.model_construct(max=10, per_seconds=60)


def effective_rate_limit(action: Action) -> RateLimit | None:
    """The action's own rate limit; sms and email default to 10 per 60 s, others to none."""
    if action.rate_limit is not None:
        return action.rate_limit
    if isinstance(action, SmsAction | EmailAction):
        return _DEFAULT_NOTIFY_LIMIT
    return None
