"""Every client gets a clear answer: a client speaking MQTT 5 or MQTT 3.1 is refused at once with
the CONNACK it understands, one log line and a connect_failed inspector entry; a client id taken
over by a second connection has its Last Will delivered, as IoT Core does; a Last Will publish
has its own log line. Real third-party clients: mosquitto_pub and paho-mqtt."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from mqtt_actions.adapters.inspector import DynamoInspector
from tests.e2e.conftest import Client, LocalStack, mosquitto_pub, wait_until
from tests.support.mqtt_clients import stop_loop

pytestmark = pytest.mark.e2e

ANSWER_TIMEOUT = 10.0  # amqtt alone left an MQTT 5 client waiting 12-15 s, then closed


def _inspector_entries(stack: LocalStack, device: str, kind: str) -> list[Any]:
    inspector = DynamoInspector(stack.outputs["InspectorTableName"], stack.client("dynamodb"), 1)
    return [e for e in inspector.query(device=device) if str(e.type) == kind]


@pytest.mark.parametrize(
    ("version", "spoken"), [("mqttv5", "MQTT 5"), ("mqttv31", "MQTT 3.1")], ids=["5", "3.1"]
)
def test_an_unsupported_protocol_version_is_refused_at_once_with_a_clear_answer(
    stack: LocalStack, connect: Callable[[str], Client], version: str, spoken: str
) -> None:
    watcher = connect(f"proto-watcher-{version}")
    device = f"proto-{version}"
    watcher.subscribe(f"$aws/events/presence/connect_failed/{device}")

    done = subprocess.run(  # noqa: S603 - our own arguments
        [
            *(mosquitto_pub(), "-h", stack.host, "-p", str(stack.mqtt_port)),
            *("-V", version, "-i", device, "-t", "proto/x", "-m", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=ANSWER_TIMEOUT,
        check=False,
    )

    assert done.returncode != 0
    assert "protocol version" in done.stderr.lower(), done.stderr
    (event,) = [json.loads(m.payload) for m in watcher.messages(1)]
    assert (event["eventType"], event["clientId"]) == ("connect_failed", device)
    assert event["connectFailureReason"] == "UNSUPPORTED_PROTOCOL_VERSION"
    wait_until(
        lambda: stack.log_has(rf"conn {device} refused: {spoken} from .*speaks MQTT 3\.1\.1"),
        "one log line naming the protocol",
    )
    wait_until(lambda: _inspector_entries(stack, device, "connect_failed"), "the inspector entry")
    assert not stack.log_has("Traceback"), "a client's behaviour left a traceback in the log"


def test_a_client_id_taken_over_delivers_the_first_connections_last_will(
    stack: LocalStack, connect: Callable[[str], Client]
) -> None:
    watcher = connect("dup-watcher")
    watcher.subscribe("dup/will")
    first = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dup-device")
    first.will_set("dup/will", b"first connection gone", qos=1)
    first.reconnect_delay_set(60, 120)  # no automatic reconnect fight
    first.connect(stack.host, stack.mqtt_port, keepalive=30)
    first.loop_start()
    wait_until(lambda: stack.log_has(r"conn dup-device connected"), "the first connection")
    second = connect("dup-device")
    try:
        (will,) = watcher.messages(1)
        assert will.payload == b"first connection gone"
        wait_until(
            lambda: stack.log_has(r"will dup-device -> dup/will \(21 B, qos 1\)"),
            "the Last Will's own log line",
        )
        second.publish("dup/still-works", b"1")
    finally:
        stop_loop(first)


def test_a_last_will_after_a_lost_connection_is_delivered_and_logged(
    stack: LocalStack, connect: Callable[[str], Client]
) -> None:
    watcher = connect("will-watcher")
    watcher.subscribe("will/+")
    device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="will-device")
    device.will_set("will/gone", b"bye", qos=0)
    device.connect(stack.host, stack.mqtt_port, keepalive=30)
    device.loop_start()
    wait_until(lambda: stack.log_has(r"conn will-device connected"), "the connection")
    stop_loop(device)
    device.socket().close()  # type: ignore[union-attr]  # gone without a DISCONNECT
    (will,) = watcher.messages(1)
    assert (will.topic, will.payload) == ("will/gone", b"bye")
    wait_until(lambda: stack.log_has(r"will will-device -> will/gone \(3 B, qos 0\)"), "log line")


def test_the_inspector_records_qos_and_a_devices_entries_in_the_order_they_happened(
    stack: LocalStack,
) -> None:
    # A QoS 0 publish and a QoS 1 publish, then an immediate DISCONNECT: the disconnect used to
    # be stamped at the same ms as the last publish (and sorted before it), QoS was "—".
    for attempt in range(5):
        device = f"order-device-{attempt}"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device)
        client.connect(stack.host, stack.mqtt_port, keepalive=30)
        client.loop_start()
        client.publish("order/zero", b"0", qos=0)
        client.publish("order/one", b"1", qos=1).wait_for_publish(timeout=10)
        client.disconnect()
        stop_loop(client)

        def entries(device: str = device) -> list[Any] | None:
            inspector = DynamoInspector(
                stack.outputs["InspectorTableName"], stack.client("dynamodb"), 1
            )
            found = inspector.query(device=device)
            kinds = [str(e.type) for e in found]
            return found if kinds.count("publish") == 2 and "disconnect" in kinds else None

        found = wait_until(entries, f"{device}'s publishes and disconnect")
        kinds = [str(e.type) for e in found]
        assert kinds == ["connect", "publish", "publish", "disconnect"], kinds
        assert sorted(e.qos for e in found if str(e.type) == "publish") == [0, 1]


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connects and closes
        b"\x10\x20\x00\x04MQ",  # closes mid-CONNECT
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # not MQTT at all
        b"\x10\xff\xff\xff\xff\x7f",  # a malformed remaining length
        b"\x30\x05\x00\x01ab",  # a PUBLISH before any CONNECT
    ],
    ids=["nothing", "half-connect", "http", "bad-length", "publish-first"],
)
def test_a_misbehaving_client_leaves_no_traceback(stack: LocalStack, sent: bytes) -> None:
    before = len(stack.lines)
    with socket.create_connection((stack.host, stack.mqtt_port), timeout=10) as sock:
        sock.sendall(sent)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            while sock.recv(1024):
                pass
    # The broker is still there for everyone else, and said nothing alarming about this one.
    probe = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"after-{len(sent)}")
    probe.connect(stack.host, stack.mqtt_port, keepalive=30)
    probe.disconnect()
    # The probe's disconnect is logged after everything the hostile connection caused.
    wait_until(lambda: stack.log_has(rf"disc after-{len(sent)} disconnected"), "the probe")
    assert not [line for line in stack.lines[before:] if "Traceback" in line]
