"""The analysis SDK: a user function started by an action, a schedule or another analysis.

    from mqtt_actions.analysis import Context, Scope, analysis

    @analysis
    def lambda_handler(context: Context, scope: Scope) -> None:
        for point in scope:
            context.services.mqtt.publish(f"echo/{context.trigger.device}", point)

`@analysis` turns `handler(context, scope)` into a Lambda handler `(event, lambda_context)`.
`scope` is the list of data points the trigger carried (empty for a schedule); `context` holds the
analysis name, the trigger, the environment, a Powertools logger and `services` (mqtt, email, sms,
bucket, analysis). Mistakes raise an `AnalysisError` subclass whose message says what to fix.
A handler that raises is reported to the inspector, then the error propagates: Lambda retries
the invocation twice, then the event goes to the dead-letter queue.

Nothing here needs AWS or the environment at import time: settings are read and adapters built
on the first invocation, and each adapter only when a service first needs it.
"""

from __future__ import annotations

import functools
import json
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from mqtt_actions import topics
from mqtt_actions.limits import (
    MAX_ASYNC_EVENT_BYTES,
    MAX_DEVICE_CHARS,
    MAX_EMAIL_RECIPIENTS,
    MAX_SMS_CHARS,
    MAX_SUBJECT_CHARS,
)
from mqtt_actions.payload import check_points
from mqtt_actions.ports import (
    ActionResult,
    AnalysisPorts,
    MessageRecord,
    Outcome,
    RetainedMessage,
)
from mqtt_actions.publishing import ProblemKind, publish_problem, topic_problem
from mqtt_actions.settings import AnalysisSettings

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = [
    "MAX_ASYNC_EVENT_BYTES",
    "MAX_SMS_CHARS",
    "AnalysisError",
    "AnalysisFunction",
    "AnalysisService",
    "Context",
    "DeviceBucket",
    "EmailService",
    "InvalidDeviceError",
    "InvalidEmailAddressError",
    "InvalidEventError",
    "InvalidMessageError",
    "InvalidPhoneNumberError",
    "InvalidScopeError",
    "InvalidTopicError",
    "LoopRefusedError",
    "MqttService",
    "NotConfiguredError",
    "PayloadTooLargeError",
    "PointsRefusedError",
    "RateLimitedError",
    "RetainedMessage",
    "Scope",
    "Services",
    "SmsService",
    "Trigger",
    "UnknownAnalysisError",
    "UnsupportedQoSError",
    "analysis",
    "run_analysis",
]

MAX_QUERY_LIMIT: Final = 1000
ANALYSIS_ACTION_TYPE: Final = "analysis"

Scope = list[dict[str, Any]]
Message = str | bytes | bytearray | memoryview | Mapping[str, Any] | Sequence[Any] | int | float


# --- errors ------------------------------------------------------------------------------------


class AnalysisError(ValueError):
    """Something the SDK refused; the message names what is wrong and what to do."""


class InvalidTopicError(AnalysisError, topics.InvalidTopicError):
    """Not a topic IoT Core publishes to (wildcards, empty, over 256 bytes, over 7 '/').
    Also a `mqtt_actions.topics.InvalidTopicError`."""


class UnsupportedQoSError(AnalysisError):
    """QoS other than 0 or 1 (IoT Core has no QoS 2)."""


class PayloadTooLargeError(AnalysisError):
    """Over IoT Core's 128 KB per message, or Lambda's 1 MB per asynchronous invocation."""


class InvalidMessageError(AnalysisError):
    """A message, subject or argument of a type or shape the service cannot send."""


class InvalidPhoneNumberError(AnalysisError):
    """Not an E.164 phone number (+<country code><number>)."""


class InvalidEmailAddressError(AnalysisError):
    """Not a plain e-mail address (name@domain)."""


class InvalidDeviceError(AnalysisError):
    """A device (bucket) name that is empty or too long."""


class InvalidScopeError(AnalysisError):
    """A scope for another analysis that is not a list of JSON objects."""


