"""Nothing acknowledged is lost: a device that publishes a burst at QoS 1 and goes away at once —
politely (DISCONNECT) or killed (`kill -9` after the last PUBACK) — has every message it got a
PUBACK for stored exactly once as a bucket row and delivered to a `#` subscriber.

The publishers are real third-party clients in their own processes: mosquitto_pub (Debian's
mosquitto-clients) and a paho-mqtt script."""

from __future__ import annotations

import contextlib
import json
import queue
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest

from tests.e2e.conftest import Client, LocalStack, mosquitto_pub, wait_until
from tests.support.mqtt_clients import stop_loop

pytestmark = pytest.mark.e2e

BURST = 1_000
DRAIN_TIMEOUT = 240.0  # 1,000 messages through the handlers on a shared two-core machine
STALL_SECONDS = 20.0  # no new row for this long: the rest is lost

STORE = """
actions:
  - {id: burst-store, topics: ["burst/+/reading"], type: insert_bucket}
"""

# A paho publisher in its own process: prints "acked" once every QoS 1 publish has its PUBACK,
# then waits to be killed (never disconnects by itself).
PAHO_PUBLISHER = textwrap.dedent("""
    import sys
    import time
    import paho.mqtt.client as mqtt

    host, port, client_id, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(100)
    client.connect(host, port, keepalive=60)
    client.loop_start()
    infos = [
        client.publish(f"burst/{client_id}/reading", f'{{"variable":"n","value":{i}}}', qos=1)
        for i in range(count)
    ]
    for info in infos:
        info.wait_for_publish(timeout=120)
    print("acked" if all(i.is_published() for i in infos) else "not acked", flush=True)
    time.sleep(600)
""")


def _burst_lines(count: int) -> str:
    return "".join(f'{{"variable":"n","value":{i}}}\n' for i in range(count))


def _wait_for_every_row(stack: LocalStack, device: str, count: int) -> list[int]:
    """The device's bucket values once `count` rows are there and the stack's functions are idle
    (nothing queued, running or waiting for a retry: a duplicate would be stored by then)."""
    deadline, seen, progress_at = time.monotonic() + DRAIN_TIMEOUT, -1, time.monotonic()
    while (rows := stack.count_rows([device])) < count:
        now = time.monotonic()
        if rows != seen:
            seen, progress_at = rows, now
        if now - progress_at > STALL_SECONDS or now > deadline:
            pytest.fail(f"{device}: {rows} of {count} acknowledged messages stored")
        time.sleep(0.5)
    while not stack.get("/health")["idle"]:
        if time.monotonic() > deadline:
            pytest.fail(f"{device}: the stack's functions were still busy after {DRAIN_TIMEOUT} s")
        time.sleep(0.2)
    return sorted(int(row["value"]) for row in stack.bucket_all(device))


def _received_values(watcher: Client, topic: str, count: int) -> list[int]:
    """The values of `count` messages on `topic` the `#` subscriber got (other tests' retained
    messages arrive on the same subscription: skipped)."""
    values: list[int] = []
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while len(values) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"the # subscriber got {len(values)} of {count} messages on {topic}")
        with contextlib.suppress(queue.Empty):
            message = watcher.received.get(timeout=min(remaining, 1.0))
            if message.topic == topic:
                values.append(json.loads(message.payload)["value"])
    return sorted(values)


@pytest.mark.timeout(DRAIN_TIMEOUT * 2 + 120)
def test_a_burst_followed_by_an_immediate_disconnect_loses_nothing(
    stack: LocalStack, connect: Callable[[str], Client]
) -> None:
    # Given an action storing every reading and a subscriber to everything
    stack.apply(STORE)
    watcher = connect("burst-watcher-polite")
    watcher.subscribe("#")
    device = "burst-polite"

    # When mosquitto_pub sends 1,000 QoS 1 messages and disconnects as soon as they are PUBACKed
    done = subprocess.run(  # noqa: S603 - our own arguments
        [
            *(mosquitto_pub(), "-h", stack.host, "-p", str(stack.mqtt_port)),
            *("-i", device, "-q", "1", "-t", f"burst/{device}/reading", "-l"),
        ],
        input=_burst_lines(BURST),
        text=True,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    # Then every message is one bucket row and reached the subscriber
    assert _wait_for_every_row(stack, device, BURST) == list(range(BURST))
    assert _received_values(watcher, f"burst/{device}/reading", BURST) == list(range(BURST))


@pytest.mark.timeout(DRAIN_TIMEOUT * 2 + 120)
def test_a_publisher_killed_after_its_last_puback_loses_nothing(
    stack: LocalStack, connect: Callable[[str], Client]
) -> None:
    stack.apply(STORE)
    watcher = connect("burst-watcher-killed")
    watcher.subscribe("#")
    device = "burst-killed"

    publisher = subprocess.Popen(  # noqa: S603 - our own script
        [
            sys.executable,
            "-c",
            PAHO_PUBLISHER,
            stack.host,
            str(stack.mqtt_port),
            device,
            f"{BURST}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert publisher.stdout is not None
        assert publisher.stdout.readline().strip() == "acked"
    finally:
        publisher.send_signal(signal.SIGKILL)
        publisher.wait(timeout=10)
        if publisher.stdout is not None:
            publisher.stdout.close()

    assert _wait_for_every_row(stack, device, BURST) == list(range(BURST))
    assert _received_values(watcher, f"burst/{device}/reading", BURST) == list(range(BURST))


def test_an_offline_persistent_subscriber_gets_what_was_published_meanwhile(
    stack: LocalStack, connect: Callable[[str], Client]
) -> None:
    # Given a QoS 1 subscriber with a persistent session (clean session off), now offline
    def persistent() -> tuple[mqtt.Client, list[mqtt.MQTTMessage]]:
        received: list[mqtt.MQTTMessage] = []
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="burst-offline-sub", clean_session=False
        )
        client.on_message = lambda _c, _u, message: received.append(message)
        client.connect(stack.host, stack.mqtt_port, keepalive=30)
        client.loop_start()
        return client, received

    subscriber, _ = persistent()
    done = subscriber.subscribe("offline/+/reading", qos=1)
    assert done[0] == mqtt.MQTT_ERR_SUCCESS
    wait_until(lambda: stack.log_has(r"burst-offline-sub \+ offline/\+/reading"), "the SUBACK")
    subscriber.disconnect()
    stop_loop(subscriber)

    # When a device publishes 20 QoS 1 messages meanwhile
    device = connect("burst-offline-dev")
    for i in range(20):
        device.publish("offline/dev/reading", json.dumps({"variable": "n", "value": i}))

    # Then the subscriber gets all 20 when it comes back
    subscriber, received = persistent()
    try:
        wait_until(lambda: len(received) >= 20, "20 queued messages after the reconnect")
        assert sorted(json.loads(m.payload)["value"] for m in received) == list(range(20))
    finally:
        subscriber.disconnect()
        stop_loop(subscriber)
