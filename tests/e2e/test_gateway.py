"""The legacy-port gateway, end to end: a device speaking plain MQTT (Debian's mosquitto_pub, no
TLS) reaches the stack through haproxy with the repository's configuration, which adds TLS, SNI
and ALPN mqtt in front of the broker's TLS listener; the device's own CONNECT (username Token,
its token, its client id) reaches the authorizer unchanged. The TLS listener itself refuses
what IoT Core's token endpoint refuses: no SNI naming the domain, no ALPN mqtt."""

from __future__ import annotations

import json
import re
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from tests.e2e.conftest import LocalStack, mosquitto_pub, running_stack, wait_until
from tests.e2e.test_device_tokens import cli, inspector
from tests.support.mqtt_clients import stop_loop

pytestmark = pytest.mark.e2e

STORE = """
actions:
  - {id: gateway-store, topics: ["gw-sensor/#"], type: insert_bucket}
"""
DOMAIN = "iot.mqtt-actions.localhost"


@pytest.fixture(scope="module")
def gateway_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("state"), "--fresh", "--auth", "tokens") as local:
        assert "GatewayPort" in local.outputs, "\n".join(local.lines[-30:])
        yield local


def gateway_publish(stack: LocalStack, client_id: str, token: str, topic: str, payload: str) -> Any:
    """mosquitto_pub without TLS to the gateway's plain port, as a TagoIO device on 1883 does."""
    return subprocess.run(  # noqa: S603 - Debian's mosquitto_pub
        [
            mosquitto_pub(),
            *("-h", stack.outputs["GatewayHost"], "-p", str(stack.outputs["GatewayPort"])),
            *("-V", "mqttv311", "-i", client_id, "-u", "Token", "-P", token),
            *("-t", topic, "-m", payload, "-q", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def connect_packet(client_id: str, username: str, password: str) -> bytes:
    """An MQTT 3.1.1 CONNECT with username and password (clean session, keepalive 30 s)."""

    def field(text: str) -> bytes:
        data = text.encode()
        return len(data).to_bytes(2, "big") + data

    body = field("MQTT") + bytes([4, 0xC2, 0, 30]) + field(client_id)
    body += field(username) + field(password)
    return bytes([0x10, len(body)]) + body


def tls_connect(stack: LocalStack, *, sni: str | None, alpn: list[str] | None) -> ssl.SSLSocket:
    """A TLS connection to the broker's TLS listener, verified against the local CA."""
    context = ssl.create_default_context(cafile=stack.outputs["MqttCaFile"])
    context.check_hostname = sni is not None
    if alpn is not None:
        context.set_alpn_protocols(alpn)
    raw = socket.create_connection((stack.host, stack.outputs["MqttTlsPort"]), timeout=10)
    try:
        return context.wrap_socket(raw, server_hostname=sni)
    except BaseException:
        raw.close()
        raise


def connack(sock: ssl.SSLSocket, token: str) -> bytes:
    """What the listener answers to a token CONNECT (b'' when it closed the connection)."""
    sock.sendall(connect_packet("tls-direct-1", "Token", token))
    try:
        return sock.recv(4)
    except (ConnectionError, ssl.SSLError):
        return b""


def test_the_banner_shows_the_tls_listener_and_the_gateway(gateway_stack: LocalStack) -> None:
    tls_port, gateway_port = (
        gateway_stack.outputs["MqttTlsPort"],
        gateway_stack.outputs["GatewayPort"],
    )
    assert gateway_stack.log_has(
        rf"^  MQTT over TLS mqtts://127\.0\.0\.1:{tls_port} .*SNI {DOMAIN}"
    )
    assert gateway_stack.log_has(rf"^  gateway +mqtt://127\.0\.0\.1:{gateway_port} .*HAProxy")


def test_a_plain_mqtt_device_publishes_through_the_gateway_under_its_own_name(
    gateway_stack: LocalStack,
) -> None:
    gateway_stack.apply(STORE)
    made = cli(gateway_stack, "devices", "create", "gw-sensor", "--token")
    # Wake, publish, vanish, as devices do: mosquitto_pub disconnects right after its PUBACK,
    # and the disconnect event races the PUBLISH through the stack (issue #21: either order).
    sent = gateway_publish(
        gateway_stack, "ESP32-gw", made["token"], "gw-sensor/temp", '{"variable": "t", "value": 7}'
    )
    assert sent.returncode == 0, sent.stderr
    rows = wait_until(lambda: gateway_stack.bucket("gw-sensor"), "a row in gw-sensor's bucket")
    assert [(r["variable"], r["value"]) for r in rows] == [("t", 7)]
    assert gateway_stack.dead_letters() == []
    log = inspector(gateway_stack)
    connects = wait_until(
        lambda: [
            e
            for e in log.query(device="gw-sensor")
            if e.type == "connect" and e.details.get("client_id") == "ESP32-gw"
        ],
        "the inspector's connect of gw-sensor with client id ESP32-gw",
    )
    assert connects[0].details["client_id"] == "ESP32-gw"
    # haproxy's own log line for the connection, relayed by the stack
    assert wait_until(lambda: gateway_stack.log_has(r"gw   .*mqtt token_endpoint/iot"), "gw log")


def test_a_wrong_token_is_refused_through_the_gateway(gateway_stack: LocalStack) -> None:
    sent = gateway_publish(
        gateway_stack, "intruder-gw", "0f5c9f7e-0000-4000-8000-00000000dead", "gw-sensor/x", "1"
    )
    assert sent.returncode != 0
    assert re.search(r"not authori[sz]ed", sent.stderr + sent.stdout, re.IGNORECASE), sent.stderr
    log = inspector(gateway_stack)
    found = wait_until(
        lambda: [e for e in log.query(device="intruder-gw") if e.type == "connect_failed"],
        "a connect_failed entry for intruder-gw",
    )
    assert "AUTHORIZATION_FAILED" in json.dumps(found[0].details)


def test_revoke_disconnects_a_device_connected_through_the_gateway(
    gateway_stack: LocalStack,
) -> None:
    made = cli(gateway_stack, "devices", "create", "gw-revoked", "--token")
    paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="gw-revokee-1")
    paho.username_pw_set("Token", made["token"])
    connected, disconnected = threading.Event(), threading.Event()
    paho.on_connect = lambda _c, _u, _f, reason, _p: None if reason.is_failure else connected.set()
    paho.on_disconnect = lambda *_: disconnected.set()
    paho.connect(gateway_stack.outputs["GatewayHost"], gateway_stack.outputs["GatewayPort"], 30)
    paho.loop_start()
    try:
        assert connected.wait(10), "no successful CONNACK through the gateway"
        done = cli(gateway_stack, "devices", "revoke", "gw-revoked")
        assert "gw-revokee-1" in done["closed"]
        assert disconnected.wait(10), "revoke did not close the connection through the gateway"
    finally:
        paho.disconnect()
        stop_loop(paho)


def test_the_tls_listener_takes_sni_and_alpn_mqtt(gateway_stack: LocalStack) -> None:
    made = cli(gateway_stack, "devices", "create", "gw-direct", "--token")
    with tls_connect(gateway_stack, sni=DOMAIN, alpn=["mqtt"]) as sock:
        assert sock.selected_alpn_protocol() == "mqtt"
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        assert connack(sock, made["token"]) == bytes([0x20, 2, 0, 0])


def test_the_tls_listener_refuses_a_handshake_without_sni(gateway_stack: LocalStack) -> None:
    # asyncio drops the connection before OpenSSL's alert is written: the client sees EOF.
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_connect(gateway_stack, sni=None, alpn=["mqtt"])
    assert wait_until(lambda: gateway_stack.log_has(r"tls  refused: no SNI"), "the refusal logged")


def test_the_tls_listener_refuses_sni_naming_another_domain(gateway_stack: LocalStack) -> None:
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_connect(gateway_stack, sni="localhost", alpn=["mqtt"])
    assert wait_until(lambda: gateway_stack.log_has(r"tls  refused: SNI 'localhost'"), "logged")


@pytest.mark.parametrize("alpn", [None, ["x-amzn-mqtt-ca"]], ids=["no-alpn", "other-alpn"])
def test_the_tls_listener_refuses_a_connection_without_alpn_mqtt(
    gateway_stack: LocalStack, alpn: list[str] | None
) -> None:
    made = cli(gateway_stack, "devices", "create", f"gw-alpn-{alpn is None}", "--token")
    with tls_connect(gateway_stack, sni=DOMAIN, alpn=alpn) as sock:
        assert sock.selected_alpn_protocol() is None
        assert connack(sock, made["token"]) == b""  # closed: no CONNACK, no authorizer call
    assert wait_until(lambda: gateway_stack.log_has(r"tls  .* refused: no ALPN 'mqtt'"), "log")