class PointsRefusedError(AnalysisError):
    """Data points that break TagoIO's limits; nothing of the batch was stored."""

    def __init__(self, refused: Sequence[tuple[int, list[str]]]) -> None:
        self.refused = list(refused)
        lines = "; ".join(f"point {i}: {', '.join(reasons)}" for i, reasons in self.refused)
        count = len(self.refused)
        super().__init__(
            f"{count} data point{'s' if count != 1 else ''} refused, nothing stored: {lines}"
        )


class RateLimitedError(AnalysisError):
    """More e-mails or SMS than the analysis's rate limit allows in the current window."""


class UnknownAnalysisError(AnalysisError):
    """`services.analysis.run` named an analysis this function may not start."""


class LoopRefusedError(AnalysisError):
    """The chain of analyses and publishes is longer than MAX_HOPS (a loop, most likely)."""


class NotConfiguredError(AnalysisError):
    """A service is used but its setting is missing from the function's environment."""


class InvalidEventError(AnalysisError):
    """The Lambda event is none of the shapes an analysis is started with."""


_PUBLISH_ERRORS: Final[dict[ProblemKind, type[AnalysisError]]] = {
    "topic": InvalidTopicError,
    "qos": UnsupportedQoSError,
    "size": PayloadTooLargeError,
}


# --- the event and the trigger -----------------------------------------------------------------


def _iso_to_ms(value: object) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


class Trigger(BaseModel):
    """What started this run. `device`/`topic`/`action_id` come from the MQTT message of an action
    (and pass on to analyses it starts); a schedule has none of them."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["action", "schedule", "analysis"]
    action_id: str | None = None
    topic: str | None = None
    device: str | None = None
    traceid: str = Field(default="", description="the message's traceid; the correlation id")
    hops: int = Field(default=0, ge=0, description="publishes/analyses in the chain so far")
    timestamp: int | None = Field(default=None, ge=0, description="ms since the epoch")
    parent: str | None = Field(default=None, description="the analysis that started this one")

    @model_validator(mode="before")
    @classmethod
    def _time(cls, data: Any) -> Any:
        # EventBridge Scheduler gives <aws.scheduler.scheduled-time> as ISO 8601 text.
        if isinstance(data, dict) and data.get("timestamp") is None and "time" in data:
            return {**data, "timestamp": _iso_to_ms(data["time"])}
        return data


def _environment(value: object) -> object:
    """Values become text, as in a function's environment (numbers and booleans as JSON)."""
    if isinstance(value, dict):
        return {
            str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
            for k, v in value.items()
        }
    return value


