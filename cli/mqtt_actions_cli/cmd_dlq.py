"""`mqtt-actions dlq list|replay`: what could not be done, and doing it again."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mqtt_actions_cli.common import add_command
from mqtt_actions_cli.deadletters import DeadLetter, parse_message
from mqtt_actions_cli.errors import EXIT_FAILED, EXIT_OK, UsageError
from mqtt_actions_cli.output import emit, iso_ms, plural, table
from mqtt_actions_cli.target import InvokeError, Target

ROUTER = "RouterFunction"
MAX_MESSAGES = 1000
LIST_VISIBILITY = 30  # seconds the listed messages stay hidden if we die before releasing them
REPLAY_VISIBILITY = 300  # longer than one invoke, renewed before each
# Outcomes after which the dead letter has done its job (`failed` is handled apart).
SETTLED = frozenset({"done", "duplicate", "condition_false", "points_refused"})


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    dlq = subparsers.add_parser(
        "dlq",
        help="the dead-letter queue: list failures, replay them",
        description=(
            "Messages and actions that failed after their retries wait in the dead-letter\n"
            "queue (14 days) with the original message and the reason."
        ),
        epilog="run `mqtt-actions dlq list --help` or `mqtt-actions dlq replay --help`",
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
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--id",
        metavar="MESSAGE_ID",
        action="append",
        help="replay this dead letter (from `dlq list`); repeat for several",
    )
    which.add_argument("--all", action="store_true", help="replay every dead letter")
    replay.add_argument(
        "--dry-run", action="store_true", help="show what would be replayed; invoke nothing"
    )
    replay.set_defaults(func=run_replay)


# ---------------------------------------------------------------------------- queue access


class Queue:
    """The dead-letter queue: receive everything (hidden while we work), delete, release."""

    def __init__(self, sqs: Any, url: str, *, wait_seconds: int = 1) -> None:
        self._sqs = sqs
        self._url = url
        self._wait = wait_seconds

    def receive_all(self, visibility: int) -> list[DeadLetter]:
        letters: dict[str, DeadLetter] = {}
        for _ in range(MAX_MESSAGES // 10 + 1):  # bounded even if the queue keeps filling
            page = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=visibility,
                WaitTimeSeconds=self._wait,  # a short long-poll asks every SQS server
                MessageSystemAttributeNames=["SentTimestamp"],
            )
            messages = page.get("Messages", [])
            if not messages:
                break
            for message in messages:
                letter = parse_message(message)
                letters.setdefault(letter.message_id, letter)
            if len(letters) >= MAX_MESSAGES:
                break
        return sorted(letters.values(), key=lambda d: (d.sent_ms or 0, d.message_id))

    def hide(self, letter: DeadLetter, seconds: int) -> None:
        self._sqs.change_message_visibility(
            QueueUrl=self._url, ReceiptHandle=letter.receipt_handle, VisibilityTimeout=seconds
        )

    def delete(self, letter: DeadLetter) -> None:
        self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=letter.receipt_handle)

    def release(self, letters: Sequence[DeadLetter]) -> None:
        """Make them visible again now (not after the visibility timeout)."""
        for start in range(0, len(letters), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": d.receipt_handle, "VisibilityTimeout": 0}
                for i, d in enumerate(letters[start : start + 10])
            ]
            self._sqs.change_message_visibility_batch(QueueUrl=self._url, Entries=entries)


def _queue(target: Target) -> Queue:
    # moto answers with every message at once; real SQS needs a short long-poll for that.
    wait = 0 if target.is_local else 1
    return Queue(target.client("sqs"), target.output("DeadLetterQueueUrl"), wait_seconds=wait)


@contextmanager
def _received(queue: Queue, visibility: int) -> Iterator[tuple[list[DeadLetter], set[str]]]:
    """Every dead letter, released again on the way out except those deleted (ids in the set)."""
    letters = queue.receive_all(visibility)
    deleted: set[str] = set()
    try:
        yield letters, deleted
    finally:
        queue.release([d for d in letters if d.message_id not in deleted])


# ---------------------------------------------------------------------------- list


def run_list(args: argparse.Namespace) -> int:
    target = args.get_target()
    queue = _queue(target)
    with _received(queue, LIST_VISIBILITY) as (letters, _deleted):
        data = [d.summary() for d in letters]

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

    emit(args, data, render)
    return EXIT_OK


# ---------------------------------------------------------------------------- replay


@dataclass
class Replay:
    letter: DeadLetter
    status: str  # replayed | failed_again | failed | skipped | would_replay
    detail: str
    result: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.letter.message_id,
            "action_id": self.letter.action_id,
            "topic": self.letter.topic,
            "status": self.status,
            "detail": self.detail,
            "result": self.result,
            "deleted": self.status in {"replayed", "failed_again"},
        }


def run_replay(args: argparse.Namespace) -> int:
    target = args.get_target()
    queue = _queue(target)
    with _received(queue, REPLAY_VISIBILITY) as (letters, deleted):
        chosen = _choose(letters, args.id)
        replays: list[Replay] = []
        for letter in chosen:
            replay = _replay_one(target, queue, letter, dry_run=args.dry_run)
            if replay.status in {"replayed", "failed_again"}:
                queue.delete(letter)  # only now: the invoke succeeded
                deleted.add(letter.message_id)
            replays.append(replay)

    counts = {s: sum(1 for r in replays if r.status == s) for s in _STATUS_WORDS}
    data = {"dry_run": args.dry_run, "counts": counts, "replays": [r.as_dict() for r in replays]}

    def render() -> str:
        if not replays:
            return f"the dead-letter queue of {target.describe()} is empty: nothing to replay"
        rows = [
            (r.letter.message_id, r.letter.action_id or "(all)", _STATUS_WORDS[r.status], r.detail)
            for r in replays
        ]
        summary = ", ".join(f"{n} {_STATUS_WORDS[s]}" for s, n in counts.items() if n)
        text = table(["message id", "action", "status", "detail"], rows, width=80)
        return f"{text}\n{summary}"

    emit(args, data, render)
    not_done = any(r.status in {"failed", "failed_again", "skipped"} for r in replays)
    return EXIT_FAILED if not_done else EXIT_OK


_STATUS_WORDS = {
    "replayed": "replayed",
    "failed_again": "failed again",
    "failed": "failed",
    "skipped": "skipped",
    "would_replay": "would replay",
}


def _choose(letters: list[DeadLetter], ids: list[str] | None) -> list[DeadLetter]:
    if not ids:
        return letters
    by_id = {d.message_id: d for d in letters}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        known = ", ".join(by_id) or "none: the queue is empty"
        raise UsageError(
            f"no dead letter with id {', '.join(unknown)}",
            hint=f"use an id from `mqtt-actions dlq list` (now: {known})",
        )
    return [by_id[i] for i in dict.fromkeys(ids)]


def _replay_one(target: Target, queue: Queue, letter: DeadLetter, *, dry_run: bool) -> Replay:
    if not letter.replayable:
        why = {
            "invalid_event": "the event is invalid; replaying it would fail the same way",
            "unknown": "not a record this tool knows how to replay",
        }.get(letter.kind, "it holds no router event")
        return Replay(letter, "skipped", f"kept: {why}")
    event = letter.replay_event()
    if dry_run:
        scope = f"action {letter.action_id}" if letter.action_id else "every matching action"
        return Replay(letter, "would_replay", f"would invoke the router for {scope}", event)
    queue.hide(letter, REPLAY_VISIBILITY)
    try:
        result = target.invoke(ROUTER, event)
    except InvokeError as exc:
        return Replay(letter, "failed", f"kept: {exc.reason}")
    return _judge(letter, result)


def _judge(letter: DeadLetter, result: dict[str, Any]) -> Replay:
    """What the router's answer means for this dead letter."""
    if "error" in result:
        return Replay(letter, "failed", f"kept: the router refused it: {result['error']}", result)
    outcomes = result.get("outcomes")
    outcomes = outcomes if isinstance(outcomes, dict) else {}
    if letter.action_id is None:
        failed = sorted(a for a, o in outcomes.items() if o == "failed")
        if failed:
            detail = f"{', '.join(failed)} failed again (new dead letters recorded)"
            return Replay(letter, "failed_again", detail, result)
        shown = ", ".join(f"{a}: {o}" for a, o in sorted(outcomes.items())) or "no action matched"
        return Replay(letter, "replayed", shown, result)
    outcome = outcomes.get(letter.action_id)
    if outcome is None:
        detail = (
            f"kept: action {letter.action_id} did not run: it was removed, disabled or no longer "
            f"matches {letter.topic}"
        )
        return Replay(letter, "failed", detail, result)
    if outcome in SETTLED:
        return Replay(letter, "replayed", f"outcome {outcome}", result)
    if outcome == "failed":
        return Replay(letter, "failed_again", "failed again (a new dead letter says why)", result)
    return Replay(letter, "failed", f"kept: outcome {outcome}; replay it later", result)
