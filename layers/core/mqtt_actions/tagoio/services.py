"""`Services({"token": context.token})`: `.MQTT.publish`, `.email.send`, `.sms.send` and
`.Notification.send`, each with the SDK's positional object or its keyword (`mqtt=`, `email=`,
`sms=`, `notification=`), as tago-io/sdk-python `Services/*.py`."""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any, Final

from mqtt_actions.analysis import AnalysisError, InvalidMessageError
from mqtt_actions.ports import ActionResult, EmailAttachment, MessageRecord, Outcome
from mqtt_actions.tagoio.common import (
    TagoRun,
    Unsupported,
    UnsupportedCallError,
    current,
    one_object,
)

NOTIFICATION_ACTION_TYPE: Final = "notification"


class _Mqtt:
    def publish(self, mqtt: Any = None, **kwargs: Any) -> str:
        """`{"topic", "message", "device" | "bucket", "options": {"qos", "retain"}}`. The device
        is accepted and not needed: every subscriber of the topic receives the message."""
        keyword = kwargs.pop("mqtt", None)
        _no_more("Services.MQTT.publish", kwargs)
        given = one_object("Services.MQTT.publish", mqtt, keyword, "mqtt")
        given.pop("bucket", None)
        given.pop("device", None)
        run = current("Services.MQTT.publish")
        run.context.services.mqtt.publish(given)
        return f"MQTT published on {given.get('topic')}"


class _Email:
    def send(self, email: Any = None, **kwargs: Any) -> str:
        """`{"to", "subject", "message" | "html", "attachment": {"archive", "filename"}}`; `to`
        may be comma-separated, as in TagoIO. Sent by SES from the stack's EmailSender
        (`from_name` is not used); the attachment's archive is its text content."""
        keyword = kwargs.pop("email", None)
        _no_more("Services.email.send", kwargs)
        given = one_object("Services.email.send", email, keyword, "email")
        if given.get("template") is not None:
            raise UnsupportedCallError(
                "Services.email.send({'template': ...})",
                "TagoRUN e-mail templates do not exist here: pass subject and message",
            )
        given.pop("template", None)
        attachments = _attachments(given.pop("attachment", None))
        run = current("Services.email.send")
        if given.pop("from_name", None) is not None:
            run.context.logger.warning(
                "email.send: from_name is not used (SES sends as EmailSender)"
            )
        to = given.get("to")
        if isinstance(to, str):
            given["to"] = [a.strip() for a in to.split(",") if a.strip()] or to
        if not attachments:
            return run.context.services.email.send(given)
        _no_more("Services.email.send", {k: v for k, v in given.items() if k not in _EMAIL_KEYS})
        return run.context.services.email.send(
            given.get("to", ()),
            given.get("subject"),
            given.get("message"),
            given.get("html"),
            attachments=attachments,
        )


_EMAIL_KEYS = ("to", "subject", "message", "html")


def _attachments(given: object) -> list[EmailAttachment]:
    """TagoIO's `attachment: {archive, filename}` (one, or a list): the archive is the file's
    content as text."""
    if given is None:
        return []
    items = given if isinstance(given, list) else [given]
    out = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("filename"), str):
            raise InvalidMessageError(
                "email.send: attachment is {'archive': text, 'filename': 'name.csv'}, as in "
                "TagoIO's SDK"
            )
        archive = item.get("archive")
        if not isinstance(archive, str | bytes):
            raise InvalidMessageError(
                f"email.send: attachment {item['filename']!r} has no archive (its text)"
            )
        content = archive.encode("utf-8") if isinstance(archive, str) else archive
        kind = mimetypes.guess_type(item["filename"])[0] or "application/octet-stream"
        out.append(EmailAttachment(filename=item["filename"], content=content, content_type=kind))
    return out


class _Sms:
    def send(self, sms: Any = None, **kwargs: Any) -> str:
        """`{"to", "message"}`, as TagoIO's SMS service; returns the message id."""
        keyword = kwargs.pop("sms", None)
        _no_more("Services.sms.send", kwargs)
        given = one_object("Services.sms.send", sms, keyword, "sms")
        ids = current("Services.sms.send").context.services.sms.send(given)
        return ", ".join(ids)


class _Notification:
    def send(self, notification: Any = None, **kwargs: Any) -> str:
        """`{"title", "message"}`: TagoIO notifies the account owner. Here it is an inspector entry
        of type notification (`mqtt-actions inspect`, the console's Notifications page) and, when
        the stack has a NotificationEmail, an e-mail to that address (SES, as email.send)."""
        keyword = kwargs.pop("notification", None)
        _no_more("Services.Notification.send", kwargs)
        given = one_object("Services.Notification.send", notification, keyword, "notification")
        title, message = given.get("title"), given.get("message")
        if not isinstance(title, str) or not isinstance(message, str) or not title:
            raise InvalidMessageError(
                "Notification.send takes {'title': text, 'message': text}, as in TagoIO's SDK"
            )
        run = current("Services.Notification.send")
        context = run.context
        failure: AnalysisError | None = None
        emailed: list[str] = []
        try:
            emailed = context.services.email.to_owner(title, message or title)
        except AnalysisError as exc:  # recorded with the notification, then the run fails
            failure = exc
        _record(run, title, message, given, emailed, failure)
        if failure is not None:
            raise failure
        return "Notification sent"


def _record(
    run: TagoRun,
    title: str,
    message: str,
    given: Mapping[str, Any],
    emailed: list[str],
    failure: AnalysisError | None,
) -> None:
    """The notification's own inspector entry: failed when its e-mail could not go."""
    context = run.context
    trigger = context.trigger
    record = MessageRecord(
        device=trigger.device or f"analysis:{context.name}",
        topic=trigger.topic or "",
        traceid=trigger.traceid or "",
        timestamp=context.time_ms,
        size=len(message),
        preview=message[:200],
        points=0,
    )
    extra = {k: v for k, v in given.items() if k not in ("title", "message")}
    email = (
        f"not sent: {failure}"
        if failure is not None
        else (f"sent to {', '.join(emailed)}" if emailed else "no NotificationEmail configured")
    )
    run.notifications += 1
    result = ActionResult(
        action_id=f"{context.name}:notification:{run.notifications}",
        action_type=NOTIFICATION_ACTION_TYPE,
        outcome=Outcome.FAILED if failure is not None else Outcome.DONE,
        reason=f"the notification's e-mail was not sent: {failure}" if failure else None,
        detail={
            "title": title[:200],
            "message": message[:1000],
            "email": email[:500],
            **({"extra": str(extra)[:500]} if extra else {}),
        },
    )
    context.services.record(record, result)
    context.logger.info("notification", extra={"title": title, "text": message, "email": email})


def _no_more(call: str, kwargs: Mapping[str, Any]) -> None:
    if kwargs:
        raise InvalidMessageError(f"{call}: unknown keyword(s) {', '.join(sorted(kwargs))}")


class Services:
    """`Services({"token": context.token})`."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params = dict(params or {})
        self.MQTT = _Mqtt()
        self.email = _Email()
        self.sms = _Sms()
        self.Notification = _Notification()
        self.console = Unsupported("Services.console", "use context.log(...) or print(...)")
        self.Attachment = Unsupported(
            "Services.Attachment",
            "no file uploads: attach the file to the e-mail (email.send attachment)",
        )
        self.PDF = Unsupported(
            "Services.PDF", "no PDF service: build the PDF in the analysis (add a library)"
        )
        self.tagotip = Unsupported("Services.tagotip", "there is no TagoTiP here")