class AnalysisEvent(BaseModel):
    """`{"analysis", "trigger", "scope", "environment"}`: what the router's run_analysis action
    and `services.analysis.run` send, and what a ScheduleV2 `Input` holds."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    analysis: str | None = None
    trigger: Trigger
    scope: list[dict[str, Any]] = Field(default_factory=list)
    environment: Annotated[dict[str, str], BeforeValidator(_environment)] = Field(
        default_factory=dict
    )

    @classmethod
    def parse(cls, event: object) -> AnalysisEvent:
        """Any start of an analysis; raises InvalidEventError saying which shapes are accepted."""
        if (
            isinstance(event, Mapping)
            and "trigger" not in event
            and event.get("detail-type") == "Scheduled Event"
        ):  # an EventBridge rule (SAM's `Schedule` event): its id is the traceid
            return cls(
                trigger=Trigger(
                    type="schedule",
                    traceid=str(event.get("id") or ""),
                    timestamp=_iso_to_ms(event.get("time")),
                )
            )
        try:
            return cls.model_validate(event)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'event'}: {err['msg']}"
                for err in exc.errors(include_url=False)
            )
            msg = (
                f"not an analysis event ({problems}); expected "
                '{"trigger": {"type": "action"|"schedule"|"analysis", ...}, "scope": [...]} '
                "or an EventBridge scheduled event (see events/analyses/)"
            )
            raise InvalidEventError(msg) from None


# --- the run: what every service shares ----------------------------------------------------------


@dataclass
class _Run:
    name: str
    trigger: Trigger
    settings: AnalysisSettings
    ports: AnalysisPorts
    clock: Callable[[], float]
    timestamp: int  # ms: the trigger's time, else when the run started (bucket rows get it)
    done: dict[str, int] = field(default_factory=dict)
    _sequence: dict[str, int] = field(default_factory=dict)

    def count(self, what: str, n: int = 1) -> None:
        self.done[what] = self.done.get(what, 0) + n

    def next_number(self, kind: str) -> int:
        """1, 2, 3... per kind of call: the same sequence when Lambda retries this event."""
        n = self._sequence[kind] = self._sequence.get(kind, 0) + 1
        return n

    def next_key(self, kind: str) -> str:
        """A key that is the same when Lambda retries this event, different for every call: bucket
        rows written again on a retry overwrite themselves instead of doubling."""
        n = self.next_number(kind)
        return f"{self.trigger.traceid}:{self.name}:{self.trigger.action_id or ''}:{kind}{n}"

    def allow(self, channel: str) -> None:
        if not self.settings.rate_table:
            raise NotConfiguredError(
                f"services.{channel} needs ACTIONS_TABLE (it holds the rate-limit counters): add "
                "`ACTIONS_TABLE: !Ref ActionsTable` to the function's Environment in template.yaml"
            )
        cfg = self.settings
        key = f"analysis:{self.name}:{channel}"
        if not self.ports.rate_limiter.allow(
            key, cfg.notify_rate_max, cfg.notify_rate_seconds, self.clock()
        ):
            raise RateLimitedError(
                f"{channel} rate limit of {cfg.notify_rate_max} per {cfg.notify_rate_seconds} s "
                f"reached for analysis {self.name!r}; nothing sent. Send fewer, or raise "
                "NOTIFY_RATE_MAX / NOTIFY_RATE_SECONDS in the function's Environment"
            )


def _show(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: object) -> str:
    return type(value).__name__


def _unpack(
    call: str, args: Mapping[str, Any], allowed: Sequence[str], example: str
) -> dict[str, Any]:
    """TagoIO's object style, `send({...})`: its keys, or an error naming the unknown ones."""
    unknown = [str(k) for k in args if k not in allowed]
    if unknown:
        raise InvalidMessageError(
            f"{call}({{...}}): unknown key {', '.join(map(repr, unknown))}; "
            f"the keys are {', '.join(allowed)}, e.g. {call}({example})"
        )
    return dict(args)


# --- mqtt ----------------------------------------------------------------------------------------


def encode_message(message: object) -> bytes:
    """The payload bytes: text as UTF-8, bytes as they are, dicts/lists/numbers as JSON."""
    if isinstance(message, str):
        return message.encode("utf-8", "surrogatepass")
    if isinstance(message, bytes | bytearray | memoryview):
        return bytes(message)
    if isinstance(message, float) and not math.isfinite(message):
        raise InvalidMessageError(f"message is {message}, which is not JSON; send a finite number")
    if isinstance(message, Mapping | list | tuple | int | float):  # bool is an int: true/false
        value = dict(message) if isinstance(message, Mapping) else message
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidMessageError(
                f"message cannot be written as JSON ({exc}); send text, bytes, or a dict/list "
                "of text, numbers, true/false and null"
            ) from None
        return text.encode("utf-8")
    raise InvalidMessageError(
        f"message must be text, bytes, a dict/list (sent as JSON) or a number, got {_kind(message)}"
    )


