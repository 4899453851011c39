"""A device that moves as it is: stock TagoIO firmware against `mqtt-actions local --auth tokens`
(DeviceTopicAccess=account, the default). It logs in with username `Token` and its device token,
client id `ESP32` (hard-coded, as in much field firmware), publishes TagoIO data to TagoIO's
reserved topic `tago/data/post` and subscribes to a plain topic, `mytopic`. No action is
configured: the data lands in the device's bucket. A second board with the same client id is
refused while the first is online, and nothing it does files a row under the first device.
Revoking a device closes every one of its connections."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from mqtt_actions.adapters.inspector import DynamoInspector
from tests.e2e.conftest import REGION, LocalStack, running_stack, wait_until
from tests.e2e.test_device_tokens import cli
from tests.support.mqtt_clients import TokenSession, token_session

pytestmark = pytest.mark.e2e

READING = [{"variable": "temperature", "value": 21.5, "unit": "C"}]


@pytest.fixture(scope="module")
def firmware_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("state"), "--fresh", "--auth", "tokens") as local:
        yield local


Board = TokenSession  # configured as TagoIO's stock firmware is: username Token, a client id


def board(stack: LocalStack, token: str, client_id: str = "ESP32") -> Board:
    return token_session(stack.host, stack.mqtt_port, client_id, token)


def test_stock_firmware_moves_as_it_is(firmware_stack: LocalStack) -> None:
    first = cli(firmware_stack, "devices", "create", "esp-first", "--token")["token"]
    second = cli(firmware_stack, "devices", "create", "esp-second", "--token")["token"]
    device = board(firmware_stack, first)
    others: list[Board] = []
    try:
        assert not device.connack[0].is_failure
        device.subscribe("mytopic")
        device.publish("tago/data/post", READING)
        rows = wait_until(lambda: firmware_stack.bucket("esp-first"), "the reading stored")
        assert [(r["variable"], r["value"], r["unit"]) for r in rows] == [
            ("temperature", 21.5, "C")
        ]
        assert firmware_stack.bucket("ESP32") == []

        # What an analysis's MQTT publish does (iot-data Publish) reaches the device on mytopic.
        iot_data = boto3.client(  # type: ignore[call-overload]
            "iot-data", endpoint_url=firmware_stack.control_url, region_name=REGION
        )
        iot_data.publish(topic="mytopic", qos=1, payload=b"ON")
        got = device.received.get(timeout=10)
        assert (got.topic, got.payload) == ("mytopic", b"ON")

        # A second board with the same hard-coded client id is refused, naming the holder.
        taker = board(firmware_stack, second)
        others.append(taker)
        assert taker.connack[0].is_failure
        assert not device.disconnected.is_set()
        log = DynamoInspector(
            firmware_stack.outputs["InspectorTableName"], firmware_stack.client("dynamodb"), 1
        )
        wait_until(
            lambda: [
                e
                for e in log.query(device="esp-first")
                if e.type == "connect_failed" and e.details.get("held_by") == "esp-first"
            ],
            "a connect_failed naming esp-first as the holder of ESP32",
        )
        # Nothing the second device does, on any topic or client id, files under esp-first.
        own = board(firmware_stack, second, client_id="ESP32-b")
        others.append(own)
        own.publish("tago/data/post", [{"variable": "temperature", "value": 99}])
        own.publish("esp-first/temperature", {"variable": "temperature", "value": 98})
        wait_until(lambda: firmware_stack.bucket("esp-second"), "the second device's own row")
        assert [r["value"] for r in firmware_stack.bucket("esp-first")] == [21.5]

        # Revoke closes both connections of a device.
        again = board(firmware_stack, second, client_id="ESP32-c")
        others.append(again)
        done = cli(firmware_stack, "devices", "revoke", "esp-second")
        assert sorted(done["closed"]) == ["ESP32-b", "ESP32-c"]
        assert own.disconnected.wait(10)
        assert again.disconnected.wait(10)
        assert not device.disconnected.is_set()
    finally:
        for other in others:
            other.close()
        device.close()


def test_invalid_points_are_refused_and_the_valid_ones_kept(firmware_stack: LocalStack) -> None:
    token = cli(firmware_stack, "devices", "create", "esp-mixed", "--token")["token"]
    device = board(firmware_stack, token, client_id="ESP32-mixed")
    try:
        device.publish(
            "tago/data/post",
            [{"variable": "ok", "value": 1}, {"variable": "x" * 101, "value": 2}],
        )
        rows = wait_until(lambda: firmware_stack.bucket("esp-mixed"), "the valid point")
        assert [r["variable"] for r in rows] == ["ok"]
        letters = wait_until(
            lambda: [
                d for d in firmware_stack.dead_letters() if d.get("action_id") == "tago-data-post"
            ],
            "a dead letter for the refused point",
        )
        assert "1 of 2 data points refused" in letters[0]["reason"]
    finally:
        device.close()
