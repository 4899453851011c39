"""Publish one MQTT message as a device would: on the local broker, or through IoT Core's data
plane (iot-data Publish) on a deployed stack.

Locally, without credentials, it connects as the stack's own trusted client (the control API
hands out its password; `local/auth.py`), so it works in every auth mode, as iot-data Publish
with IAM does on AWS; its client id is the device (under `--auth tokens` the stack binds it like
a token device's, refused only when another device's live connection holds it). With
`username`/`password` it connects with those, to try a device's credentials (refused as the
device would be)."""

from __future__ import annotations

import secrets

from pydantic import BaseModel, Field

from mqtt_actions.limits import MAX_MQTT_PAYLOAD, MAX_TOPIC_SLASHES
from mqtt_actions.topics import InvalidTopicError, validate_topic
from mqtt_actions_cli.mqtt import publish_once
from mqtt_actions_cli.ops.errors import UsageError
from mqtt_actions_cli.target import Target


class PublishResult(BaseModel):
    topic: str
    bytes: int
    qos: int
    retain: bool
    client_id: str | None
    target: str
    where: str = Field(exclude=True)
    warnings: list[str] = Field(default_factory=list, exclude=True)


def check(target_is_local: bool, topic: str, payload: bytes) -> list[str]:
    """UsageError for what no broker should get; the warnings for what only AWS refuses."""
    try:
        validate_topic(topic)
    except InvalidTopicError as exc:
        raise UsageError(
            f"TOPIC {topic!r}: {exc}",
            hint="publish to a topic name like home/kitchen/temperature; "
            "wildcards + and # belong in actions' filters",
        ) from None
    warnings: list[str] = []
    if len(payload) > MAX_MQTT_PAYLOAD:
        what = f"payload is {len(payload):,} bytes; IoT Core accepts at most {MAX_MQTT_PAYLOAD:,}"
        if not target_is_local:
            raise UsageError(what, hint="send less, or split it into several messages")
        warnings.append(f"warning: {what} (the local broker takes it; AWS would not)")
    if topic.count("/") > MAX_TOPIC_SLASHES:
        warnings.append(
            f"warning: topic has {topic.count('/')} slashes; IoT Core allows "
            f"{MAX_TOPIC_SLASHES}, so on AWS no rule (and no action) would see it"
        )
    return warnings


def publish(
    target: Target,
    topic: str,
    payload: bytes,
    *,
    qos: int = 0,
    retain: bool = False,
    client_id: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> PublishResult:
    if qos not in (0, 1):
        raise UsageError(f"QoS {qos} is not possible", hint="IoT Core takes QoS 0 or 1")
    if password is not None and not username:
        raise UsageError("a password without a username", hint="give --username too (Token)")
    warnings = check(target.is_local, topic, payload)
    if target.is_local:
        client_id = client_id or f"mqtt-actions-cli-{secrets.token_hex(3)}"
        as_who, refused_hint = "", None
        if username:
            as_who = f" (username {username})"
        elif target.control is not None:
            username, password = target.control.trusted_client()
            refused_hint = (
                f"under `--auth tokens` the stack's own client is bound to device {client_id!r} "
                "like a device: another device's live connection holds that client id; pick "
                "another --client-id (`mqtt-actions devices list` shows the ones in use)"
            )
        publish_once(
            target.mqtt_host,
            target.mqtt_port,
            client_id=client_id,
            topic=topic,
            payload=payload,
            qos=qos,
            retain=retain,
            username=username,
            password=password,
            refused_hint=refused_hint,
        )
        where = f"{target.mqtt_host}:{target.mqtt_port} as {client_id}{as_who}"
    else:
        if username:
            raise UsageError(
                "--username/--password try a device's credentials on the local broker",
                hint="with --stack the message goes through iot-data Publish (your IAM "
                "credentials); to try a device's token connect to the stack's token endpoint "
                "(README: Move a TagoIO device)",
            )
        if client_id:
            warnings.append(
                "warning: --client-id is ignored with --stack (iot-data publishes as the API)"
            )
        client_id = None
        target.client("iot-data").publish(topic=topic, qos=qos, retain=retain, payload=payload)
        where = f"IoT Core ({target.region})"
    return PublishResult(
        topic=topic,
        bytes=len(payload),
        qos=qos,
        retain=retain,
        client_id=client_id,
        target=target.describe(),
        where=where,
        warnings=warnings,
    )
