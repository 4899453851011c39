"""TagoIO's notifications: what analyses sent with `Services.Notification.send` (TagoIO shows them
to the account owner in its app). Each is an inspector entry of type notification; its detail
says whether it was e-mailed to the stack's NotificationEmail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mqtt_actions.inspector import EntryType
from mqtt_actions_cli.ops import inspector
from mqtt_actions_cli.ops.inspector import InspectorQuery
from mqtt_actions_cli.target import Target

NOTIFICATION = "notification"  # the entry's action_type (mqtt_actions.tagoio.services)
PAGE = 5000  # action outcomes read at a time, newest first
MAX_PAGES = 40  # 200,000 outcomes at most: then the page says how far back it looked


@dataclass(frozen=True)
class Notifications:
    found: list[dict[str, Any]]  # newest first
    searched_to_ms: int  # every action outcome from here to now was read
    complete: bool  # searched_to_ms reached the `since` asked for, or `limit` were found


def recent(
    target: Target | InspectorQuery[Any],
    *,
    since_ms: int,
    limit: int = 200,
    page: int = PAGE,
    max_pages: int = MAX_PAGES,
) -> Notifications:
    """The newest `limit` notifications since `since_ms`, newest first. They are action outcomes
    among all the others, so the outcomes are read back from now a page at a time until the
    range or `limit` is covered (at most `max_pages`; the result says how far it got)."""
    found: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    until: int | None = None
    size = page
    for _ in range(max_pages):
        entries = inspector.query(
            target, types=[EntryType.ACTION.value], since_ms=since_ms, until_ms=until, limit=size
        )
        for entry in reversed(entries):
            if entry.key in seen:
                continue  # read before: the page before ended inside this millisecond
            seen.add(entry.key)
            if (shown := _notification(entry)) is not None:
                found.append(shown)
                if len(found) == limit:
                    return Notifications(found, entry.time, complete=True)
        if len(entries) < size:
            return Notifications(found, since_ms, complete=True)
        oldest = entries[0].time
        # The next page ends at the oldest millisecond read, inclusive (its other entries may
        # not all have fit); when a whole page was that one millisecond, it reads more at once.
        size = size * 2 if oldest == until else page
        until = oldest
    return Notifications(found, until if until is not None else since_ms, complete=False)


def _notification(entry: Any) -> dict[str, Any] | None:
    details = entry.details
    if details.get("action_type") != NOTIFICATION:
        return None
    detail = details.get("detail") or {}
    action_id = str(details.get("action_id") or "")
    return {
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
