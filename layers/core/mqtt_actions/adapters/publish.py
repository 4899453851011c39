"""MQTT publish through IoT Core's data plane, carrying the hop count as an MQTT 5 user property;
and reading back a topic's retained message."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mqtt_actions.events import HOPS_PROPERTY, SOURCE_PROPERTY
from mqtt_actions.ports import RetainedMessage

if TYPE_CHECKING:
    from mypy_boto3_iot_data import IoTDataPlaneClient


class IotDataPublisher:
    def __init__(self, client: IoTDataPlaneClient) -> None:
        self._client = client

    def publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool, hops: int, source: str = ""
    ) -> None:
        properties = [{HOPS_PROPERTY: str(hops)}]
        if source:
            properties.append({SOURCE_PROPERTY: source})
        self._client.publish(
            topic=topic,
            qos=qos,
            retain=retain,
            payload=payload,
            # A list: botocore JSON-encodes (and base64s) this header itself; a str would arrive
            # double-encoded and IoT Core would lose the hop count the loop guard relies on.
            # boto3-stubs type it `str` (the wire form); botocore's `jsonvalue` trait wants this.
            userProperties=properties,  # type: ignore[arg-type]
        )

    def get_retained(self, topic: str) -> RetainedMessage | None:
        """The topic's retained message, or None when it has none (needs iot:GetRetainedMessage)."""
        try:
            response = self._client.get_retained_message(topic=topic)
        except self._client.exceptions.ResourceNotFoundException:
            return None
        return RetainedMessage(
            topic=str(response.get("topic", topic)),
            payload=bytes(response.get("payload") or b""),
            qos=int(response.get("qos", 0)),
            last_modified=int(response.get("lastModifiedTime", 0)),
        )
