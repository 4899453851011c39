"""The iot-data adapter's analysis side, checked against the real API model with botocore's
Stubber (moto 5.2 has no GetRetainedMessage)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from mqtt_actions.adapters.publish import IotDataPublisher
from mqtt_actions.events import HOPS_PROPERTY, SOURCE_PROPERTY


@pytest.fixture
def iot_data() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("iot-data", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_get_retained_returns_the_message(iot_data: tuple[Any, Stubber]) -> None:
    client, stubber = iot_data
    stubber.add_response(
        "get_retained_message",
        {"topic": "state/lamp", "payload": b'{"on":true}', "qos": 1, "lastModifiedTime": 1_700},
        {"topic": "state/lamp"},
    )
    kept = IotDataPublisher(client).get_retained("state/lamp")
    assert kept is not None
    assert (kept.topic, kept.payload, kept.qos, kept.last_modified) == (
        "state/lamp",
        b'{"on":true}',
        1,
        1_700,
    )
    assert kept.as_json() == {"on": True}


def test_get_retained_is_none_when_the_topic_has_none(iot_data: tuple[Any, Stubber]) -> None:
    client, stubber = iot_data
    stubber.add_client_error(
        "get_retained_message", service_error_code="ResourceNotFoundException", http_status_code=404
    )
    assert IotDataPublisher(client).get_retained("state/none") is None


def test_a_retained_publish_carries_retain_and_the_hop_count(iot_data: tuple[Any, Stubber]) -> None:
    client, stubber = iot_data
    stubber.add_response(
        "publish",
        {},
        {
            "topic": "processed/sensor-01/temperature_c",
            "qos": 1,
            "retain": True,
            "payload": b"{}",
            "userProperties": [{HOPS_PROPERTY: "2"}],
        },
    )
    IotDataPublisher(client).publish(
        "processed/sensor-01/temperature_c", b"{}", qos=1, retain=True, hops=2
    )


def test_a_publish_says_who_in_the_stack_sent_it(iot_data: tuple[Any, Stubber]) -> None:
    client, stubber = iot_data
    properties = [{HOPS_PROPERTY: "1"}, {SOURCE_PROPERTY: "action/echo"}]
    expected = {"topic": "ack/a", "qos": 0, "retain": False, "payload": b"x"}
    stubber.add_response("publish", {}, expected | {"userProperties": properties})
    publisher = IotDataPublisher(client)
    publisher.publish("ack/a", b"x", qos=0, retain=False, hops=1, source="action/echo")


def test_the_hop_count_header_is_json_encoded_once() -> None:
    """botocore JSON-encodes and base64s `userProperties`: what IoT Core receives must decode
    to the array itself, not to a JSON string holding it."""
    import base64

    import boto3

    client = boto3.client("iot-data", region_name="us-east-1", endpoint_url="https://iot.invalid")
    sent: dict[str, Any] = {}

    def capture(request: Any, **_: Any) -> None:
        sent.update(request.headers)
        raise RuntimeError("captured")  # stop before the network

    client.meta.events.register("before-send.iot-data.Publish", capture)
    with pytest.raises(RuntimeError, match="captured"):
        IotDataPublisher(client).publish("a/b", b"x", qos=0, retain=False, hops=3)
    header = sent["x-amz-mqtt5-user-properties"]
    assert json.loads(base64.b64decode(header)) == [{HOPS_PROPERTY: "3"}]