class MqttService:
    """Publish to IoT Core (QoS 0/1, retained messages) and read a retained message back."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    def publish(
        self,
        topic: str | Mapping[str, Any],
        message: Message | None = None,
        *,
        qos: int = 0,
        retain: bool = False,
    ) -> None:
        """Publish `message` to `topic`. Also `publish({"topic", "message", "options": {"qos",
        "retain"}})` as in TagoIO's SDK. `retain=True` keeps it as the topic's retained message
        (an empty message with `retain=True` deletes it). The hop count travels with it."""
        if isinstance(topic, Mapping):
            if message is not None:
                raise InvalidMessageError(
                    "call publish(topic, message, qos=..., retain=...) or publish({topic, message, "
                    "options}), not both"
                )
            topic, message, qos, retain = _publish_object(topic)
        if not isinstance(topic, str):
            raise InvalidTopicError(f"topic must be text, got {_kind(topic)}")
        if message is None:
            raise InvalidMessageError(
                f"publish to {topic!r} has no message; pass one, e.g. publish({topic!r}, "
                '{"value": 1}) (an empty text "" with retain=True deletes a retained message)'
            )
        if not isinstance(retain, bool):
            raise InvalidMessageError(f"retain must be True or False, got {_show(retain)}")
        body = encode_message(message)
        problem = publish_problem(topic, len(body), qos)
        if problem is not None:
            raise _PUBLISH_ERRORS[problem.kind](problem.message)
        hops = self._run.trigger.hops + 1
        self._run.ports.publisher.publish(topic, body, qos=qos, retain=retain, hops=hops)
        self._run.count("published")

    def retained(self, topic: str) -> RetainedMessage | None:
        """The retained message of `topic` (IoT Core keeps one per topic), or None."""
        if not isinstance(topic, str):
            raise InvalidTopicError(f"topic must be text, got {_kind(topic)}")
        problem = topic_problem(topic)
        if problem is not None:
            raise InvalidTopicError(problem)
        return self._run.ports.retained.get_retained(topic)


def _publish_object(args: Mapping[str, Any]) -> tuple[Any, Any, Any, Any]:
    example = '{"topic": "a/b", "message": "on", "options": {"qos": 1, "retain": True}}'
    fields = _unpack("publish", args, ("topic", "message", "options"), example)
    if "topic" not in fields:
        raise InvalidTopicError(f"publish({{...}}) needs a 'topic', e.g. publish({example})")
    options = fields.get("options") or {}
    if not isinstance(options, Mapping):
        raise InvalidMessageError(
            f"publish options must be a dict like {{'qos': 1}}, got {_kind(options)}"
        )
    opts = _unpack("publish options", options, ("qos", "retain"), '{"qos": 1, "retain": False}')
    return fields["topic"], fields.get("message"), opts.get("qos", 0), opts.get("retain", False)


# --- e-mail and SMS ------------------------------------------------------------------------------


@functools.cache
def _address_checkers() -> tuple[Any, Any]:
    """The sms and email actions' own validators (built once, on first use)."""
    from pydantic import TypeAdapter

    from mqtt_actions.actions import EmailAddress, Phone

    return TypeAdapter(Phone), TypeAdapter(EmailAddress)


def _first_message(exc: ValidationError) -> str:
    return "; ".join(str(err["msg"]) for err in exc.errors(include_url=False))


def _recipients(to: object, what: str) -> list[str]:
    if isinstance(to, str):
        return [to]
    if isinstance(to, Sequence) and to and all(isinstance(t, str) for t in to):
        return list(to)
    raise InvalidMessageError(f"'to' must be {what} or a non-empty list of them, got {_show(to)}")


def _check_phone(number: str) -> str:
    phone, _ = _address_checkers()
    try:
        return str(phone.validate_python(number))
    except ValidationError as exc:
        raise InvalidPhoneNumberError(_first_message(exc)) from None


def _check_email(address: str) -> str:
    _, email = _address_checkers()
    try:
        return str(email.validate_python(address))
    except ValidationError as exc:
        raise InvalidEmailAddressError(_first_message(exc)) from None


