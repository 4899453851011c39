"""`mqtt-actions publish` works in every auth mode: without credentials it is the stack's own
trusted client (as iot-data Publish with IAM on AWS); `--username/--password` tries a device's
credentials and is refused as that device would be."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest

from tests.e2e.conftest import LocalStack, running_stack, wait_until
from tests.support.mqtt_clients import stop_loop


@pytest.fixture(scope="module")
def tokens_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("state"), "--fresh", "--auth", "tokens") as local:
        yield local


def cli(stack: LocalStack, *argv: str) -> subprocess.CompletedProcess[str]:
    return stack.cli(*argv)


def published_by(stack: LocalStack, device: str) -> list[str]:
    done = cli(stack, "inspect", "--device", device, "--type", "publish", "--json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["details"]["topic"] for line in done.stdout.splitlines() if line]


def test_without_credentials_it_publishes_as_the_stacks_own_client(
    tokens_stack: LocalStack,
) -> None:
    done = cli(tokens_stack, "publish", "sim/sim-01/t", "21", "--client-id", "sim-01", "--qos", "1")
    assert done.returncode == 0, done.stderr
    assert "published 2 bytes on sim/sim-01/t" in done.stdout
    wait_until(lambda: published_by(tokens_stack, "sim-01") == ["sim/sim-01/t"], "the publish")
    assert tokens_stack.dead_letters() == []  # not an unknown connection any more (#21)


def test_without_credentials_it_cannot_take_a_live_devices_client_id(
    tokens_stack: LocalStack,
) -> None:
    made = cli(tokens_stack, "devices", "create", "meter-held", "--token", "--json")
    assert made.returncode == 0, made.stderr
    device = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="held-esp")
    device.username_pw_set("Token", json.loads(made.stdout)["token"])
    connected, dropped = threading.Event(), threading.Event()
    device.on_connect = lambda *_: connected.set()
    device.on_disconnect = lambda *_: dropped.set()
    device.connect(tokens_stack.host, tokens_stack.mqtt_port, keepalive=30)
    device.loop_start()
    try:
        assert connected.wait(10), "the device did not connect"
        done = cli(tokens_stack, "publish", "held/x", "1", "--client-id", "held-esp")
        assert done.returncode == 1, done.stdout
        assert "refused the connection" in done.stderr
        assert "another device's live connection holds that client id" in done.stderr
        assert not dropped.is_set()  # refused before the broker saw it: the device stays on
        info = device.publish("meter-held/t", '{"variable": "t", "value": 1}', qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published()
    finally:
        device.disconnect()
        stop_loop(device)


def test_a_devices_token_works_and_a_wrong_one_is_refused_with_the_fix(
    tokens_stack: LocalStack,
) -> None:
    made = cli(tokens_stack, "devices", "create", "meter-9", "--token", "--json")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    device = ["--client-id", "meter-9-a", "--username", "Token"]

    right = cli(tokens_stack, "publish", "meter-9/reading", "42", *device, "--password", token)
    assert right.returncode == 0, right.stderr
    assert "(username Token)" in right.stdout
    wait_until(lambda: published_by(tokens_stack, "meter-9") == ["meter-9/reading"], "its row")

    wrong = cli(tokens_stack, "publish", "meter-9/reading", "43", *device, "--password", "nope")
    assert wrong.returncode == 1
    assert "refused the connection" in wrong.stderr
    assert "fix: check the credentials" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_a_password_alone_is_a_usage_error(tokens_stack: LocalStack) -> None:
    done = cli(tokens_stack, "publish", "a/b", "x", "--password", "p")
    assert done.returncode == 2
    assert "a password without a username" in done.stderr
