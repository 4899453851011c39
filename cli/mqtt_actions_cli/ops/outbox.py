"""The local stack's outbox: the SMS, e-mails and webhook calls it captured instead of sending."""

from __future__ import annotations

from typing import Any

from mqtt_actions_cli.ops.errors import UsageError
from mqtt_actions_cli.target import Target

KINDS = ("sms", "email", "webhook")


def require_local(is_local: bool) -> None:
    """UsageError for a deployed stack, where nothing is captured: it is all sent for real."""
    if not is_local:
        raise UsageError(
            "outbox is for the local stack: e-mails and SMS are delivered for real on AWS",
            hint="see SES (sending statistics) and SNS (SMS delivery logs) in the AWS console; "
            "for webhooks and failures use `mqtt-actions dlq list --stack NAME`",
        )


def list_items(
    target: Target, *, kind: str | None = None, last: int | None = None
) -> list[dict[str, Any]]:
    """Oldest first; only `kind`, only the `last` N when given."""
    require_local(target.is_local)
    if target.control is None:
        raise UsageError("outbox needs the local stack's control API", hint="use --local")
    if last is not None and last < 1:
        raise UsageError(f"--last {last} must be at least 1", hint="e.g. --last 10")
    items = sorted(target.control.outbox(), key=lambda item: _int(item.get("time")))
    if kind:
        items = [item for item in items if item.get("kind") == kind]
    if last is not None:
        items = items[-last:]
    return items


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
