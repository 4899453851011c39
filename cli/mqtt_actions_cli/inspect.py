"""`mqtt-actions inspect`: the live inspector as a coloured table or JSON lines, or followed.

The main command plugs this in with `add_inspect_parser(subparsers)`; the parser's `handler`
default is `run_inspect(args, inspector_query)`, where `inspector_query` reads the inspector of
the chosen target (a deployed stack's `DynamoInspector(...).query`, or the local stack's).

QoS: IoT rules cannot see a message's QoS, so cloud entries show "—"; the local stack knows it
and fills `qos`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from mqtt_actions_cli.common import with_examples
from mqtt_actions_cli.errors import EXIT_INTERRUPTED
from mqtt_actions_cli.ops.defaults import ENTRY_TYPES

if TYPE_CHECKING:  # loaded when the command runs, not for --help (main.py)
    from mqtt_actions_cli import reads
    from mqtt_actions_cli.ops import inspector
    from mqtt_actions_cli.ops.inspector import Entry, InspectorQuery
else:
    from mqtt_actions_cli.lazy import lazy

    inspector = lazy("mqtt_actions_cli.ops.inspector")
    reads = lazy("mqtt_actions_cli.reads")

__all__ = ["add_inspect_parser", "describe_entry", "run_inspect"]

UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
DEVICE_WIDTH = 16
TYPE_WIDTH = 14
PREVIEW_CHARS = 60
NO_QOS = "—"

RESET = "\033[0m"
TYPE_COLOURS = {  # by EntryType value (a StrEnum: its members look these up as they are)
    "connect": "\033[32m",  # green
    "disconnect": "\033[33m",  # yellow
    "connect_failed": "\033[31m",  # red
    "subscribe": "\033[36m",  # cyan
    "unsubscribe": "\033[36m",
    "publish": "\033[34m",  # blue
    "action": "\033[35m",  # magenta
}
OUTCOME_COLOURS = {
    "done": "\033[32m",
    "failed": "\033[31;1m",
    "throttled": "\033[33m",
    "refused": "\033[31m",
    "points_refused": "\033[33m",
    "loop_refused": "\033[33m",
    "condition_false": "\033[2m",  # dim
    "duplicate": "\033[2m",
}
DIM = "\033[2m"
# C0/C1 control characters (ESC included): a device must not be able to drive the terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def parse_since(text: str, now_ms: int) -> int:
    """`10m`, `2h`, `1d`, `30s`, `1w` before now, or an ISO 8601 time (UTC when no offset)."""
    cleaned = text.strip()
    match = _DURATION.match(cleaned.lower())
    if match:
        return now_ms - int(match.group(1)) * UNIT_MS[match.group(2)]
    try:
        parsed = datetime.fromisoformat(cleaned.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        msg = (
            f"--since {text!r}: give a duration (30s, 10m, 2h, 1d, 1w) "
            "or an ISO time (2025-11-25T12:00:00Z)"
        )
        raise ValueError(msg) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"{text!r} is not a positive whole number"
        raise argparse.ArgumentTypeError(msg)
    return value


def add_inspect_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `inspect` on the main command's subparsers; `args.handler(args, query)` runs it."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "inspect",
        help="connects, disconnects, subscriptions, publishes and action outcomes",
        description=(
            "The live inspector: every connect, disconnect, subscribe, unsubscribe, publish and "
            "action outcome, newest last. QoS is shown as '—' for the cloud (IoT rules cannot "
            "see it); the local stack records it."
        ),
    )
    parser.add_argument("--device", "-d", metavar="D", help="one device (MQTT client id)")
    parser.add_argument(
        "--type",
        "-t",
        dest="types",
        action="append",
        choices=ENTRY_TYPES,
        metavar="T",
        help="only this type (repeatable): " + ", ".join(ENTRY_TYPES),
    )
    parser.add_argument(
        "--since", default="1h", metavar="WHEN", help="10m, 2h, 1d or an ISO time (default 1h)"
    )
    parser.add_argument(
        "--limit", type=_positive, default=100, metavar="N", help="newest N entries (default 100)"
    )
    parser.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new entries until Ctrl-C"
    )
    # SUPPRESS: a --json given to the main command is not reset by this subcommand's default.
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON lines")
    parser.set_defaults(handler=run_inspect)
    return parser


EXAMPLES = """
  mqtt-actions inspect
  mqtt-actions inspect --device sensor-01 --since 10m
  mqtt-actions inspect --follow --type action
  mqtt-actions inspect --stack mqtt-actions-prod --json"""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """`inspect` on the main command: target options, examples, and a `func` that reads the
    chosen target's inspector."""
    parser = add_inspect_parser(subparsers)
    with_examples(parser, EXAMPLES, target=True)
    parser.set_defaults(func=_run)
    return parser


def _run(args: argparse.Namespace) -> int:
    # On the local stack the stack reads its inspector for us: no boto3 or pydantic here.
    return run_inspect(args, reads.inspector_reader(args.get_target()))


