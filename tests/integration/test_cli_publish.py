"""`mqtt-actions publish`: to a (tiny fake) broker on 127.0.0.1, or iot-data on moto."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from mqtt_actions_cli.target import Target
from tests.integration.cli_support import FakeBroker, fake_broker, free_port, moto_target, run
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration


@pytest.fixture
def broker() -> Iterator[FakeBroker]:
    with fake_broker() as running:
        yield running


def local(aws_env: Aws, port: int) -> Target:
    return moto_target(aws_env, MqttPort=str(port))


@pytest.mark.parametrize("qos", [0, 1])
def test_publishes_to_the_local_broker(
    qos: int, aws_env: Aws, broker: FakeBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(
        capsys,
        [
            "publish",
            "home/kitchen/temperature",
            '{"value": 21}',
            "--qos",
            str(qos),
            "--client-id",
            "sensor-01",
            "--retain",
        ],
        local(aws_env, broker.port),
    )
    assert ran.code == 0, ran.err
    [got] = broker.received
    assert (got.client_id, got.topic, got.payload, got.qos, got.retain) == (
        "sensor-01",
        "home/kitchen/temperature",
        b'{"value": 21}',
        qos,
        True,
    )
    assert ran.out.strip() == (
        f"published 13 bytes on home/kitchen/temperature to 127.0.0.1:{broker.port} as sensor-01"
    )


def test_a_random_client_id_by_default(
    aws_env: Aws, broker: FakeBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["publish", "a/b", "x", "--json"], local(aws_env, broker.port))
    assert ran.code == 0, ran.err
    # QoS 0: the command may return before the fake broker's thread has recorded the message.
    deadline = time.monotonic() + 10
    while not broker.received and time.monotonic() < deadline:
        time.sleep(0.01)
    assert broker.received, "the broker received nothing within 10 s"
    assert broker.received[0].client_id.startswith("mqtt-actions-cli-")
    assert ran.json()["client_id"] == broker.received[0].client_id


def test_a_refused_connection_is_an_error(
    aws_env: Aws, broker: FakeBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    broker.refuse_connect = True
    ran = run(capsys, ["publish", "a/b", "x"], local(aws_env, broker.port))
    assert ran.code == 1
    assert "refused the connection" in ran.err


def test_no_broker(aws_env: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    ran = run(capsys, ["publish", "a/b", "x"], local(aws_env, port))
    assert ran.code == 1
    assert f"no MQTT broker on 127.0.0.1:{port}" in ran.err
    assert "make run" in ran.err


def test_with_a_stack_it_publishes_through_iot_data(
    aws_env: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    target = moto_target(aws_env, kind="stack")
    ran = run(capsys, ["publish", "cmd/valve-3", "close", "--stack", "s", "--qos", "1"], target)
    assert ran.code == 0, ran.err
    assert aws_env.mqtt() == [("cmd/valve-3", b"close")]


def test_oversize_payload_is_refused_for_aws(
    aws_env: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    target = moto_target(aws_env, kind="stack")
    ran = run(capsys, ["publish", "a/b", "x" * (128 * 1024 + 1), "--stack", "s"], target)
    assert ran.code == 2
    assert "IoT Core accepts at most 131,072" in ran.err
    assert aws_env.mqtt() == []


@pytest.mark.parametrize(
    ("topic", "words"),
    [
        ("home/+/temperature", "wildcards + and # belong in actions' filters"),
        ("home/#", "TOPIC 'home/#'"),
        ("", "TOPIC ''"),
        ("a\x00b", "TOPIC"),
    ],
)
def test_topic_is_validated_before_connecting(
    topic: str, words: str, aws_env: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["publish", topic, "x"], local(aws_env, free_port()))
    assert ran.code == 2
    assert words in ran.err


def test_qos_2_is_refused(aws_env: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, ["publish", "a/b", "x", "--qos", "2"], local(aws_env, free_port()))
    assert ran.code == 2
    assert "invalid choice: 2" in ran.err


def test_more_than_seven_slashes_warns(
    aws_env: Aws, broker: FakeBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["publish", "a/b/c/d/e/f/g/h/i", "x"], local(aws_env, broker.port))
    assert ran.code == 0
    assert "IoT Core allows 7" in ran.err
