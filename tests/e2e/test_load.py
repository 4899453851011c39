"""Load through the local stack: 10,000 QoS 1 messages from 20 concurrent clients must become
exactly 10,000 bucket rows, none lost, none duplicated; so must 10,000 from 50 clients that
connect, publish 1-5 and disconnect in a loop. Prints the time and rate it measured
(no timing assertion: the machine is shared)."""

from __future__ import annotations

import contextlib
import json
import queue
import random
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
import pytest

from tests.e2e.conftest import Client, LocalStack
from tests.support.mqtt_clients import stop_loop

pytestmark = [pytest.mark.e2e, pytest.mark.load]

CLIENTS = 20
PER_CLIENT = 500
TOTAL = CLIENTS * PER_CLIENT
DRAIN_TIMEOUT = 2400.0  # bounded: the loops below stop by themselves
POLL_SECONDS = 5.0  # counting rows is itself load on the stack's moto server: poll gently


@pytest.mark.timeout(DRAIN_TIMEOUT + 300)
def test_ten_thousand_qos1_messages_from_twenty_clients_become_ten_thousand_rows(
    stack: LocalStack, connect: Callable[[str], Client], capsys: pytest.CaptureFixture[str]
) -> None:
    stack.apply("""
actions:
  - {id: load-store, topics: ["load/+/reading"], type: insert_bucket}
""")
    clients = [connect(f"load-{c:02d}") for c in range(CLIENTS)]
    failures: list[str] = []

    def publish_all(number: int, client: Client) -> None:
        try:
            for i in range(PER_CLIENT):
                payload = f'{{"variable":"n","value":{i}}}'
                client.publish(f"load/load-{number:02d}/reading", payload, qos=1)
        except Exception as exc:
            failures.append(f"client {number}: {exc}")

    started = time.monotonic()
    threads = [threading.Thread(target=publish_all, args=(n, c)) for n, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DRAIN_TIMEOUT)
    acked = time.monotonic() - started
    assert not failures, failures

    def rows_per_device() -> dict[str, list[int]]:
        return {
            f"load-{n:02d}": [int(r["value"]) for r in stack.bucket_all(f"load-{n:02d}")]
            for n in range(CLIENTS)
        }

    deadline = time.monotonic() + DRAIN_TIMEOUT
    while stack.count_rows([f"load-{n:02d}" for n in range(CLIENTS)]) < TOTAL:
        assert time.monotonic() < deadline, f"fewer than {TOTAL} rows after {DRAIN_TIMEOUT} s"
        time.sleep(POLL_SECONDS)
    stored = time.monotonic() - started
    time.sleep(POLL_SECONDS)  # anything still in flight would show up as a duplicate now
    rows = rows_per_device()

    assert sum(len(values) for values in rows.values()) == TOTAL
    for device, values in rows.items():
        assert sorted(values) == list(range(PER_CLIENT)), f"{device}: lost or duplicated rows"
    with capsys.disabled():  # the figures belong in the CI log
        print(  # noqa: T201
            f"\nload: {TOTAL:,} QoS 1 messages from {CLIENTS} clients: all PUBACKed in "
            f"{acked:.1f} s ({TOTAL / acked:,.0f} msg/s); all {TOTAL:,} rows stored in "
            f"{stored:.1f} s ({TOTAL / stored:,.0f} msg/s); lost 0, duplicated 0"
        )


WAKERS = 50
PER_WAKER = TOTAL // WAKERS  # 200 each, 10,000 in all


@pytest.mark.timeout(DRAIN_TIMEOUT + 300)
def test_fifty_devices_waking_publishing_one_to_five_and_disconnecting_lose_nothing(
    stack: LocalStack, connect: Callable[[str], Client], capsys: pytest.CaptureFixture[str]
) -> None:
    """The battery-device pattern: connect, publish 1-5 QoS 1 messages, disconnect at once (no
    pause after the last PUBACK), again, until 10,000 messages: every one is a bucket row exactly
    once and reached a `#` subscriber."""
    stack.apply("""
actions:
  - {id: wake-store, topics: ["wake/+/reading"], type: insert_bucket}
""")
    watcher = connect("wake-watcher")
    watcher.subscribe("#")
    devices = [f"wake-{n:02d}" for n in range(WAKERS)]
    failures: list[str] = []
    cycles = [0] * WAKERS

    def wake_loop(number: int) -> None:
        device, sent, draw = devices[number], 0, random.Random(number)
        try:
            while sent < PER_WAKER:
                burst = min(draw.randint(1, 5), PER_WAKER - sent)
                paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device)
                paho.connect(stack.host, stack.mqtt_port, keepalive=30)
                paho.loop_start()
                infos = [
                    paho.publish(f"wake/{device}/reading", f'{{"variable":"n","value":{v}}}', 1)
                    for v in range(sent, sent + burst)
                ]
                for info in infos:
                    info.wait_for_publish(timeout=60)
                    assert info.is_published(), f"{device}: no PUBACK"
                paho.disconnect()
                stop_loop(paho)
                sent += burst
                cycles[number] += 1
        except Exception as exc:
            failures.append(f"{device}: {exc!r}")

    started = time.monotonic()
    threads = [threading.Thread(target=wake_loop, args=(n,)) for n in range(WAKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DRAIN_TIMEOUT)
    acked = time.monotonic() - started
    assert not failures, failures

    deadline, seen, progress_at = time.monotonic() + DRAIN_TIMEOUT, -1, time.monotonic()
    while (stored_rows := stack.count_rows(devices)) < TOTAL:
        now = time.monotonic()
        if stored_rows != seen:
            seen, progress_at = stored_rows, now
        if now - progress_at > 60 or now > deadline:
            pytest.fail(f"{TOTAL - stored_rows:,} of {TOTAL:,} acknowledged messages lost")
        time.sleep(POLL_SECONDS)
    stored = time.monotonic() - started
    time.sleep(POLL_SECONDS)  # anything still in flight would show up as a duplicate now

    for device in devices:
        values = sorted(int(r["value"]) for r in stack.bucket_all(device))
        assert values == list(range(PER_WAKER)), f"{device}: lost or duplicated rows"
    expected = {(f"wake/{d}/reading", v) for d in devices for v in range(PER_WAKER)}
    missing = set(expected)
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while missing and time.monotonic() < deadline:  # other tests' retained messages: skipped
        with contextlib.suppress(queue.Empty):
            message = watcher.received.get(timeout=1.0)
            if message.topic.startswith("wake/"):
                missing.discard((message.topic, json.loads(message.payload)["value"]))
    assert not missing, f"{len(missing)} messages never reached the # subscriber"
    with capsys.disabled():
        print(  # noqa: T201
            f"\nwake: {TOTAL:,} QoS 1 messages from {WAKERS} clients in {sum(cycles):,} "
            f"connect-publish-disconnect cycles: all PUBACKed in {acked:.1f} s; all rows stored "
            f"in {stored:.1f} s ({TOTAL / stored:,.0f} msg/s); lost 0, duplicated 0"
        )
