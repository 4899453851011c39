"""The local stack's MQTT broker alone (`LocalBroker`: amqtt + the fixes + the IoT Core plugin),
on a free 127.0.0.1 port in a thread of its own, for tests that drive it with real clients.
Everything it hands to the rules engine (messages, Last Wills, lifecycle events) is recorded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from mqtt_actions_cli.local.broker import LocalBroker
from mqtt_actions_cli.local.broker_rules import BrokerRules
from mqtt_actions_cli.local.rules import InboundMessage

START_TIMEOUT = 20.0


@dataclass
class RunningBroker:
    broker: LocalBroker
    loop: asyncio.AbstractEventLoop
    received: list[InboundMessage] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.broker.port

    def events(self, kind: str, client_id: str) -> list[dict[str, Any]]:
        """The lifecycle events of `kind` (connected, disconnected, ...) for `client_id`."""
        topic = f"$aws/events/presence/{kind}/{client_id}"
        return [json.loads(m.payload) for m in list(self.received) if m.topic == topic]

    def messages(self, topic: str) -> list[InboundMessage]:
        """What reached the rules engine on `topic` (publishes and Last Wills)."""
        return [m for m in list(self.received) if m.topic == topic]

    def wait_for(self, probe: Any, what: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while not (value := probe()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.05)
        return value

    def call(self, coroutine: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)


@contextlib.contextmanager
def running_broker(rules: BrokerRules | None = None) -> Iterator[RunningBroker]:
    loop = asyncio.new_event_loop()
    received: list[InboundMessage] = []
    broker = LocalBroker("127.0.0.1", 0, sink=received.append)
    broker.rules = rules or BrokerRules()
    thread = threading.Thread(target=loop.run_forever, name="local-broker", daemon=True)
    thread.start()
    running = RunningBroker(broker, loop, received)
    try:
        running.call(broker.start(), START_TIMEOUT)
        yield running
    finally:
        with contextlib.suppress(Exception):
            running.call(broker.stop(), 30.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
