"""Through the whole local stack (`mqtt-actions local --broker-time-scale 0.1`): a device that goes
silent and a device taken over show up in the inspector with IoT Core's disconnect reasons
(developerguide/life-cycle-events.html), and their Last Wills go out (issue #22)."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from mqtt_actions.adapters.inspector import DynamoInspector
from tests.e2e.conftest import LocalStack, running_stack, wait_until
from tests.support.mqtt_clients import stop_loop
from tests.support.raw_mqtt import RawClient

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scaled_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp("scaled")
    with running_stack(state, "--fresh", "--no-console", "--broker-time-scale", "0.1") as local:
        yield local


def _disconnects(stack: LocalStack, device: str) -> list[dict[str, Any]] | None:
    inspector = DynamoInspector(stack.outputs["InspectorTableName"], stack.client("dynamodb"), 1)
    found = [e.details for e in inspector.query(device=device) if str(e.type) == "disconnect"]
    return found or None


def _mosquitto_sub(stack: LocalStack, topic: str) -> subprocess.Popen[bytes]:
    """Debian's mosquitto_sub waiting for one message on `topic` (a failure if it is missing)."""
    path = shutil.which("mosquitto_sub")
    if path is None:
        pytest.fail(
            "mosquitto_sub not found: run `make sysdeps` (apt-get install mosquitto-clients)"
        )
    command = [
        path,
        "-h",
        stack.host,
        "-p",
        str(stack.mqtt_port),
        "-t",
        topic,
        "-C",
        "1",
        "-q",
        "1",
    ]
    command += ["-k", "1200"]  # 180 s with the stack's timers x 0.1: longer than the test
    return subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603 - a test's own command


def test_a_silent_device_is_disconnected_for_keepalive_with_its_will_in_the_inspector(
    scaled_stack: LocalStack,
) -> None:
    stack = scaled_stack
    watcher = _mosquitto_sub(stack, "status/silent-dev")
    silent = RawClient(stack.mqtt_port)
    try:
        wait_until(lambda: stack.log_has(r"sub  \S+ \+ status/silent-dev"), "its SUBACK")
        silent.connect("silent-dev", keepalive=5, will=("status/silent-dev", b"offline"))
        assert silent.closed_by_broker(timeout=60), "the silent connection was never closed"
        out, _ = watcher.communicate(timeout=30)
    finally:
        silent.close()
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
    assert out.strip() == b"offline"
    [details] = wait_until(lambda: _disconnects(stack, "silent-dev"), "the disconnect entry")
    assert details["reason"] == "MQTT_KEEP_ALIVE_TIMEOUT"
    assert details["last_will"] is True
    assert stack.log_has(r"will silent-dev -> status/silent-dev")


def test_a_device_taken_over_is_a_duplicate_clientid_in_the_inspector(
    scaled_stack: LocalStack,
) -> None:
    stack = scaled_stack
    clients = []
    for _ in range(2):
        connected = threading.Event()
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id="twin-dev",
            clean_session=False,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        client.will_set("status/twin-dev", b"offline", qos=1)
        client.on_connect = lambda *_, done=connected: done.set()
        client.connect(stack.host, stack.mqtt_port, keepalive=0)
        client.loop_start()
        assert connected.wait(10)
        clients.append(client)
    try:
        [details] = wait_until(lambda: _disconnects(stack, "twin-dev"), "the disconnect entry")
        assert details["reason"] == "DUPLICATE_CLIENTID"
        assert details["last_will"] is True
    finally:
        for client in clients:
            client.disconnect()
            stop_loop(client)
