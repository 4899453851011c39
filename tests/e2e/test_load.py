"""Load through the local stack: 10,000 QoS 1 messages from 20 concurrent clients must become
exactly 10,000 bucket rows, none lost, none duplicated. Prints the time and rate it measured
(no timing assertion: the machine is shared)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from tests.e2e.conftest import Client, LocalStack

pytestmark = pytest.mark.e2e

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
