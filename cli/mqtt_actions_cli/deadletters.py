"""Reading the dead-letter queue's messages, whoever wrote them (pure: no I/O).

Three writers share the queue:
- the router: `{"kind": "action_failed" | "invalid_event" | "parser_failed" |
  "unknown_connection", "action_id"?, "reason", "event"}` (parser_failed also holds `parser` and
  the parser's console `logs`; unknown_connection the `client_id` no device was bound to);
- Lambda's on-failure destination, after the async retries: `{"requestContext": {...},
  "requestPayload": <the event>, "responseContext": {...}, "responsePayload": {...}}`;
- the IoT rule's error action: `{"ruleName", "topic", "clientId", "cloudwatchTraceId",
  "base64OriginalPayload", "failures": [{"failedAction", "errorMessage", ...}]}`.
Anything else is shown as it is, marked unknown, and never replayed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_REASON = 500
UNKNOWN = "unknown_connection"  # mqtt_actions.router's kind for a message no device is bound to
# A dead letter the local stack restored after a restart is a new SQS message (moto gives it a
# new id and time): these message attributes keep the first id and time, which win when present,
# so a saved `dlq replay --id` still works. AWS never restarts a queue: they are local only.
ORIGINAL_ID = "mqtt-actions.message-id"
ORIGINAL_SENT_MS = "mqtt-actions.sent-ms"


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    receipt_handle: str = field(repr=False)
    source: str  # router | lambda | iot-rule | unknown
    kind: str
    reason: str
    sent_ms: int | None
    action_id: str | None = None
    topic: str | None = None
    device: str | None = None
    event: dict[str, Any] | None = None  # the router event to replay, when there is one
    body: Any = None

    @property
    def replayable(self) -> bool:
        return self.event is not None

    def replay_event(self) -> dict[str, Any]:
        """The original event, limited to the failed action when we know which one."""
        if self.event is None:
            msg = f"dead letter {self.message_id} holds no router event to replay"
            raise ValueError(msg)
        event = {k: v for k, v in self.event.items() if k != "only_actions"}
        if self.action_id:
            event["only_actions"] = [self.action_id]
        return event

    def summary(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "source": self.source,
            "kind": self.kind,
            "reason": self.reason,
            "action_id": self.action_id,
            "topic": self.topic,
            "device": self.device,
            "sent_ms": self.sent_ms,
            "replayable": self.replayable,
            "event": self.event,
            "payload": self.payload,
        }

    @property
    def payload(self) -> str | None:
        """The original message's payload (base64), from the event or the record holding it."""
        event = self.event
        if event is None and isinstance(self.body, dict):
            event = self.body.get("event") or self.body.get("requestPayload")
        found = event.get("payload") if isinstance(event, dict) else None
        return found if isinstance(found, str) else None


def parse_message(message: Mapping[str, Any]) -> DeadLetter:
    """One SQS message (as `receive_message` returns it) as a DeadLetter."""
    raw = str(message.get("Body", ""))
    sent = message.get("Attributes", {}).get("SentTimestamp")
    kept = _kept(message.get("MessageAttributes"))
    sent = kept.get(ORIGINAL_SENT_MS, sent)
    base: dict[str, Any] = {
        "message_id": kept.get(ORIGINAL_ID) or str(message.get("MessageId", "")),
        "receipt_handle": str(message.get("ReceiptHandle", "")),
        "sent_ms": int(sent) if isinstance(sent, str) and sent.isdigit() else None,
    }
    try:
        body = json.loads(raw)
    except json.JSONDecodeError:
        return DeadLetter(**base, source="unknown", kind="unknown", reason=_cut(raw), body=raw)
    if not isinstance(body, dict):
        return DeadLetter(**base, source="unknown", kind="unknown", reason=_cut(raw), body=body)
    if body.get("kind") in {"action_failed", "invalid_event", "parser_failed", UNKNOWN}:
        return _router(body, base)
    if "requestPayload" in body and "requestContext" in body:
        return _lambda_destination(body, base)
    if "ruleName" in body and "failures" in body:
        return _rule_error(body, base)
    return DeadLetter(**base, source="unknown", kind="unknown", reason=_cut(raw), body=body)


