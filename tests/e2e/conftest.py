"""The local stack (`mqtt-actions local`) in a subprocess on free ports, and real MQTT clients.

The stack runs this checkout's code (PYTHONPATH), exactly as `make run` starts it, and is
reached only through its public surfaces: MQTT, the AWS endpoint (moto) and the control API."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import paho.mqtt.client as mqtt
import pytest

from mqtt_actions.adapters.actions_store import DynamoActionsStore
from mqtt_actions.adapters.bucket import DynamoBucket
from mqtt_actions_cli.actions_file import load_actions_file
from scripts.child_process import Child
from tests.support.mqtt_clients import stop_loop
from tests.support.webhook import Hook, receiving

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
START_TIMEOUT = 90.0
WAIT_TIMEOUT = 30.0
_READY = re.compile(
    r"^ready: mqtt://(?P<host>[\d.]+):(?P<mqtt>\d+) aws=(?P<aws>\S+) control=(?P<ctl>\S+)"
)


def mosquitto_pub() -> str:
    """Debian's mosquitto_pub, the third-party client these tests drive: a failure, not a skip,
    when it is missing (`make test` installs it; by hand: apt-get install mosquitto-clients)."""
    path = shutil.which("mosquitto_pub")
    if path is None:
        pytest.fail(
            "mosquitto_pub not found: run `make sysdeps` (apt-get install mosquitto-clients)"
        )
    return path


def wait_until[T](probe: Callable[[], T | None], what: str, timeout: float = WAIT_TIMEOUT) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class LocalStack:
    host: str
    mqtt_port: int
    aws_url: str
    control_url: str
    lines: list[str]
    outputs: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None

    def kill(self) -> None:
        """kill -9: no chance to save anything."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    # -- control API
    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 endpoint
            self.control_url + path, data=data, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read() or b"null")

    def get(self, path: str) -> Any:
        status, value = self.request("GET", path)
        assert status == 200, (path, status, value)
        return value

    def outbox(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [i for i in self.get("/outbox") if kind is None or i["kind"] == kind]

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """`mqtt-actions ARGV` against this stack, as a user would run it."""
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("cli", "layers/core", ".")),
            "MQTT_ACTIONS_CONTROL_PORT": self.control_url.rsplit(":", 1)[1],
        }
        return subprocess.run(  # noqa: S603 - our own command
            [sys.executable, "-m", "mqtt_actions_cli.main", *argv],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    # -- AWS (moto)
    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.aws_url, region_name=REGION)  # type: ignore[call-overload]

    def apply(self, actions_yaml: str) -> None:
        store = DynamoActionsStore(self.outputs["ActionsTableName"], self.client("dynamodb"))
        store.put_all(load_actions_file(actions_yaml))

    def bucket(self, device: str, variable: str | None = None) -> list[dict[str, Any]]:
        bucket = DynamoBucket(self.outputs["BucketTableName"], self.client("dynamodb"))
        return bucket.query(device, variable=variable)

    def bucket_all(self, device: str) -> list[dict[str, Any]]:
        """Every row of a device's bucket (paged; no limit)."""
        bucket = DynamoBucket(self.outputs["BucketTableName"], self.client("dynamodb"))
        return bucket.query(device, limit=1_000_000)

    def count_rows(self, devices: list[str]) -> int:
        """How many bucket rows these devices have (DynamoDB COUNT queries, paged)."""
        dynamodb, table, total = self.client("dynamodb"), self.outputs["BucketTableName"], 0
        for device in devices:
            kwargs: dict[str, Any] = {
                "TableName": table,
                "KeyConditionExpression": "device = :d",
                "ExpressionAttributeValues": {":d": {"S": device}},
                "Select": "COUNT",
            }
            while True:
                page = dynamodb.query(**kwargs)
                total += page["Count"]
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return total

    def dead_letters(self) -> list[dict[str, Any]]:
        """Receive (and delete) what is in the dead-letter queue now."""
        sqs, url = self.client("sqs"), self.outputs["DeadLetterQueueUrl"]
        out: list[dict[str, Any]] = []
        for _ in range(50):
            page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
            messages = page.get("Messages", [])
            if not messages:
                break
            for message in messages:
                out.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return out

    def log_has(self, pattern: str) -> bool:
        return any(re.search(pattern, line) for line in list(self.lines))


