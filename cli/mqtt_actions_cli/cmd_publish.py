"""`mqtt-actions publish TOPIC MESSAGE`: one message, for a quick test."""

from __future__ import annotations

import argparse
import secrets
import sys
from typing import Any

from mqtt_actions.topics import InvalidTopicError, validate_topic
from mqtt_actions_cli.common import add_command
from mqtt_actions_cli.errors import EXIT_OK, UsageError
from mqtt_actions_cli.mqtt import publish_once
from mqtt_actions_cli.output import emit, note

MAX_PAYLOAD = 128 * 1024  # IoT Core's limit
MAX_SLASHES = 7  # IoT Core's limit for topics that rules see


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    publish = add_command(
        subparsers,
        "publish",
        summary="publish one MQTT message (local broker, or IoT Core with --stack)",
        description=(
            "Publish MESSAGE on TOPIC, as a device would. Locally it connects to the local\n"
            "stack's broker as --client-id (the device whose bucket insert_bucket fills);\n"
            "with --stack it publishes through IoT Core's data plane (iot-data Publish), where\n"
            "the client id is not yours to choose. MESSAGE '-' reads the payload from stdin.\n"
            "QoS 0 or 1 only: IoT Core has no QoS 2."
        ),
        examples="""
  mqtt-actions publish home/kitchen/temperature '{"variable":"temperature","value":31,"unit":"C"}'
  mqtt-actions publish alarm/door open --qos 1 --client-id door-01
  mqtt-actions publish status/door-01 online --retain
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
    publish.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        validate_topic(args.topic)
    except InvalidTopicError as exc:
        raise UsageError(
            f"TOPIC {args.topic!r}: {exc}",
            hint="publish to a topic name like home/kitchen/temperature; "
            "wildcards + and # belong in actions' filters",
        ) from None
    payload = sys.stdin.buffer.read() if args.message == "-" else args.message.encode("utf-8")
    if len(payload) > MAX_PAYLOAD:
        what = f"payload is {len(payload):,} bytes; IoT Core accepts at most {MAX_PAYLOAD:,}"
        if args.stack:
            raise UsageError(what, hint="send less, or split it into several messages")
        note(f"warning: {what} (the local broker takes it; AWS would not)")
    if args.topic.count("/") > MAX_SLASHES:
        note(
            f"warning: topic has {args.topic.count('/')} slashes; IoT Core allows "
            f"{MAX_SLASHES}, so on AWS no rule (and no action) would see it"
        )
    target = args.get_target()
    if target.is_local:
        client_id = args.client_id or f"mqtt-actions-cli-{secrets.token_hex(3)}"
        publish_once(
            target.mqtt_host,
            target.mqtt_port,
            client_id=client_id,
            topic=args.topic,
            payload=payload,
            qos=args.qos,
            retain=args.retain,
        )
        where = f"{target.mqtt_host}:{target.mqtt_port} as {client_id}"
    else:
        if args.client_id:
            note("warning: --client-id is ignored with --stack (iot-data publishes as the API)")
        client_id = None
        target.client("iot-data").publish(
            topic=args.topic, qos=args.qos, retain=args.retain, payload=payload
        )
        where = f"IoT Core ({target.region})"
    data = {
        "topic": args.topic,
        "bytes": len(payload),
        "qos": args.qos,
        "retain": args.retain,
        "client_id": client_id,
        "target": target.describe(),
    }
    emit(args, data, lambda: f"published {len(payload)} bytes on {args.topic} to {where}")
    return EXIT_OK