def _kept(attributes: Any) -> dict[str, str]:
    """The original id and time a restored dead letter carries (see ORIGINAL_ID)."""
    if not isinstance(attributes, Mapping):
        return {}
    kept: dict[str, str] = {}
    for name in (ORIGINAL_ID, ORIGINAL_SENT_MS):
        value = attributes.get(name)
        if isinstance(value, Mapping) and isinstance(value.get("StringValue"), str):
            kept[name] = value["StringValue"]
    return kept


def _router(body: dict[str, Any], base: dict[str, Any]) -> DeadLetter:
    event = body.get("event")
    kind = str(body["kind"])
    # A parser failure is replayed whole (every action) once the parser is fixed; a message of
    # an unknown connection whole too (once its client id is bound, it names its device).
    ok_event = isinstance(event, dict) and kind in {"action_failed", "parser_failed", UNKNOWN}
    return DeadLetter(
        **base,
        source="router",
        kind=kind,
        reason=_cut(str(body.get("reason") or "")),
        action_id=_str(body.get("action_id")),
        topic=_str(event.get("topic")) if isinstance(event, dict) else None,
        device=_str(event.get("clientid")) if isinstance(event, dict) else None,
        # An invalid event failed validation: replaying it unchanged fails the same way.
        event=event if ok_event else None,
        body=body,
    )


def _lambda_destination(body: dict[str, Any], base: dict[str, Any]) -> DeadLetter:
    context = body.get("requestContext") or {}
    response = body.get("responsePayload")
    if isinstance(response, dict):
        error = response.get("errorMessage") or response.get("errorType") or json.dumps(response)
    else:
        error = str(response) if response is not None else "no response"
    condition = context.get("condition", "failed") if isinstance(context, dict) else "failed"
    attempts = context.get("approximateInvokeCount") if isinstance(context, dict) else None
    reason = f"{condition}" + (f" after {attempts} attempts" if attempts else "") + f": {error}"
    event = body.get("requestPayload")
    is_router_event = isinstance(event, dict) and "topic" in event and "payload" in event
    return DeadLetter(
        **base,
        source="lambda",
        kind="retries_exhausted" if condition == "RetriesExhausted" else str(condition),
        reason=_cut(reason),
        topic=_str(event.get("topic")) if isinstance(event, dict) else None,
        device=_str(event.get("clientid")) if isinstance(event, dict) else None,
        event=event if is_router_event else None,
        body=body,
    )


def _rule_error(body: dict[str, Any], base: dict[str, Any]) -> DeadLetter:
    raw = body.get("failures")
    failures: list[Any] = raw if isinstance(raw, list) else []
    reasons = [
        f"{f.get('failedAction', 'action')}: {f.get('errorMessage', '')}"
        for f in failures
        if isinstance(f, dict)
    ]
    topic, payload = _str(body.get("topic")), _str(body.get("base64OriginalPayload"))
    trace = _str(body.get("cloudwatchTraceId"))
    event = None
    if topic and payload is not None and trace:
        # Rebuilt as the route rule's SQL would have selected it (the original payload bytes).
        event = {
            "payload": payload,
            "topic": topic,
            "clientid": _str(body.get("clientId")) or "",
            "timestamp": base["sent_ms"] or 0,
            "traceid": trace,
        }
    return DeadLetter(
        **base,
        source="iot-rule",
        kind="rule_error",
        reason=_cut(f"rule {body.get('ruleName')}: " + ("; ".join(reasons) or "failed")),
        topic=topic,
        device=_str(body.get("clientId")),
        event=event,
        body=body,
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