def run_inspect(
    args: argparse.Namespace,
    inspector_query: InspectorQuery[Entry],
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 1.0,
    max_iterations: int | None = None,
) -> int:
    """Print the entries; with --follow poll every `poll_seconds` until Ctrl-C (or, for tests,
    `max_iterations` polls). Returns the exit status."""
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    env = os.environ if env is None else env
    now_ms = int(clock() * 1000)
    try:
        since_ms = parse_since(args.since, now_ms)
    except ValueError as exc:
        print(f"mqtt-actions inspect: {exc}", file=err)
        return 2
    device: str | None = args.device
    types: list[str] | None = args.types
    as_json = bool(getattr(args, "json", False))
    printer = JsonLines(out) if as_json else Table(out, colour=wants_colour(out, env))

    batches = inspector.follow(
        inspector_query,
        device=device,
        types=types,
        since_ms=since_ms,
        limit=args.limit,
        poll_seconds=poll_seconds,
        clock=clock,
        sleep=sleep,
        max_polls=max_iterations if args.follow else 0,
    )
    entries = next(batches)
    printer.start()
    printer.rows(entries)
    if not entries and not as_json and not args.follow:
        print(_nothing_found(inspector_query, device, types), file=err)
    if not args.follow:
        return 0
    try:
        for fresh in batches:
            printer.rows(fresh)
    except KeyboardInterrupt:
        out.write("\n")  # what was printed stays; the shell sees a Ctrl-C, as after `tail -f`
        return EXIT_INTERRUPTED
    return 0


def _nothing_found(
    query: InspectorQuery[Entry], device: str | None, types: list[str] | None
) -> str:
    """Why the table is empty: the range, or a device with no entries at all."""
    if device is None:
        return "no inspector entries in that range (try a longer --since)"
    latest = inspector.latest(query, device=device, types=types)
    if latest is not None:
        when = datetime.fromtimestamp(latest.time / 1000, tz=UTC).isoformat(timespec="seconds")
        return (
            f"no inspector entries for {device!r} in that range; its latest is from {when}: "
            "try a longer --since"
        )
    return (
        f"no inspector entries for {device!r} at all: it never connected or published here, or "
        "its entries have expired; `mqtt-actions inspect` (no --device) lists the devices seen"
    )


def wants_colour(out: TextIO, env: Mapping[str, str]) -> bool:
    """ANSI colours only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return out.isatty() and not env.get("NO_COLOR")


class JsonLines:
    def __init__(self, out: TextIO) -> None:
        self._out = out

    def start(self) -> None:
        return

    def rows(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            self._out.write(json.dumps(entry.model_dump(mode="json"), ensure_ascii=False) + "\n")
        self._out.flush()


class Table:
    def __init__(self, out: TextIO, *, colour: bool) -> None:
        self._out = out
        self._colour = colour

    def start(self) -> None:
        header = (
            f"{'TIME (UTC)':<23}  {'DEVICE':<{DEVICE_WIDTH}}  {'TYPE':<{TYPE_WIDTH}}  QOS  DETAILS"
        )
        self._out.write(self._paint(header, "\033[1m") + "\n")

    def rows(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            self._out.write(self.row(entry) + "\n")
        self._out.flush()

    def row(self, entry: Entry) -> str:
        when = format_time(entry.time)
        device = f"{_safe(entry.device):<{DEVICE_WIDTH}}"
        kind = self._paint(f"{entry.type:<{TYPE_WIDTH}}", TYPE_COLOURS.get(entry.type, ""))
        qos = f"{NO_QOS if entry.qos is None else entry.qos:^3}"
        details = describe_entry(entry)
        if entry.type == "action":
            outcome = str(entry.details.get("outcome", ""))
            details = self._paint(details, OUTCOME_COLOURS.get(outcome, ""))
        return f"{self._paint(when, DIM)}  {device}  {kind}  {qos}  {details}"

    def _paint(self, text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if self._colour and code else text


def format_time(time_ms: int) -> str:
    moment = datetime.fromtimestamp(time_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{time_ms % 1000:03d}"


def describe_entry(entry: Entry) -> str:
    """One readable line of what happened (control characters escaped)."""
    d = entry.details
    parts: list[str]
    match entry.type:  # EntryType values (a StrEnum's members match them too)
        case "connect":
            parts = [f"ip {d.get('ip') or '?'}", f"session {_short(entry.session)}"]
            parts.append(f"version {entry.version}")
        case "disconnect":
            by = "by the client" if d.get("client_initiated") else "not by the client"
            parts = [str(d.get("reason")), by, f"last will: {d.get('last_will_note')}"]
            parts.append(f"version {entry.version}")
        case "connect_failed":
            parts = [str(d.get("reason")), f"ip {d.get('ip') or '?'}"]
        case "subscribe" | "unsubscribe":
            parts = ["topics " + ", ".join(str(t) for t in d.get("topics", []))]
        case "publish":
            parts = [
                str(d.get("topic")),
                f"{d.get('size')} B",
                _count(d.get("points"), "point"),
                _count(d.get("matched"), "action"),
            ]
            if d.get("hops"):
                parts.append(f"hop {d['hops']}")
            if d.get("by"):
                parts.append(f"by {str(d['by']).replace('/', ' ', 1)}")
            binary = "binary, base64 " if d.get("encoding") == "base64" else ""
            parts.append(binary + _preview(str(d.get("preview", ""))))
        case "action":
            text = f"{d.get('action_id')} ({d.get('action_type')}) {d.get('outcome')}"
            if d.get("reason"):
                text += f": {d['reason']}"
            parts = [text]
        case _:  # a type this version does not know (a newer stack's): its details as they are
            parts = [json.dumps(d, ensure_ascii=False, default=str)]
    if d.get("thing"):
        parts.append(f"thing {d['thing']}")
    return _safe(" · ".join(parts))


def _count(value: Any, noun: str) -> str:
    return f"{value} {noun}" + ("" if value == 1 else "s")


def _short(session: str | None) -> str:
    return session[:8] if session else "?"


def _preview(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def _safe(text: str) -> str:
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
