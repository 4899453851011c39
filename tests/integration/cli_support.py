"""Helpers for the CLI's tests: run `main`, a Target on moto, a fake control API, a tiny broker."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from mqtt_actions_cli.main import main
from mqtt_actions_cli.target import Target
from tests.integration.conftest import REGION, Aws
from tests.support.http_servers import send_json, serving

Invoke = Callable[[str, Mapping[str, Any]], dict[str, Any]]


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def run(capsys: pytest.CaptureFixture[str], argv: list[str], target: Target | None = None) -> Ran:
    """`mqtt-actions ARGV`, with `target` instead of resolving one (when given)."""
    capsys.readouterr()
    factory = None if target is None else (lambda _args: target)
    code = main(argv, target_factory=factory)
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def moto_target(
    aws_env: Aws, *, kind: str = "local", invoke: Invoke | None = None, **extra: str
) -> Target:
    """A Target whose outputs name the tables and queue aws_env created on moto."""
    outputs = {
        "BucketTableName": aws_env.tables["BucketTable"],
        "ActionsTableName": aws_env.tables["ActionsTable"],
        "IdempotencyTableName": aws_env.tables["IdempotencyTable"],
        "DeadLetterQueueUrl": aws_env.queues["DeadLetterQueue"],
        "DevicesTableName": aws_env.tables["DevicesTable"],
        "RouterFunctionName": "RouterFunction" if kind == "local" else "test-router",
        "MqttHost": "127.0.0.1",
        "MqttPort": "1883",
        "DeviceBindingsTableName": aws_env.tables["DeviceBindingsTable"],
        **extra,
    }
    return Target(
        kind=kind,
        name="local" if kind == "local" else "test-stack",
        outputs=outputs,
        region=REGION,
        client_factory=lambda service: boto3.client(service, region_name=REGION),  # type: ignore[call-overload]
        invoke=invoke,
    )


# ---------------------------------------------------------------------------- control API


@dataclass
class FakeControl:
    """The local stack's control API, on 127.0.0.1 and a free port."""

    outputs: dict[str, Any]
    outbox: list[dict[str, Any]] = field(default_factory=list)
    invocations: list[tuple[str, Any]] = field(default_factory=list)
    invoke_result: dict[str, Any] = field(default_factory=lambda: {"matched": 0, "outcomes": {}})
    invoke_status: int = 200
    port: int = 0


@contextmanager
def fake_control(outputs: dict[str, Any]) -> Iterator[FakeControl]:
    state = FakeControl(outputs=outputs)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _send(self, status: int, body: Any) -> None:
            send_json(self, status, body)

        def do_GET(self) -> None:
            routes = {"/outputs": state.outputs, "/outbox": state.outbox, "/health": {"ok": True}}
            if self.path in routes:
                self._send(200, routes[self.path])
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if not self.path.startswith("/invoke/"):
                self._send(404, {"error": "not found"})
                return
            state.invocations.append((self.path.removeprefix("/invoke/"), body))
            self._send(state.invoke_status, state.invoke_result)

        def log_message(self, *args: Any) -> None:
            return

    with serving(Handler) as port:
        state.port = port
        yield state


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# ---------------------------------------------------------------------------- MQTT broker


@dataclass
class Received:
    client_id: str
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass
class FakeBroker:
    """Just enough MQTT 3.1.1 for one client to connect, publish (QoS 0/1) and leave."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    refuse_connect: bool = False


def _read_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _read_packet(conn: socket.socket) -> tuple[int, bytes]:
    header = _read_exact(conn, 1)[0]
    length, shift = 0, 0
    for _ in range(4):
        byte = _read_exact(conn, 1)[0]
        length += (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return header, _read_exact(conn, length)


def _serve_client(conn: socket.socket, broker: FakeBroker) -> None:
    client_id = ""
    with conn:
        conn.settimeout(10)
        for _ in range(100):  # bounded: a test client sends a handful of packets
            try:
                header, body = _read_packet(conn)
            except (ConnectionError, TimeoutError, OSError):
                return
            kind = header >> 4
            if kind == 1:  # CONNECT: protocol name, level, flags, keepalive, client id
                name_len = int.from_bytes(body[0:2])
                at = 2 + name_len + 4
                id_len = int.from_bytes(body[at : at + 2])
                client_id = body[at + 2 : at + 2 + id_len].decode()
                conn.sendall(bytes([0x20, 2, 0, 5 if broker.refuse_connect else 0]))
            elif kind == 3:  # PUBLISH
                qos, retain = (header >> 1) & 3, bool(header & 1)
                topic_len = int.from_bytes(body[0:2])
                topic = body[2 : 2 + topic_len].decode()
                rest = body[2 + topic_len :]
                packet_id = b""
                if qos:
                    packet_id, rest = rest[:2], rest[2:]
                # recorded before the PUBACK: the client may return (and the test look) at once
                broker.received.append(Received(client_id, topic, rest, qos, retain))
                if qos:
                    conn.sendall(bytes([0x40, 2]) + packet_id)
            elif kind == 12:  # PINGREQ
                conn.sendall(bytes([0xD0, 0]))
            elif kind == 14:  # DISCONNECT
                return


@contextmanager
def fake_broker() -> Iterator[FakeBroker]:
    broker = FakeBroker()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.1)
    broker.port = server.getsockname()[1]
    stop = threading.Event()
    workers: list[threading.Thread] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=_serve_client, args=(conn, broker))
            worker.start()
            workers.append(worker)

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        yield broker
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
        for worker in workers:
            worker.join(timeout=5)
