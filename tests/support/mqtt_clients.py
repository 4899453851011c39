"""Helpers for the real MQTT clients (paho-mqtt) the e2e tests drive."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode


def stop_loop(client: mqtt.Client) -> None:
    """`client.loop_stop()` without paho 2.2's race: after `disconnect()` its network thread ends
    and sets `_thread = None` between loop_stop's check and its `join()` (AttributeError:
    'NoneType' object has no attribute 'join'). The thread has then finished, which is all
    loop_stop waits for, so that error means done."""
    with contextlib.suppress(AttributeError):
        client.loop_stop()


@dataclass
class TokenSession:
    """A paho client that connected (or tried to) with username Token: what the broker said."""

    paho: mqtt.Client
    connack: list[ReasonCode] = field(default_factory=list)
    connected: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)
    subacks: list[list[ReasonCode]] = field(default_factory=list)
    received: queue.Queue[mqtt.MQTTMessage] = field(default_factory=queue.Queue)

    @property
    def accepted(self) -> bool:
        return bool(self.connack) and not self.connack[0].is_failure

    def publish(self, topic: str, payload: Any) -> None:
        """`payload`: text or bytes as they are; anything else as JSON."""
        body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
        info = self.paho.publish(topic, body, qos=1)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), f"publish to {topic} not acknowledged"

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self.paho.on_subscribe = lambda *_: done.set()
        self.paho.subscribe(topic, 1)
        assert done.wait(10), f"no SUBACK for {topic}"

    def close(self) -> None:
        self.paho.disconnect()
        stop_loop(self.paho)


def token_session(host: str, port: int, client_id: str, password: str | None) -> TokenSession:
    """Connect as a token device (username Token, `password`; none: anonymous) and wait for
    the CONNACK."""
    paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    if password is not None:
        paho.username_pw_set("Token", password)
    out = TokenSession(paho)

    def on_connect(_c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        out.connack.append(reason)
        out.connected.set()

    paho.on_connect = on_connect
    paho.on_disconnect = lambda *_: out.disconnected.set()
    paho.on_subscribe = lambda _c, _u, _m, codes, _p: out.subacks.append(list(codes))
    paho.on_message = lambda _c, _u, message: out.received.put(message)
    paho.connect(host, port, keepalive=30)
    paho.loop_start()
    assert out.connected.wait(15), f"{client_id}: no CONNACK"
    return out