class EmailService:
    """E-mail through SES, from the stack's EmailSender, rate limited per analysis."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    def send(
        self,
        to: str | Sequence[str] | Mapping[str, Any],
        subject: str | None = None,
        message: str | None = None,
        html: str | None = None,
    ) -> str:
        """Send one e-mail (to up to 50 addresses) with a text body, an HTML body, or both;
        returns SES's message id. Also `send({"to", "subject", "message", "html"})`."""
        recipients: object = to
        if isinstance(to, Mapping):
            example = '{"to": "ops@example.com", "subject": "Alarm", "message": "Too hot"}'
            fields = _unpack("email.send", to, ("to", "subject", "message", "html"), example)
            recipients, subject = fields.get("to"), fields.get("subject")
            message, html = fields.get("message"), fields.get("html")
        addresses = [_check_email(a) for a in _recipients(recipients, "an e-mail address")]
        if len(addresses) > MAX_EMAIL_RECIPIENTS:
            raise InvalidMessageError(
                f"{len(addresses)} recipients; one e-mail goes to at most {MAX_EMAIL_RECIPIENTS}"
            )
        if not isinstance(subject, str) or not subject.strip():
            raise InvalidMessageError(f"an e-mail needs a subject (text), got {_show(subject)}")
        if len(subject) > MAX_SUBJECT_CHARS or any(ord(c) < 32 or c == "\x7f" for c in subject):
            raise InvalidMessageError(
                f"subject must be one line of at most {MAX_SUBJECT_CHARS} characters"
            )
        for name, body in (("message", message), ("html", html)):
            if body is not None and (not isinstance(body, str) or not body):
                raise InvalidMessageError(f"{name} must be non-empty text, got {_show(body)}")
        if message is None and html is None:
            raise InvalidMessageError(
                "an e-mail needs a body: pass message= (plain text), html=, or both"
            )
        if not self._run.settings.email_sender:
            raise NotConfiguredError(
                "services.email needs EMAIL_SENDER (an SES-verified address): deploy with the "
                "EmailSender parameter and add `EMAIL_SENDER: !Ref EmailSender` to the function's "
                "Environment in template.yaml"
            )
        self._run.allow("email")
        message_id = self._run.ports.notifier.send_email(addresses, subject, message, html)
        self._run.count("emails")
        return message_id


