"""The dead-letter queue: list what could not be done, replay it through the router, or
discard it.

Messages are received hidden (visibility timeout) while we work and released again on the way
out, except those a successful replay deleted: a listing removes nothing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from mqtt_actions_cli.deadletters import DeadLetter, parse_message
from mqtt_actions_cli.ops.errors import NotFoundError, UsageError
from mqtt_actions_cli.target import InvokeError, Target

ROUTER = "RouterFunction"
MAX_MESSAGES = 1000
LIST_VISIBILITY = 30  # seconds the listed messages stay hidden if we die before releasing them
REPLAY_VISIBILITY = 300  # longer than one invoke, renewed before each
# Outcomes after which the dead letter has done its job (`failed` is handled apart).
SETTLED = frozenset({"done", "duplicate", "condition_false", "points_refused"})
STATUS_WORDS = {
    "replayed": "replayed",
    "failed_again": "failed again",
    "failed": "failed",
    "skipped": "skipped",
    "would_replay": "would replay",
}


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
                MessageAttributeNames=["All"],  # a restored letter's first id (deadletters.py)
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


def queue_of(target: Target) -> Queue:
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


class Letter(BaseModel):
    message_id: str
    source: str
    kind: str
    reason: str
    action_id: str | None
    topic: str | None
    device: str | None
    sent_ms: int | None
    replayable: bool
    event: dict[str, Any] | None
    payload: str | None = None  # the original message's payload (base64), when the record has it


def list_letters(target: Target) -> list[Letter]:
    """Every dead letter, oldest first; nothing is removed."""
    with _received(queue_of(target), LIST_VISIBILITY) as (letters, _deleted):
        return [Letter.model_validate(d.summary()) for d in letters]


# ---------------------------------------------------------------------------- replay


class ReplayItem(BaseModel):
    message_id: str
    action_id: str | None
    topic: str | None
    status: str  # replayed | failed_again | failed | skipped | would_replay
    detail: str
    result: dict[str, Any] | None
    deleted: bool


class ReplayReport(BaseModel):
    dry_run: bool
    counts: dict[str, int]
    replays: list[ReplayItem]

    @property
    def all_done(self) -> bool:
        return not any(r.status in {"failed", "failed_again", "skipped"} for r in self.replays)


@dataclass
class _Replay:
    letter: DeadLetter
    status: str
    detail: str
    result: dict[str, Any] | None = None

    def item(self) -> ReplayItem:
        return ReplayItem(
            message_id=self.letter.message_id,
            action_id=self.letter.action_id,
            topic=self.letter.topic,
            status=self.status,
            detail=self.detail,
            result=self.result,
            deleted=self.status in {"replayed", "failed_again"},
        )


def replay(target: Target, ids: Sequence[str] | None, *, dry_run: bool = False) -> ReplayReport:
    """Replay the dead letters with these ids (None: all). One is deleted only after the router
    ran it (now done, or failed again and recorded anew); the others are kept."""
    queue = queue_of(target)
    with _received(queue, REPLAY_VISIBILITY) as (letters, deleted):
        chosen = _choose(letters, ids)
        replays: list[_Replay] = []
        for letter in chosen:
            done = _replay_one(target, queue, letter, dry_run=dry_run)
            if done.status in {"replayed", "failed_again"}:
                queue.delete(letter)  # only now: the invoke succeeded
                deleted.add(letter.message_id)
            replays.append(done)
    counts = {s: sum(1 for r in replays if r.status == s) for s in STATUS_WORDS}
    return ReplayReport(dry_run=dry_run, counts=counts, replays=[r.item() for r in replays])


def _choose(letters: list[DeadLetter], ids: Sequence[str] | None) -> list[DeadLetter]:
    if not ids:
        return letters
    by_id = {d.message_id: d for d in letters}
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        known = ", ".join(by_id) or "none: the queue is empty"
        raise NotFoundError(
            f"no dead letter with id {', '.join(unknown)}",
            hint=f"use an id from `mqtt-actions dlq list` (now: {known})",
        )
    return [by_id[i] for i in dict.fromkeys(ids)]


def _replay_one(target: Target, queue: Queue, letter: DeadLetter, *, dry_run: bool) -> _Replay:
    if not letter.replayable:
        why = {
            "invalid_event": "the event is invalid; replaying it would fail the same way",
            "unknown": "not a record this tool knows how to replay",
        }.get(letter.kind, "it holds no router event")
        return _Replay(letter, "skipped", f"kept: {why}")
    event = letter.replay_event()
    if dry_run:
        scope = f"action {letter.action_id}" if letter.action_id else "every matching action"
        return _Replay(letter, "would_replay", f"would invoke the router for {scope}", event)
    queue.hide(letter, REPLAY_VISIBILITY)
    try:
        result = target.invoke(ROUTER, event)
    except InvokeError as exc:
        return _Replay(letter, "failed", f"kept: {exc.reason}")
    return _judge(letter, result)


def _judge(letter: DeadLetter, result: dict[str, Any]) -> _Replay:
    """What the router's answer means for this dead letter."""
    if "error" in result:
        return _Replay(letter, "failed", f"kept: the router refused it: {result['error']}", result)
    outcomes = result.get("outcomes")
    outcomes = outcomes if isinstance(outcomes, dict) else {}
    if letter.action_id is None:
        failed = sorted(a for a, o in outcomes.items() if o == "failed")
        if failed:
            detail = f"{', '.join(failed)} failed again (new dead letters recorded)"
            return _Replay(letter, "failed_again", detail, result)
        shown = ", ".join(f"{a}: {o}" for a, o in sorted(outcomes.items())) or "no action matched"
        return _Replay(letter, "replayed", shown, result)
    outcome = outcomes.get(letter.action_id)
    if outcome is None:
        detail = (
            f"kept: action {letter.action_id} did not run: it was removed, disabled or no longer "
            f"matches {letter.topic}"
        )
        return _Replay(letter, "failed", detail, result)
    if outcome in SETTLED:
        return _Replay(letter, "replayed", f"outcome {outcome}", result)
    if outcome == "failed":
        return _Replay(letter, "failed_again", "failed again (a new dead letter says why)", result)
    return _Replay(letter, "failed", f"kept: outcome {outcome}; replay it later", result)


# ---------------------------------------------------------------------------- discard


class DiscardReport(BaseModel):
    discarded: list[str]  # message ids, in queue order
    kept: int  # dead letters left in the queue (not chosen)


def discard(target: Target, ids: Sequence[str] | None) -> DiscardReport:
    """Delete the dead letters with these ids (None: every one there now) without replaying
    them: their failure is dropped for good. An unknown id changes nothing (NotFoundError)."""
    if ids is not None and not ids:
        raise UsageError("no dead letter chosen", hint="give an id from `mqtt-actions dlq list`")
    queue = queue_of(target)
    with _received(queue, LIST_VISIBILITY) as (letters, deleted):
        chosen = _choose(letters, ids)
        for letter in chosen:
            queue.delete(letter)
            deleted.add(letter.message_id)
        return DiscardReport(
            discarded=[d.message_id for d in chosen], kept=len(letters) - len(chosen)
        )
