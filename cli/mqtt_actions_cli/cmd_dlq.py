"""`mqtt-actions dlq list|replay|discard`: what could not be done, doing it again, or
dropping it."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from mqtt_actions_cli.common import add_command
from mqtt_actions_cli.errors import EXIT_FAILED, EXIT_OK, CliError, UsageError
from mqtt_actions_cli.output import emit, iso_ms, plural, table

if TYPE_CHECKING:  # loaded when a handler runs, not for --help (main.py)
    from mqtt_actions_cli.ops import dlq
else:
    from mqtt_actions_cli.lazy import lazy

    dlq = lazy("mqtt_actions_cli.ops.dlq")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    dlq = subparsers.add_parser(
        "dlq",
        help="the dead-letter queue: list failures, replay or discard them",
        description=(
            "Messages and actions that failed after their retries wait in the dead-letter\n"
            "queue (14 days) with the original message and the reason."
        ),
        epilog="run `mqtt-actions dlq list --help`, `dlq replay --help` or `dlq discard --help`",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = dlq.add_subparsers(title="dlq commands", metavar="COMMAND", required=True)
    listing = add_command(
        sub,
        "list",
        summary="show the dead letters (nothing is removed)",
        description=(
            "Show every dead letter, oldest first: message id, time, where it came from,\n"
            "the action, the topic and the reason. Reads records of the router (an action\n"
            "failed, or an event was invalid), of Lambda's on-failure destination (the router\n"
            "failed after its retries) and of the IoT rule's error action. Nothing is deleted:\n"
            "the messages are visible again as soon as the listing ends."
        ),
        examples="""
  mqtt-actions dlq list
  mqtt-actions dlq list --stack mqtt-actions-prod --json""",
    )
    listing.set_defaults(func=run_list)

    replay = add_command(
        sub,
        "replay",
        summary="run failed actions again, then remove what succeeded",
        description=(
            "Invoke the router again with each dead letter's original message, limited to the\n"
            "action that failed when the record names it (only_actions). A dead letter is\n"
            "removed only after the invoke succeeded: when the action now ran (or had already\n"
            "run: replays are idempotent per message and action), or when it failed again,\n"
            "because the router then records a new dead letter with the new reason. Throttled\n"
            "or refused actions, invalid events and records of unknown shape are kept.\n"
            "Exit code 1 when anything was not replayed."
        ),
        examples="""
  mqtt-actions dlq replay --all --dry-run      # what would be replayed, changing nothing
  mqtt-actions dlq replay --id 0f6c1d52-4a3b-4f0e-9b1e-8a2f3c4d5e6f
  mqtt-actions dlq replay --all --stack mqtt-actions-prod""",
    )
    _id_or_all(replay, "replay", "replay every dead letter")
    replay.add_argument(
        "--dry-run", action="store_true", help="show what would be replayed; invoke nothing"
    )
    replay.set_defaults(func=run_replay)

    discard = add_command(
        sub,
        "discard",
        summary="delete dead letters without replaying them",
        description=(
            "Delete dead letters for good, without running anything: for a failure you have\n"
            "dealt with another way, or that no longer matters (a dead letter otherwise stays\n"
            "14 days and keeps the DeadLetterAlarm on). The original message is lost with it:\n"
            "look at it first with `mqtt-actions dlq list --json`, or replay it instead.\n"
            "Asks before deleting when run in a terminal; --yes answers for you (scripts, and\n"
            "whenever stdin is not a terminal, where it is required). --all discards the dead\n"
            "letters listed at that moment: one that arrives meanwhile is kept."
        ),
        examples="""
  mqtt-actions dlq discard --id 0f6c1d52-4a3b-4f0e-9b1e-8a2f3c4d5e6f
  mqtt-actions dlq discard --all                 # asks: Discard 3 dead letters ...? [y/N]
  mqtt-actions dlq discard --all --yes --stack mqtt-actions-prod""",
    )
    _id_or_all(discard, "discard", "discard every dead letter listed now")
    discard.add_argument(
        "-y", "--yes", action="store_true", help="do not ask (needed when not in a terminal)"
    )
    discard.set_defaults(func=run_discard)


def _id_or_all(parser: argparse.ArgumentParser, verb: str, all_help: str) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--id",
        metavar="MESSAGE_ID",
        action="append",
        help=f"{verb} this dead letter (from `dlq list`); repeat for several",
    )
    which.add_argument("--all", action="store_true", help=all_help)


def run_list(args: argparse.Namespace) -> int:
    target = args.get_target()
    letters = dlq.list_letters(target)

    def render() -> str:
        if not letters:
            return f"the dead-letter queue of {target.describe()} is empty"
        rows = [
            (
                d.message_id,
                iso_ms(d.sent_ms),
                f"{d.source}/{d.kind}",
                d.action_id or "",
                d.topic or "",
                d.reason,
            )
            for d in letters
        ]
        text = table(["message id", "time", "source", "action", "topic", "reason"], rows, width=80)
        return (
            f"{text}\n{plural(len(letters), 'dead letter')}; "
            "replay with `mqtt-actions dlq replay --id MESSAGE_ID` or `--all`"
        )

    emit(args, [d.model_dump() for d in letters], render)
    return EXIT_OK


def run_replay(args: argparse.Namespace) -> int:
    target = args.get_target()
    report = dlq.replay(target, args.id, dry_run=args.dry_run)
    words = dlq.STATUS_WORDS

    def render() -> str:
        if not report.replays:
            return f"the dead-letter queue of {target.describe()} is empty: nothing to replay"
        rows = [
            (r.message_id, r.action_id or "(all)", words[r.status], r.detail)
            for r in report.replays
        ]
        summary = ", ".join(f"{n} {words[s]}" for s, n in report.counts.items() if n)
        text = table(["message id", "action", "status", "detail"], rows, width=80)
        return f"{text}\n{summary}"

    emit(args, report.model_dump(), render)
    return EXIT_OK if report.all_done else EXIT_FAILED


def run_discard(args: argparse.Namespace) -> int:
    target = args.get_target()
    letters = dlq.list_letters(target)
    if args.all:
        ids = [d.message_id for d in letters]
    else:
        ids = list(dict.fromkeys(args.id))
        known = {d.message_id for d in letters}
        unknown = [i for i in ids if i not in known]
        if unknown:
            now = ", ".join(sorted(known)) or "none: the queue is empty"
            raise UsageError(
                f"no dead letter with id {', '.join(unknown)}; nothing was discarded",
                hint=f"use an id from `mqtt-actions dlq list` (now: {now})",
            )
    if not ids:
        emit(
            args,
            {"discarded": [], "kept": 0},
            lambda: f"the dead-letter queue of {target.describe()} is empty: nothing to discard",
        )
        return EXIT_OK
    what = plural(len(ids), "dead letter")
    if not args.yes:
        _confirm(f"Discard {what} from {target.describe()}? They are deleted, not replayed.")
    report = dlq.discard(target, ids)

    def render() -> str:
        lines = [f"discarded {d}" for d in report.discarded]
        done = plural(len(report.discarded), "dead letter")
        lines.append(f"{done} discarded, {report.kept} kept")
        return "\n".join(lines)

    emit(args, report.model_dump(), render)
    return EXIT_OK


def _confirm(question: str) -> None:
    """Ask on the terminal; anything but yes stops here, exit 1, nothing changed."""
    if not sys.stdin.isatty():
        raise UsageError(
            "discarding asks for confirmation, and stdin is not a terminal",
            hint="pass --yes to discard without asking",
        )
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in {"y", "yes"}:
        raise CliError("not discarded: the answer was not yes (nothing was changed)")
