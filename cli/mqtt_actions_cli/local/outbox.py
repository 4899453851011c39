"""What actions "sent" locally: the SMS, e-mails and webhook calls the router and the analyses made,
recorded by the adapters the local stack gives them (`recorders()`: wrappers around their own
notifier and webhook client, through `mqtt_actions.ports.AdapterWrappers`). Read by `GET /outbox`
(`mqtt-actions outbox`) and logged as they come. Nothing is patched and moto is not read: what
the outbox shows is what the handlers' adapters sent, after moto (or AWS) accepted it."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from mqtt_actions.masking import mask_url
from mqtt_actions.ports import (
    ActionError,
    AdapterWrappers,
    AttachmentNotifier,
    EmailAttachment,
    NeedsInvocation,
    Notifier,
    WebhookClient,
)
from mqtt_actions_cli.local.output import log

ACTION_HEADER = "X-MQTT-Actions-Action"


def _now_ms() -> int:
    return int(time.time() * 1000)


class RecordingNotifier:
    """A `Notifier` that sends through `inner`, then puts what it sent in the outbox."""

    def __init__(self, inner: Notifier, outbox: Outbox) -> None:
        self._inner = inner
        self._outbox = outbox

    def send_sms(self, to: str, message: str) -> str:
        message_id = self._inner.send_sms(to, message)
        self._outbox.add({"kind": "sms", "time": _now_ms(), "to": to, "message": message})
        return message_id

    def send_email(
        self, to: Sequence[str], subject: str, text: str | None, html: str | None
    ) -> str:
        message_id = self._inner.send_email(to, subject, text, html)
        item = {"kind": "email", "time": _now_ms(), "to": list(to), "subject": subject}
        self._outbox.add(item | {"text": text, "html": html})
        return message_id

    def send_email_attachments(
        self,
        to: Sequence[str],
        subject: str,
        text: str | None,
        html: str | None,
        attachments: Sequence[EmailAttachment],
    ) -> str:
        """As send_email, with files: the outbox shows each one's name, type and content."""
        if not isinstance(self._inner, AttachmentNotifier):
            raise TypeError("the wrapped notifier cannot send attachments")
        message_id = self._inner.send_email_attachments(to, subject, text, html, attachments)
        item = {"kind": "email", "time": _now_ms(), "to": list(to), "subject": subject}
        files = [
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "content": a.content.decode("utf-8", errors="replace"),
            }
            for a in attachments
        ]
        self._outbox.add(item | {"text": text, "html": html, "attachments": files})
        return message_id


class RecordingWebhooks:
    """A `WebhookClient` that posts through `inner`, then puts the call (status or error) in the
    outbox. Forwards the invocation's deadline to `inner`."""

    def __init__(self, inner: WebhookClient, outbox: Outbox) -> None:
        self._inner = inner
        self._outbox = outbox

    def register(self, context: Any) -> None:
        if isinstance(self._inner, NeedsInvocation):
            self._inner.register(context)

    def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float,
        retries: int,
        allow_http: bool = False,
    ) -> int:
        action_id = str(dict(headers).get(ACTION_HEADER, ""))
        try:
            status = self._inner.post(
                url, body, headers, timeout=timeout, retries=retries, allow_http=allow_http
            )
        except ActionError as exc:
            self._outbox.webhook(url, None, action_id, exc.reason)
            raise
        self._outbox.webhook(url, status, action_id, None)
        return status


class Outbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[dict[str, Any]] = []

    def recorders(self) -> AdapterWrappers:
        """The wrappers the stack gives the router and every analysis."""
        return AdapterWrappers(
            notifier=lambda inner: RecordingNotifier(inner, self),
            webhooks=lambda inner: RecordingWebhooks(inner, self),
        )

    def add(self, item: dict[str, Any]) -> None:
        with self._lock:
            self._items.append(item)
        if item["kind"] == "sms":
            log.info("sms  -> %s: %s", item["to"], _short(item["message"]))
        elif item["kind"] == "email":
            log.info("mail -> %s: %s", ", ".join(item["to"]), _short(item["subject"]))

    def webhook(self, url: str, status: int | None, action_id: str, error: str | None) -> None:
        url = mask_url(url)  # the outbox and the log show no secret a URL carries (issue #23)
        item: dict[str, Any] = {
            "kind": "webhook",
            "time": _now_ms(),
            "url": url,
            "status": status,
            "action_id": action_id,
        }
        if error is not None:
            item["error"] = error
        with self._lock:
            self._items.append(item)
        if error is None:
            log.info("hook POST %s -> %s (action %s)", url, status, action_id)
        else:
            log.warning("hook POST %s failed (action %s): %s", url, action_id, error)

    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(i) for i in self._items]

    def restore(self, items: list[dict[str, Any]]) -> None:
        """Items saved by an earlier run (as `items()` rendered them), before the new ones."""
        with self._lock:
            self._items[:0] = [dict(i) for i in items if isinstance(i, dict) and "kind" in i]


def _short(text: str, limit: int = 80) -> str:
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