@contextlib.contextmanager
def running_stack(state_dir: Path, *options: str) -> Iterator[LocalStack]:
    """`mqtt-actions local` on free ports with its state in `state_dir`; stopped with Ctrl-C
    (SIGINT) at the end unless the test killed it (`local.kill()`)."""
    command = [sys.executable, "-m", "mqtt_actions_cli.main", "local"]
    command += ["--mqtt-port", "0", "--aws-port", "0", "--control-port", "0"]
    command += ["--state-dir", str(state_dir), *options]
    child = Child(command)
    match = child.wait_for(_READY, START_TIMEOUT)
    if match is None:
        child.process.kill()
        child.stop()
        pytest.fail("the local stack did not become ready:\n" + child.tail())
    local = LocalStack(
        host=match["host"],
        mqtt_port=int(match["mqtt"]),
        aws_url=match["aws"],
        control_url=match["ctl"],
        lines=child.lines,
        process=child.process,
    )
    local.outputs = local.get("/outputs")
    try:
        yield local
    finally:
        killed = child.process.poll() is not None
        child.stop()
        if not killed:
            assert child.lines[-1:] == ["stopped"], child.tail(20)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # The default ActionPublishPrefixes plus `tago`, as a team moving TagoIO actions that
    # publish under tago/... deploys it (test_tagoio_import).
    prefixes = "ActionPublishPrefixes=ack,alerts,out,processed,tago"
    with running_stack(tmp_path_factory.mktemp("state"), "--fresh", "--param", prefixes) as local:
        yield local


@pytest.fixture(autouse=True)
def _no_traceback_in_the_shared_stack(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that uses the session's shared stack fails if the stack logged a traceback while it
    ran, with the traceback: otherwise a later test that checks the log takes the blame."""
    if "stack" not in request.fixturenames:
        yield
        return
    local: LocalStack = request.getfixturevalue("stack")
    start = len(local.lines)
    yield
    new = local.lines[start:]
    at = [i for i, line in enumerate(new) if "Traceback" in line]
    if at:
        end = next((i for i in range(at[0] + 1, len(new)) if not new[i].startswith(" ")), at[0])
        shown = [*new[at[0] : at[0] + 6], "  ...", *new[max(at[0] + 6, end - 12) : end + 1]]
        pytest.fail("the local stack logged a traceback:\n" + "\n".join(shown))


@dataclass
class Client:
    """A paho-mqtt 2.x client with its received messages in a queue."""

    paho: mqtt.Client
    received: queue.Queue[mqtt.MQTTMessage] = field(default_factory=queue.Queue)

    def subscribe(self, topic: str, qos: int = 1) -> None:
        done = threading.Event()
        self.paho.on_subscribe = lambda *_: done.set()
        self.paho.subscribe(topic, qos)
        assert done.wait(10), f"no SUBACK for {topic}"

    def unsubscribe(self, topic: str) -> None:
        done = threading.Event()
        self.paho.on_unsubscribe = lambda *_: done.set()
        self.paho.unsubscribe(topic)
        assert done.wait(10), f"no UNSUBACK for {topic}"

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> None:
        info = self.paho.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), f"publish to {topic} not acknowledged"

    def messages(self, count: int, timeout: float = WAIT_TIMEOUT) -> list[mqtt.MQTTMessage]:
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"received {len(out)} of {count} messages")
            with contextlib.suppress(queue.Empty):
                out.append(self.received.get(timeout=remaining))
        return out


@pytest.fixture
def connect(stack: LocalStack) -> Iterator[Callable[[str], Client]]:
    """`connect(client_id)` -> a connected client; all are disconnected after the test."""
    clients: list[Client] = []

    def make(client_id: str) -> Client:
        paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        client = Client(paho)
        connected = threading.Event()
        paho.on_connect = lambda *_: connected.set()
        paho.on_message = lambda _c, _u, message: client.received.put(message)
        paho.connect(stack.host, stack.mqtt_port, keepalive=30)
        paho.loop_start()
        clients.append(client)
        assert connected.wait(10), f"{client_id} did not connect"
        return client

    yield make
    for client in clients:
        client.paho.disconnect()
        stop_loop(client.paho)


@pytest.fixture
def webhook() -> Iterator[Hook]:
    with receiving() as hook:
        yield hook
