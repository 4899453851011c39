"""`mqtt-actions bucket query`: a device's stored data points, newest first."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from mqtt_actions_cli.common import add_command
from mqtt_actions_cli.errors import EXIT_OK, UsageError
from mqtt_actions_cli.ops.defaults import BUCKET_MAX_LIMIT
from mqtt_actions_cli.output import emit, plural, table, topic_of
from mqtt_actions_cli.timeparse import parse_when

if TYPE_CHECKING:  # loaded when a handler runs, not for --help (main.py)
    from mqtt_actions_cli import reads
else:
    from mqtt_actions_cli.lazy import lazy

    reads = lazy("mqtt_actions_cli.reads")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    group = subparsers.add_parser(
        "bucket",
        help="read a device's bucket (data stored by insert_bucket actions)",
        description="Read the data points insert_bucket actions stored for a device.",
        epilog="run `mqtt-actions bucket query --help` for the options",
    )
    sub = group.add_subparsers(title="bucket commands", metavar="COMMAND", required=True)
    query = add_command(
        sub,
        "query",
        summary="a device's data points, newest first",
        description=(
            "Print the data points stored in DEVICE's bucket, newest first: time, variable,\n"
            "value, unit and the topic they arrived on. The device is the MQTT client id that\n"
            "published (or the bucket an insert_bucket action named with `device:`)."
        ),
        examples="""
  mqtt-actions bucket query sensor-01
  mqtt-actions bucket query sensor-01 --variable temperature --since 1h
  mqtt-actions bucket query sensor-01 --since 2026-11-25T08:00:00Z --until 2026-11-25T09:00:00Z
  mqtt-actions bucket query sensor-01 --limit 5 --json --stack mqtt-actions-prod""",
    )
    query.add_argument("device", metavar="DEVICE", help="the device (bucket) to read")
    query.add_argument("--variable", metavar="V", help="only this variable (e.g. temperature)")
    query.add_argument(
        "--since", metavar="WHEN", help="from this time: a duration ago (15m, 1h, 2d) or ISO-8601"
    )
    query.add_argument("--until", metavar="WHEN", help="up to this time (same forms as --since)")
    query.add_argument(
        "--limit", metavar="N", type=int, default=50, help="at most N points (default 50)"
    )
    query.set_defaults(func=run_query)


def run_query(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= BUCKET_MAX_LIMIT:
        raise UsageError(f"--limit {args.limit} is out of range", hint=f"use 1-{BUCKET_MAX_LIMIT}")
    since = parse_when(args.since, option="--since") if args.since else None
    until = parse_when(args.until, option="--until") if args.until else None
    if since is not None and until is not None and since > until:
        raise UsageError("--since is after --until", hint="swap them")
    page = reads.bucket_page(  # on the local stack: answered by it, no boto3 here (reads.py)
        args.get_target(),
        args.device,
        variable=args.variable,
        since_ms=since,
        until_ms=until,
        limit=args.limit,
    )
    points: list[dict[str, Any]] = page["points"]

    def render() -> str:
        if not points:
            what = f"variable {args.variable!r} of " if args.variable else ""
            return f"no data points for {what}device {args.device!r} in that time range"
        head = table(
            ["time", "variable", "value", "unit", "topic"],
            [
                (
                    p["time_iso"],
                    p.get("variable"),
                    p.get("value"),
                    p.get("unit"),
                    topic_of(p),
                )
                for p in points
            ],
        )
        return (
            f"{head}\n{plural(len(points), 'data point')} of device {args.device!r}, newest first"
        )

    emit(args, page, render)
    return EXIT_OK
