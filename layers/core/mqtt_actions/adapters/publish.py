"""MQTT publish through IoT Core's data plane, carrying the hop count as an MQTT 5 user property."""

from __future__ import annotations

import json
from typing import Any

from mqtt_actions.events import HOPS_PROPERTY


class IotDataPublisher:
    def __init__(self, client: Any) -> None:
        self._client = client

    def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool, hops: int) -> None:
        self._client.publish(
            topic=topic,
            qos=qos,
            retain=retain,
            payload=payload,
            userProperties=json.dumps([{HOPS_PROPERTY: str(hops)}]),
        )