class SmsService:
    """Text messages through SNS, rate limited per analysis."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    def send(
        self, to: str | Sequence[str] | Mapping[str, Any], message: str | None = None
    ) -> list[str]:
        """Send `message` to each E.164 number; returns SNS's message ids.
        Also `send({"to", "message"})`. One call counts once against the rate limit."""
        recipients: object = to
        if isinstance(to, Mapping):
            example = '{"to": "+15555550100", "message": "Too hot"}'
            fields = _unpack("sms.send", to, ("to", "message"), example)
            recipients, message = fields.get("to"), fields.get("message")
        numbers = [_check_phone(n) for n in _recipients(recipients, "an E.164 phone number")]
        if not isinstance(message, str) or not message:
            raise InvalidMessageError(
                f"an SMS needs a message (non-empty text), got {_show(message)}"
            )
        if len(message) > MAX_SMS_CHARS:
            raise InvalidMessageError(
                f"SMS is {len(message):,} characters; SNS sends at most {MAX_SMS_CHARS:,}: "
                "shorten it"
            )
        self._run.allow("sms")
        ids = [self._run.ports.notifier.send_sms(number, message) for number in numbers]
        self._run.count("sms", len(ids))
        return ids


# --- bucket --------------------------------------------------------------------------------------


def _ms(value: datetime | int | None, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(aware.timestamp() * 1000)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise InvalidMessageError(
        f"{name} must be a datetime or milliseconds since the epoch, got {_show(value)}"
    )


class DeviceBucket:
    """One device's stored data points (the bucket `insert_bucket` actions write)."""

    def __init__(self, run: _Run, device: str) -> None:
        self._run = run
        self.device = device

    def _table(self) -> None:
        if not self._run.settings.bucket_table:
            raise NotConfiguredError(
                "services.bucket needs BUCKET_TABLE: add `BUCKET_TABLE: !Ref BucketTable` to the "
                "function's Environment in template.yaml (and dynamodb:Query/BatchWriteItem on it)"
            )

    def insert(self, points: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> int:
        """Store one point or a list of them; all or nothing: any point breaking TagoIO's limits
        raises PointsRefusedError listing every reason. Returns how many were stored."""
        batch: list[Any] = [points] if isinstance(points, Mapping) else list(points)
        accepted, refused = check_points(dict(p) if isinstance(p, Mapping) else p for p in batch)
        if refused:
            raise PointsRefusedError(refused)
        if not accepted:
            return 0
        self._table()
        rows = [p.model_dump(mode="json", exclude_none=True) for p in accepted]
        stored = self._run.ports.bucket.insert(
            self.device, rows, traceid=self._run.next_key("insert"), timestamp=self._run.timestamp
        )
        self._run.count("stored", stored)
        return stored

    def query(
        self,
        variable: str | None = None,
        since: datetime | int | None = None,
        until: datetime | int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Newest first; each point as stored plus `_time` (ms). Times are datetimes (naive = UTC)
        or ms since the epoch; `limit` 1 to 1,000."""
        if variable is not None and (not isinstance(variable, str) or not variable):
            raise InvalidMessageError(
                f"variable must be non-empty text or None, got {_show(variable)}"
            )
        whole = isinstance(limit, int) and not isinstance(limit, bool)
        if not whole or not 1 <= limit <= MAX_QUERY_LIMIT:
            raise InvalidMessageError(f"limit must be 1 to {MAX_QUERY_LIMIT}, got {_show(limit)}")
        since_ms, until_ms = _ms(since, "since"), _ms(until, "until")
        self._table()
        return self._run.ports.bucket.query(
            self.device, variable=variable, since_ms=since_ms, until_ms=until_ms, limit=limit
        )


# --- other analyses ------------------------------------------------------------------------------


class AnalysisService:
    """Start other analyses (asynchronously), named in the function's ANALYSIS_FUNCTIONS."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    def run(
        self,
        name: str,
        scope: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
        *,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        """Start analysis `name` with `scope` (data points); it runs on its own, later.
        Its trigger is type "analysis", with this run's device, topic and hops + 1."""
        run = self._run
        known = run.settings.analysis_functions
        if name not in known:
            declared = ", ".join(sorted(known)) or "none"
            raise UnknownAnalysisError(
                f"unknown analysis {_show(name)}; this function may start: {declared}. Add it to "
                "ANALYSIS_FUNCTIONS in the function's Environment (and lambda:InvokeFunction on it)"
            )
        hops = run.trigger.hops
        if hops >= run.settings.max_hops:
            raise LoopRefusedError(
                f"this run is {hops} action/analysis hops deep (MAX_HOPS={run.settings.max_hops}); "
                f"starting {name!r} refused to stop a loop"
            )
        points = _scope(scope)
        event = {
            "analysis": name,
            "trigger": {
                "type": "analysis",
                "parent": run.name,
                "action_id": run.trigger.action_id,
                "topic": run.trigger.topic,
                "device": run.trigger.device,
                "traceid": f"{run.trigger.traceid}.{run.next_number('run')}",
                "hops": hops + 1,
                "timestamp": run.timestamp,
            },
            "scope": points,
            "environment": dict(environment or {}),
        }
        size = len(json.dumps(event, separators=(",", ":")).encode("utf-8"))
        if size > MAX_ASYNC_EVENT_BYTES:
            raise PayloadTooLargeError(
                f"the event for {name!r} is {size:,} bytes; Lambda takes at most "
                f"{MAX_ASYNC_EVENT_BYTES:,} per asynchronous invocation: pass fewer points"
            )
        run.ports.invoker.invoke_async(known[name], event)
        run.count("analyses")


def _scope(scope: object) -> list[dict[str, Any]]:
    if scope is None:
        return []
    items = [scope] if isinstance(scope, Mapping) else scope
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise InvalidScopeError(f"scope must be a list of data points (dicts), got {_kind(scope)}")
    points = [dict(p) for p in items if isinstance(p, Mapping)]
    if len(points) != len(items):
        raise InvalidScopeError("scope must hold only data points (dicts)")
    try:
        json.dumps(points, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidScopeError(f"scope cannot be sent as JSON: {exc}") from None
    return points


# --- services and context ------------------------------------------------------------------------


class Services:
    """What an analysis can do: `mqtt`, `email`, `sms`, `bucket(device)`, `analysis`."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self.mqtt = MqttService(run)
        self.email = EmailService(run)
        self.sms = SmsService(run)
        self.analysis = AnalysisService(run)

    def bucket(self, device: str | None = None) -> DeviceBucket:
        """The bucket of `device`; without one, of the device that published the trigger."""
        name = device if device is not None else self._run.trigger.device
        if not isinstance(name, str) or not name.strip():
            raise InvalidDeviceError(
                "no device: this trigger has none (a schedule?), so name one: "
                "services.bucket('sensor-01')"
                if device is None
                else f"device must be non-empty text, got {_show(device)}"
            )
        if len(name) > MAX_DEVICE_CHARS:
            raise InvalidDeviceError(
                f"device is {len(name)} characters; at most {MAX_DEVICE_CHARS}"
            )
        return DeviceBucket(self._run, name)


@dataclass(frozen=True)
class Context:
    """The run's name, trigger, environment, logger and services.

    `time_ms` is the trigger's time (the message's receive time, the scheduled time), else when
    the run started: the same when Lambda retries the event, so use it instead of the clock.
    """

    name: str
    trigger: Trigger
    environment: Mapping[str, str]
    logger: Logger
    services: Services
    time_ms: int


Handler = Callable[[Context, Scope], object]


# --- running -------------------------------------------------------------------------------------


def run_analysis(
    handler: Handler,
    event: object,
    *,
    settings: AnalysisSettings,
    ports: AnalysisPorts,
    logger: Logger,
    clock: Callable[[], float] = time.time,
    function_name: str = "",
    request_id: str = "",
) -> dict[str, Any]:
    """Parse `event`, run `handler`, report the outcome to the inspector; re-raise its error."""
    started_ms = int(clock() * 1000)
    # The function's own ANALYSIS_NAME wins over the name a caller used: rate-limit keys (and the
    # IAM conditions on them) and the inspector must not depend on what the caller wrote.
    fallback_name = settings.analysis_name or function_name or "analysis"
    try:
        parsed = AnalysisEvent.parse(event)
    except InvalidEventError as exc:
        logger.error("invalid analysis event", extra={"reason": str(exc)})
        record = _record(None, fallback_name, request_id or uuid.uuid4().hex, 0, started_ms)
        _report(ports, logger, fallback_name, record, Outcome.FAILED, str(exc), {"trigger": "?"})
        raise
    trigger = parsed.trigger
    if not trigger.traceid:  # e.g. a ScheduleV2 Input without <aws.scheduler.execution-id>
        trigger = trigger.model_copy(update={"traceid": request_id or uuid.uuid4().hex})
    name = settings.analysis_name or parsed.analysis or fallback_name
    run = _Run(
        name=name,
        trigger=trigger,
        settings=settings,
        ports=ports,
        clock=clock,
        timestamp=trigger.timestamp if trigger.timestamp is not None else started_ms,
    )
    logger.clear_state()
    logger.set_correlation_id(trigger.traceid)
    logger.append_keys(analysis=name, trigger=trigger.type, device=trigger.device)
    context = Context(
        name=name,
        trigger=trigger,
        environment={**settings.environment, **parsed.environment},
        logger=logger,
        services=Services(run),
        time_ms=run.timestamp,
    )
    scope = [dict(p) for p in parsed.scope]
    record = _record(trigger, name, trigger.traceid, len(scope), started_ms)
    try:
        result = handler(context, scope)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        logger.exception("analysis failed", extra={"reason": reason, "done": run.done})
        _report(ports, logger, name, record, Outcome.FAILED, reason, _detail(trigger, run.done))
        raise
    _report(ports, logger, name, record, Outcome.DONE, None, _detail(trigger, run.done))
    logger.info("analysis done", extra={"done": run.done})
    summary: dict[str, Any] = {
        "analysis": name,
        "trigger": trigger.type,
        "traceid": trigger.traceid,
        "done": dict(run.done),
    }
    if result is not None:
        summary["result"] = result
    return summary


def _record(
    trigger: Trigger | None, name: str, traceid: str, points: int, started_ms: int
) -> MessageRecord:
    """The inspector's view of what started the run (a trigger is not a message: no payload).
    A run without a device (a schedule) is shown under the device `analysis:<name>`."""
    timestamp = trigger.timestamp if trigger and trigger.timestamp is not None else started_ms
    return MessageRecord(
        device=(trigger.device if trigger else None) or f"analysis:{name}",
        topic=(trigger.topic if trigger else None) or "",
        traceid=traceid,
        timestamp=timestamp,
        size=0,
        preview="",
        points=points,
        hops=trigger.hops if trigger else 0,
        matched=1,
    )


def _detail(trigger: Trigger, done: Mapping[str, int]) -> dict[str, Any]:
    detail: dict[str, Any] = {"trigger": trigger.type, **done}
    if trigger.action_id:
        detail["action_id"] = trigger.action_id
    if trigger.parent:
        detail["parent"] = trigger.parent
    return detail


def _report(
    ports: AnalysisPorts,
    logger: Logger,
    name: str,
    record: MessageRecord,
    outcome: Outcome,
    reason: str | None,
    detail: dict[str, Any],
) -> None:
    """The inspector line for this run. A failing inspector never hides the analysis's own error."""
    result = ActionResult(
        action_id=name,
        action_type=ANALYSIS_ACTION_TYPE,
        outcome=outcome,
        reason=reason,
        detail=detail,
    )
    try:
        ports.inspector.record_outcomes(record, [result])
    except Exception:  # reporting is best effort: the run's own outcome stands
        logger.exception("inspector could not record the analysis outcome")


class AnalysisFunction:
    """The Lambda handler `@analysis` makes: call it with `(event, lambda_context)`.

    `invoke(event, ports=..., settings=..., clock=...)` runs it with other adapters (tests, the
    local stack); `clock` (default `time.time`) is what rate limits count windows with.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.clock: Callable[[], float] = time.time
        self._logger: Logger | None = None
        functools.update_wrapper(self, handler)

    @property
    def logger(self) -> Logger:
        if self._logger is None:
            from aws_lambda_powertools import Logger

            self._logger = Logger()
        return self._logger

    def __call__(self, event: Any, lambda_context: LambdaContext | None = None) -> dict[str, Any]:
        return self.invoke(event, lambda_context)

    def invoke(
        self,
        event: Any,
        lambda_context: LambdaContext | None = None,
        *,
        ports: AnalysisPorts | None = None,
        settings: AnalysisSettings | None = None,
        clock: Callable[[], float] | None = None,
    ) -> dict[str, Any]:
        cfg = settings if settings is not None else AnalysisSettings.from_env()
        if ports is None:
            from mqtt_actions.adapters.analysis_ports import AwsAnalysisPorts

            ports = AwsAnalysisPorts(cfg)
        return run_analysis(
            self.handler,
            event,
            settings=cfg,
            ports=ports,
            logger=self.logger,
            clock=clock or self.clock,
            function_name=getattr(lambda_context, "function_name", "") or "",
            request_id=getattr(lambda_context, "aws_request_id", "") or "",
        )


def analysis(handler: Handler) -> AnalysisFunction:
    """Decorate `def handler(context, scope)`; the result is the Lambda handler."""
    return AnalysisFunction(handler)
