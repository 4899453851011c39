"""`mqtt-actions publish TOPIC MESSAGE`: one message, for a quick test."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from mqtt_actions_cli.common import add_command
from mqtt_actions_cli.errors import EXIT_OK
from mqtt_actions_cli.output import emit, note

if TYPE_CHECKING:  # loaded when a handler runs, not for --help (main.py)
    from mqtt_actions_cli.ops import publish as ops_publish
else:
    from mqtt_actions_cli.lazy import lazy

    ops_publish = lazy("mqtt_actions_cli.ops.publish")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    publish = add_command(
        subparsers,
        "publish",
        summary="publish one MQTT message (local broker, or IoT Core with --stack)",
        description=(
            "Publish MESSAGE on TOPIC, as a device would. Locally it connects to the local\n"
            "stack's broker as --client-id (the device whose bucket insert_bucket fills), as\n"
            "the stack's own trusted client, so it works under `local --auth tokens` too;\n"
            "--username/--password connect with a device's credentials instead, to try them.\n"
            "with --stack it publishes through IoT Core's data plane (iot-data Publish), where\n"
            "the client id is not yours to choose. MESSAGE '-' reads the payload from stdin.\n"
            "QoS 0 or 1 only: IoT Core has no QoS 2."
        ),
        examples="""
  mqtt-actions publish home/kitchen/temperature '{"variable":"temperature","value":31,"unit":"C"}'
  mqtt-actions publish alarm/door open --qos 1 --client-id door-01
  mqtt-actions publish status/door-01 online --retain
  mqtt-actions publish meter-7/reading 42 --client-id meter-7 --username Token --password "$TOKEN"
  head -c 16 /dev/urandom | mqtt-actions publish raw/bytes -
  mqtt-actions publish cmd/valve-3 close --stack mqtt-actions-prod""",
    )
    publish.add_argument("topic", metavar="TOPIC", help="a topic name (no + or # wildcards)")
    publish.add_argument("message", metavar="MESSAGE", help="the payload text, or - for stdin")
    publish.add_argument("--qos", type=int, choices=(0, 1), default=0, help="0 (default) or 1")
    publish.add_argument(
        "--retain", action="store_true", help="the broker keeps it for later subscribers"
    )
    publish.add_argument(
        "--client-id",
        metavar="ID",
        help="MQTT client id for the local broker (default mqtt-actions-cli-<random>)",
    )
    publish.add_argument(
        "--username",
        metavar="U",
        help="connect with these credentials instead of as the stack's own client, to try a "
        "device's (a token device: Token); local only",
    )
    publish.add_argument(
        "--password",
        metavar="P",
        help="the password for --username (a token device: its token)",
    )
    publish.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    payload = sys.stdin.buffer.read() if args.message == "-" else args.message.encode("utf-8")
    ops_publish.check(not args.stack, args.topic, payload)  # refused before contacting anything
    result = ops_publish.publish(
        args.get_target(),
        args.topic,
        payload,
        qos=args.qos,
        retain=args.retain,
        client_id=args.client_id,
        username=args.username,
        password=args.password,
    )
    for warning in result.warnings:
        note(warning)
    emit(
        args,
        result.model_dump(),
        lambda: f"published {result.bytes} bytes on {result.topic} to {result.where}",
    )
    return EXIT_OK
