"""Who a message belongs to on the local stack without token checking (`make run`'s default):
the client id, never the username. TagoIO firmware logs in with username `Token`; before, its
rows were filed under a device named `oken` (the username read as a token principal)."""

from __future__ import annotations

import json
import threading

import paho.mqtt.client as mqtt
import pytest

from tests.e2e.conftest import LocalStack, wait_until
from tests.support.mqtt_clients import stop_loop

pytestmark = pytest.mark.e2e


def test_a_device_logging_in_as_token_is_named_by_its_client_id(stack: LocalStack) -> None:
    stack.apply(
        "actions:\n"
        "  - {id: ident-store, topics: ['ident/#'], type: insert_bucket}\n"
        "  - {id: ident-echo, topics: ['ident/#'], type: mqtt_publish, topic: 'out/ident-echo',\n"
        "     payload: '$DEVICE$'}\n"
    )
    paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ident-esp32")
    paho.username_pw_set("Token", "4b3c9a57-7c54-4a8c-9d8e-2f0a1c3e5b7d")
    connected = threading.Event()
    paho.on_connect = lambda *_: connected.set()
    paho.connect(stack.host, stack.mqtt_port, keepalive=30)
    paho.loop_start()
    try:
        assert connected.wait(10)
        info = paho.publish("ident/t", json.dumps({"variable": "t", "value": 1}), qos=1)
        info.wait_for_publish(timeout=10)
        rows = wait_until(lambda: stack.bucket("ident-esp32"), "a row under the client id")
        assert [r["variable"] for r in rows] == ["t"]
        assert stack.bucket("oken") == []
        assert stack.bucket("Token") == []
        assert stack.log_has(r"device auth\s+anonymous")
    finally:
        paho.disconnect()
        stop_loop(paho)
