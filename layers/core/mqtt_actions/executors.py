"""What each action type does, given the message. Called once per (message, action) by the router,
inside the idempotency guard for the types that need one (router.GUARDED_TYPES; insert_bucket's
deterministic row keys make a repeat harmless). Raise ActionError(permanent=True) for what a retry
cannot fix."""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from mqtt_actions.actions import (
    Action,
    EmailAction,
    InsertBucketAction,
    MqttPublishAction,
    RunAnalysisAction,
    SmsAction,
    WebhookAction,
)
from mqtt_actions.events import RouterEvent
from mqtt_actions.limits import MAX_DEVICE_CHARS, MAX_SMS_CHARS, MAX_SUBJECT_CHARS
from mqtt_actions.masking import mask_url
from mqtt_actions.payload import check_rows
from mqtt_actions.ports import ActionError, ActionPorts
from mqtt_actions.publishing import prefixes_problem, publish_problem
from mqtt_actions.settings import RouterSettings
from mqtt_actions.templating import (
    TemplateContext,
    TemplateError,
    build_values,
    render,
    render_header,
    render_topic,
)

MAX_URL_CHARS = 8192  # what common HTTP servers accept in a request line
# Refused points listed in an outcome: its detail is stored in DynamoDB (idempotency record,
# inspector), 400 KB an item, and 10,000 refused points would not fit.
MAX_REFUSED_LISTED = 20
_PRINTABLE_ASCII = "".join(map(chr, range(0x20, 0x7F)))


def _ascii(text: str) -> str:
    """Request lines and header values travel as ASCII (http.client refuses the rest): other
    characters are sent percent-encoded as UTF-8, `é` as `%C3%A9`; ASCII is left as is."""
    return text if text.isascii() else quote(text, safe=_PRINTABLE_ASCII)


@dataclass
class ExecContext:
    event: RouterEvent
    payload: bytes
    points: list[dict[str, Any]]
    deps: ActionPorts  # the router's dependencies, held here once for the whole message
    settings: RouterSettings
    _values: dict[str, str] | None = None
    _checked: tuple[list[dict[str, Any]], list[tuple[int, list[str]]]] | None = None

    def checked_points(self) -> tuple[list[dict[str, Any]], list[tuple[int, list[str]]]]:
        """Points that pass TagoIO's limits (as rows) and why the others do not; once a message."""
        if self._checked is None:
            self._checked = check_rows(self.points)
        return self._checked

    def values(self, action: Action) -> dict[str, str]:
        """Placeholder values; computed once a message, $ACTION$ set per action."""
        if self._values is None:
            self._values = build_values(
                TemplateContext(
                    points=self.points,
                    device=self.event.device,
                    topic=self.event.topic,
                    payload_text=self.payload_text,
                    action_id="",
                    timestamp_ms=self.event.timestamp,
                )
            )
        return {**self._values, "ACTION": action.id}

    @property
    def payload_text(self) -> str:
        try:
            return self.payload.decode("utf-8")
        except UnicodeDecodeError:
            return self.event.payload  # already base64 text: nothing is lost


def _insert_bucket(action: InsertBucketAction, ctx: ExecContext) -> dict[str, Any]:
    if action.device == "$DEVICE$":  # the default: skip rendering on the hot path
        device = ctx.event.device
    else:
        device = render_header(action.device, ctx.values(action)).strip()
    if not device or len(device) > MAX_DEVICE_CHARS:
        msg = f"device {action.device!r} renders to {device!r}: want 1-{MAX_DEVICE_CHARS} chars"
        raise ActionError(msg, permanent=True)
    rows, refused = ctx.checked_points()
    written = ctx.deps.bucket.insert(
        device, rows, traceid=ctx.event.traceid, timestamp=ctx.event.timestamp
    )
    detail: dict[str, Any] = {"device": device, "stored": written}
    if refused:
        detail["refused"] = len(refused)
        detail["refused_points"] = [
            {"index": i, "reasons": reasons} for i, reasons in refused[:MAX_REFUSED_LISTED]
        ]
    return detail


def _run_analysis(action: RunAnalysisAction, ctx: ExecContext) -> dict[str, Any]:
    known = ctx.settings.analysis_functions
    unknown = [name for name in action.analyses if name not in known]
    if unknown:
        declared = ", ".join(sorted(known)) or "none"
        msg = f"unknown analysis {', '.join(unknown)}; declared in template.yaml: {declared}"
        raise ActionError(msg, permanent=True)
    for name in action.analyses:
        ctx.deps.invoker.invoke_async(
            known[name],
            {
                "analysis": name,
                "trigger": {
                    "type": "action",
                    "action_id": action.id,
                    "topic": ctx.event.topic,
                    "device": ctx.event.device,
                    "traceid": ctx.event.traceid,
                    "hops": ctx.event.hops + 1,
                    "timestamp": ctx.event.timestamp,
                },
                "scope": ctx.points,
                "environment": dict(action.environment),
            },
        )
    return {"analyses": list(action.analyses)}


