"""`mqtt-actions outbox`: the SMS, e-mails and webhook calls the local stack captured."""

from __future__ import annotations

import argparse
from typing import Any

from mqtt_actions_cli.common import add_command
from mqtt_actions_cli.errors import EXIT_OK
from mqtt_actions_cli.ops import outbox
from mqtt_actions_cli.output import emit, iso_ms, plural, table

KINDS = outbox.KINDS


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    outbox = add_command(
        subparsers,
        "outbox",
        summary="SMS, e-mails and webhook calls the local stack captured (local only)",
        description=(
            "Show what sms, email and webhook actions sent on the local stack, oldest first.\n"
            "The local stack delivers nothing for real: it keeps SMS and e-mails here and\n"
            "records each webhook call with the HTTP status it got.\n"
            "On AWS, SMS and e-mails are delivered for real (SNS, SES): there is no outbox."
        ),
        examples="""
  mqtt-actions outbox
  mqtt-actions outbox --kind email --last 5
  mqtt-actions outbox --json | jq '.[] | select(.kind == "sms") | .message'""",
    )
    outbox.add_argument("--kind", choices=KINDS, help="only this kind")
    outbox.add_argument("--last", metavar="N", type=int, help="only the N most recent")
    outbox.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    outbox.require_local(not args.stack)  # refused before anything is contacted
    items = outbox.list_items(args.get_target(), kind=args.kind, last=args.last)

    def render() -> str:
        if not items:
            what = f"{args.kind} " if args.kind else ""
            return f"the outbox holds no {what}messages yet"
        rows = [_row(item) for item in items]
        return (
            table(["time", "kind", "to", "subject/status", "message"], rows, width=70)
            + f"\n{plural(len(items), 'item')}"
        )

    emit(args, items, render)
    return EXIT_OK


def _row(item: dict[str, Any]) -> tuple[str, str, str, str, str]:
    kind = str(item.get("kind", "?"))
    when = iso_ms(_int(item.get("time")) or None)
    if kind == "sms":
        return when, kind, str(item.get("to", "")), "", str(item.get("message", ""))
    if kind == "email":
        to = item.get("to")
        to_text = ", ".join(map(str, to)) if isinstance(to, list) else str(to or "")
        body = item.get("text") or item.get("html") or ""
        return when, kind, to_text, str(item.get("subject", "")), str(body)
    if kind == "webhook":
        status = item.get("status")
        action = item.get("action_id")
        if status is None:  # no HTTP answer at all: refused, unreachable, timed out
            error = item.get("error") or "no answer"
            return when, kind, str(item.get("url", "")), "no response", f"action {action}: {error}"
        return when, kind, str(item.get("url", "")), f"HTTP {status}", f"action {action}"
    return when, kind, "", "", str(item)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
