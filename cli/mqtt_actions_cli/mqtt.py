"""One MQTT publish to a broker (the local stack's), with paho-mqtt: connect, publish, wait for
the PUBACK at QoS 1, disconnect. Every wait is bounded."""

from __future__ import annotations

import threading
from typing import Any

from mqtt_actions_cli.errors import TargetError

TIMEOUT = 10.0


def publish_once(
    host: str,
    port: int,
    *,
    client_id: str,
    topic: str,
    payload: bytes,
    qos: int,
    retain: bool,
    username: str | None = None,
    password: str | None = None,
    timeout: float = TIMEOUT,
    refused_hint: str | None = None,
) -> None:
    """`username`/`password`: the CONNECT's (a device's token, or the stack's own client);
    `refused_hint`: what to do when the broker refuses it (default: about the credentials)."""
    # Imported here: only `publish` needs paho.
    from paho.mqtt.client import Client
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    client = Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv311
    )
    connected = threading.Event()
    answer: dict[str, Any] = {}

    def on_connect(_c: Any, _u: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        answer["reason"] = reason_code
        connected.set()

    client.on_connect = on_connect
    if username is not None:
        client.username_pw_set(username, password)
    broker = f"{host}:{port}"
    try:
        client.connect(host, port, keepalive=30)
    except OSError as exc:
        raise TargetError(
            f"no MQTT broker on {broker} ({exc.strerror or exc})",
            hint="start the local stack with `make run` (or `mqtt-actions local`)",
        ) from None
    client.loop_start()
    try:
        if not connected.wait(timeout):
            raise TargetError(f"the broker on {broker} did not answer CONNECT within {timeout:g} s")
        reason = answer["reason"]
        if reason.is_failure:
            raise TargetError(
                f"the broker on {broker} refused the connection: {reason}",
                hint=refused_hint or _refusal_hint(username),
            )
        info = client.publish(topic, payload, qos=qos, retain=retain)
        try:
            info.wait_for_publish(timeout)
        except (ValueError, RuntimeError) as exc:
            raise TargetError(f"publish to {broker} failed: {exc}") from None
        if not info.is_published():
            raise TargetError(f"the broker on {broker} did not acknowledge within {timeout:g} s")
    finally:
        client.disconnect()
        client.loop_stop()


def _refusal_hint(username: str | None) -> str:
    if username is None:
        return "the broker wants credentials: give --username and --password"
    return (
        "check the credentials: a token device connects with username Token and its token as "
        "password (`mqtt-actions devices list` shows its tokens' state); the local stack checks "
        "them only under `--auth tokens`"
    )
