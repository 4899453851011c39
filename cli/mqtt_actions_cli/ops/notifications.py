"""TagoIO's notifications: what analyses sent with `Services.Notification.send` (TagoIO shows them
to the account owner in its app). Each is an inspector entry of type notification; its detail
says whether it was e-mailed to the stack's NotificationEmail."""

from __future__ import annotations

from typing import Any

from mqtt_actions.inspector import EntryType
from mqtt_actions_cli.ops import inspector
from mqtt_actions_cli.target import Target

NOTIFICATION = "notification"  # the entry's action_type (mqtt_actions.tagoio.services)
SCANNED = 5000  # action outcomes read to find them


def recent(target: Target, *, since_ms: int, limit: int = 200) -> list[dict[str, Any]]:
    """The newest `limit` notifications since `since_ms`, newest first."""
    entries = inspector.query(
        target, types=[EntryType.ACTION.value], since_ms=since_ms, limit=SCANNED
    )
    found = []
    for entry in reversed(entries):
        details = entry.details
        if details.get("action_type") != NOTIFICATION:
            continue
        detail = details.get("detail") or {}
        action_id = str(details.get("action_id") or "")
        found.append(
            {
                "time": entry.time,
                "device": entry.device,
                "analysis": action_id.rsplit(f":{NOTIFICATION}:", 1)[0],
                "title": str(detail.get("title") or ""),
                "message": str(detail.get("message") or ""),
                "email": str(detail.get("email") or ""),
                "outcome": str(details.get("outcome") or ""),
                "reason": details.get("reason"),
                "traceid": entry.traceid,
            }
        )
        if len(found) == limit:
            break
    return found