def _sms(action: SmsAction, ctx: ExecContext) -> dict[str, Any]:
    text = render(action.message, ctx.values(action))
    truncated = len(text) > MAX_SMS_CHARS
    if truncated:
        text = text[: MAX_SMS_CHARS - 1] + "…"
    ids = [ctx.deps.notifier.send_sms(number, text) for number in action.to]
    return {"to": list(action.to), "message_ids": ids, "truncated": truncated}


def _email(action: EmailAction, ctx: ExecContext) -> dict[str, Any]:
    if not ctx.settings.email_sender:
        msg = "no sender address: deploy with the EmailSender parameter (a verified SES identity)"
        raise ActionError(msg, permanent=True)
    values = ctx.values(action)
    subject = render_header(action.subject, values)
    if len(subject) > MAX_SUBJECT_CHARS:
        subject = subject[: MAX_SUBJECT_CHARS - 1] + "…"
    text = render(action.message, values) if action.message is not None else None
    body_html = None
    if action.html is not None:  # inserted values are text: escape them into HTML
        body_html = render(action.html, {k: html.escape(v) for k, v in values.items()})
    message_id = ctx.deps.notifier.send_email(list(action.to), subject, text, body_html)
    return {"to": list(action.to), "subject": subject, "message_id": message_id}


def _mqtt_publish(action: MqttPublishAction, ctx: ExecContext) -> dict[str, Any]:
    values = ctx.values(action)
    try:
        topic = render_topic(action.topic, values)
    except TemplateError as exc:
        raise ActionError(str(exc), permanent=True) from exc
    # "$PAYLOAD$" alone forwards the original bytes (binary stays binary).
    if action.payload == "$PAYLOAD$":
        body = ctx.payload
    else:
        body = render(action.payload, values).encode("utf-8")
    problem = publish_problem(topic, len(body), action.qos)  # the same checks as analyses
    if problem is not None:
        raise ActionError(problem.message, permanent=True)
    prefixes = ctx.settings.action_publish_prefixes
    outside = None if prefixes is None else prefixes_problem(topic, prefixes)
    if outside is not None:  # an action stored before the parameter changed (apply checks)
        raise ActionError(outside, permanent=True)
    hops = ctx.event.hops + 1
    ctx.deps.publisher.publish(
        topic, body, qos=action.qos, retain=action.retain, hops=hops, source=f"action/{action.id}"
    )
    return {"topic": topic, "bytes": len(body), "qos": action.qos, "retain": action.retain}


def _webhook(action: WebhookAction, ctx: ExecContext) -> dict[str, Any]:
    values = ctx.values(action)
    url = _ascii(render(action.url, {k: quote(v, safe="") for k, v in values.items()}))
    if _origin(url) != _origin(action.url):  # a stored action from before the apply-time check
        shown = mask_url(action.url)
        msg = f"webhook url {shown!r} has a placeholder in its host; put it in the path"
        raise ActionError(msg, permanent=True)
    if len(url) > MAX_URL_CHARS:
        msg = f"webhook url renders to {len(url):,} characters; at most {MAX_URL_CHARS:,} are sent"
        raise ActionError(msg, permanent=True)
    headers = {name: _ascii(render_header(value, values)) for name, value in action.headers.items()}
    headers.update(
        {
            "Content-Type": "application/json",
            "User-Agent": "mqtt-actions",
            "Idempotency-Key": f"{ctx.event.traceid}:{action.id}",
            "X-MQTT-Actions-Action": action.id,
            "X-MQTT-Actions-Topic": _ascii(render_header("$TOPIC$", values)),
        }
    )
    body = _json_body(ctx.points)
    status = ctx.deps.webhooks.post(
        url,
        body,
        headers,
        timeout=action.timeout_seconds,
        retries=action.max_retries,
        allow_http=action.allow_http,
    )
    return {"url": mask_url(url), "status": status}  # the inspector shows no secret of the URL


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _json_body(value: Any) -> bytes:
    """Compact UTF-8 JSON; with \\u escapes when some text holds a lone surrogate (a point
    from the JSON escape "\\ud800"), which UTF-8 cannot carry but a JSON escape can."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode("ascii")


_EXECUTORS: Mapping[str, Callable[[Any, ExecContext], dict[str, Any]]] = {
    "insert_bucket": _insert_bucket,
    "run_analysis": _run_analysis,
    "sms": _sms,
    "email": _email,
    "mqtt_publish": _mqtt_publish,
    "webhook": _webhook,
}


def execute(action: Action, ctx: ExecContext) -> dict[str, Any]:
    """Run one action; returns JSON-safe details for the inspector."""
    return _EXECUTORS[action.type](action, ctx)
