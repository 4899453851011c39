"""Helpers for the real MQTT clients (paho-mqtt) the e2e tests drive."""

from __future__ import annotations

import contextlib

import paho.mqtt.client as mqtt


def stop_loop(client: mqtt.Client) -> None:
    """`client.loop_stop()` without paho 2.2's race: after `disconnect()` its network thread ends
    and sets `_thread = None` between loop_stop's check and its `join()` (AttributeError:
    'NoneType' object has no attribute 'join'). The thread has then finished, which is all
    loop_stop waits for, so that error means done."""
    with contextlib.suppress(AttributeError):
        client.loop_stop()
