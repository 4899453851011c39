"""What actions "sent" locally: SMS and e-mails as moto recorded them, webhook calls as the router's
webhook client made them. Read by `GET /outbox` (`mqtt-actions outbox`) and logged as they come."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from mqtt_actions.adapters.notify import SnsSesNotifier
from mqtt_actions.adapters.webhook import HttpWebhookClient
from mqtt_actions.ports import ActionError
from mqtt_actions_cli.local.output import log
from mqtt_actions_cli.local.template import ACCOUNT_ID, REGION

ACTION_HEADER = "X-MQTT-Actions-Action"


def _now_ms() -> int:
    return int(time.time() * 1000)


class Outbox:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[dict[str, Any]] = []
        self._sms_seen: set[str] = set()
        self._emails_seen = 0
        self._bodies: dict[str, tuple[str | None, str | None]] = {}
        self._restore: list[Callable[[], None]] = []

    # -- capture
    def install(self) -> None:
        """Wrap the router's webhook client and e-mail sender (class-wide, in this process)."""
        outbox = self
        post = HttpWebhookClient.post
        send_email = SnsSesNotifier.send_email

        def recording_post(
            client: HttpWebhookClient, url: str, body: bytes, headers: Any, *a: Any, **kw: Any
        ) -> int:
            action_id = str(dict(headers).get(ACTION_HEADER, ""))
            try:
                status = post(client, url, body, headers, *a, **kw)
            except ActionError as exc:
                outbox._webhook(url, None, action_id, exc.reason)
                raise
            outbox._webhook(url, status, action_id, None)
            return status

        def recording_send_email(
            notifier: SnsSesNotifier, to: Any, subject: str, text: str | None, html: str | None
        ) -> str:
            message_id = send_email(notifier, to, subject, text, html)
            with outbox._lock:
                outbox._bodies[message_id] = (text, html)
            return message_id

        HttpWebhookClient.post = recording_post  # type: ignore[method-assign, assignment]
        SnsSesNotifier.send_email = recording_send_email  # type: ignore[method-assign, assignment]

        def restore() -> None:
            HttpWebhookClient.post = post  # type: ignore[method-assign]
            SnsSesNotifier.send_email = send_email  # type: ignore[method-assign]

        self._restore.append(restore)

    def uninstall(self) -> None:
        while self._restore:
            self._restore.pop()()

    def _webhook(self, url: str, status: int | None, action_id: str, error: str | None) -> None:
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

    # -- moto's records
    def sync(self) -> None:
        """Pick up SMS and e-mails moto recorded since the last call."""
        from moto.ses.models import ses_backends
        from moto.sns.models import sns_backends

        sms = sns_backends[ACCOUNT_ID][REGION].sms_messages
        emails = ses_backends[ACCOUNT_ID][REGION].sent_messages
        new: list[dict[str, Any]] = []
        with self._lock:
            for message_id, (to, text) in list(sms.items()):
                if message_id not in self._sms_seen:
                    self._sms_seen.add(message_id)
                    new.append({"kind": "sms", "time": _now_ms(), "to": to, "message": text})
            for message in list(emails)[self._emails_seen :]:
                self._emails_seen += 1
                new.append(self._email(message))
            self._items.extend(new)
        for item in new:
            if item["kind"] == "sms":
                log.info("sms  -> %s: %s", item["to"], _short(item["message"]))
            else:
                log.info("mail -> %s: %s", ", ".join(item["to"]), _short(item["subject"]))

    def _email(self, message: Any) -> dict[str, Any]:
        destinations = getattr(message, "destinations", None) or {}
        if isinstance(destinations, dict):  # send_email: {"ToAddresses": [...], ...}
            to = list(destinations.get("ToAddresses", []))
        else:  # send_raw_email: a list of addresses
            to = [str(d) for d in destinations]
        return {
            "kind": "email",
            "time": _now_ms(),
            "to": to,
            "subject": getattr(message, "subject", ""),
            # moto keeps one body (Html when both were sent): the texts are filled in from what
            # the router's sender passed, when it was the sender (see `items`).
            "_id": getattr(message, "id", ""),
            "_body": getattr(message, "body", None) or getattr(message, "raw_data", None),
        }

    def _render(self, item: dict[str, Any]) -> dict[str, Any]:
        if item["kind"] != "email" or "_id" not in item:  # a restored e-mail is rendered already
            return dict(item)
        shown = {k: v for k, v in item.items() if not k.startswith("_")}
        text, html = self._bodies.get(item["_id"], (item["_body"], None))
        return shown | {"text": text, "html": html}

    def items(self) -> list[dict[str, Any]]:
        self.sync()
        with self._lock:
            return [self._render(i) for i in self._items]

    def restore(self, items: list[dict[str, Any]]) -> None:
        """Items saved by an earlier run (as `items()` rendered them), before the new ones."""
        with self._lock:
            self._items[:0] = [dict(i) for i in items if isinstance(i, dict) and "kind" in i]


def _short(text: str, limit: int = 80) -> str:
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
