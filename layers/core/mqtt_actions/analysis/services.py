"""The services an analysis calls (`context.services`): mqtt, email, sms, bucket, analysis.

Every service shares one `Run` (the analysis, its trigger, settings, ports and counts); each adapter
is reached through the ports only when a service first needs it.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from pydantic import ValidationError

from mqtt_actions.analysis.errors import (
    PUBLISH_ERRORS,
    InvalidDeviceError,
    InvalidEmailAddressError,
    InvalidMessageError,
    InvalidPhoneNumberError,
    InvalidScopeError,
    InvalidTopicError,
    LoopRefusedError,
    NotConfiguredError,
    PayloadTooLargeError,
    PointsRefusedError,
    RateLimitedError,
    UnknownAnalysisError,
)
from mqtt_actions.analysis.event import Trigger
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
    AttachmentNotifier,
    EmailAttachment,
    MessageRecord,
    RetainedMessage,
)
from mqtt_actions.publishing import publish_problem, topic_problem
from mqtt_actions.settings import AnalysisSettings

__all__ = [
    "AnalysisService",
    "DeviceBucket",
    "EmailService",
    "MqttService",
    "Run",
    "Services",
    "SmsService",
    "encode_message",
]

MAX_QUERY_LIMIT: Final = 1000
MAX_ATTACHMENT_BYTES: Final = 5_000_000  # ours: a CSV export, well under SES's message size
MAX_NOTES: Final = 50
MAX_NOTE_CHARS: Final = 500

Message = str | bytes | bytearray | memoryview | Mapping[str, Any] | Sequence[Any] | int | float


@dataclass
class Run:
    name: str
    trigger: Trigger
    settings: AnalysisSettings
    ports: AnalysisPorts
    clock: Callable[[], float]
    timestamp: int  # ms: the trigger's time, else when the run started (bucket rows get it)
    done: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # log lines for the inspector entry
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

    def __init__(self, run: Run) -> None:
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
            raise PUBLISH_ERRORS[problem.kind](problem.message)
        hops = self._run.trigger.hops + 1
        self._run.ports.publisher.publish(
            topic, body, qos=qos, retain=retain, hops=hops, source=f"analysis/{self._run.name}"
        )
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

    def __init__(self, run: Run) -> None:
        self._run = run

    def send(
        self,
        to: str | Sequence[str] | Mapping[str, Any],
        subject: str | None = None,
        message: str | None = None,
        html: str | None = None,
        attachments: Sequence[EmailAttachment] = (),
    ) -> str:
        """Send one e-mail (to up to 50 addresses) with a text body, an HTML body, or both, and
        files attached (at most MAX_ATTACHMENT_BYTES in all); returns SES's message id. Also
        `send({"to", "subject", "message", "html"})`."""
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
        size = sum(len(a.content) for a in attachments)
        if size > MAX_ATTACHMENT_BYTES:
            raise InvalidMessageError(
                f"attachments hold {size:,} bytes; at most {MAX_ATTACHMENT_BYTES:,} in one e-mail"
            )
        notifier = self._run.ports.notifier
        if attachments and not isinstance(notifier, AttachmentNotifier):
            raise NotConfiguredError("this function's notifier cannot send attachments")
        self._run.allow("email")
        if attachments:
            assert isinstance(notifier, AttachmentNotifier)  # noqa: S101 - checked above
            message_id = notifier.send_email_attachments(
                addresses, subject, message, html, attachments
            )
            self._run.count("emails")
            return message_id
        message_id = self._run.ports.notifier.send_email(addresses, subject, message, html)
        self._run.count("emails")
        return message_id

    def to_owner(self, subject: str, message: str) -> list[str]:
        """E-mail the deployment's owner (NOTIFICATION_EMAIL, comma-separated) as `send` does,
        rate limit included; the addresses it went to, [] when none is configured."""
        addresses = [a.strip() for a in self._run.settings.notification_email.split(",")]
        addresses = [a for a in addresses if a]
        if not addresses:
            return []
        for address in addresses:
            try:
                _check_email(address)
            except InvalidEmailAddressError as exc:
                raise InvalidEmailAddressError(
                    f"NOTIFICATION_EMAIL (template parameter NotificationEmail) holds {address!r}: "
                    f"{exc}; set it to the owner's address, e.g. owner@example.com"
                ) from None
        line = "".join(c for c in subject.splitlines()[0] if ord(c) >= 32 and c != "\x7f")
        self.send(addresses, line[:MAX_SUBJECT_CHARS].strip() or "Notification", message)
        return addresses


class SmsService:
    """Text messages through SNS, rate limited per analysis."""

    def __init__(self, run: Run) -> None:
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

    def __init__(self, run: Run, device: str) -> None:
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

    def __init__(self, run: Run) -> None:
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

    def __init__(self, run: Run) -> None:
        self._run = run
        self.mqtt = MqttService(run)
        self.email = EmailService(run)
        self.sms = SmsService(run)
        self.analysis = AnalysisService(run)

    def note(self, line: str) -> None:
        """A log line the run's inspector entry keeps (the first MAX_NOTES, each cut to
        MAX_NOTE_CHARS); the function's log has them all."""
        if len(self._run.notes) < MAX_NOTES:
            self._run.notes.append(line[:MAX_NOTE_CHARS])
        elif len(self._run.notes) == MAX_NOTES:
            self._run.notes.append("... (more in the function's log)")

    def record(self, message: MessageRecord, result: ActionResult) -> None:
        """An inspector entry of its own for this run (TagoIO's Notification.send)."""
        self._run.ports.inspector.record_outcomes(message, [result])
        self._run.count(result.action_type)

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
