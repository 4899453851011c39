"""The local broker's fixes to amqtt (cli/mqtt_actions_cli/local/amqtt_fixes.py) replace or wrap
upstream methods of one amqtt release. If amqtt changes, these tests fail on purpose: re-read
each listed method in the new release, re-check (or drop) the fix that depends on it, then update
the version and the fingerprints here. The behaviour itself is tested end to end in
tests/e2e/test_nothing_lost.py."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import pytest
from amqtt.broker import Broker
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler

from mqtt_actions_cli.local.amqtt_fixes import AMQTT_VERSION, FixedBroker

# The upstream code each fix was written against (sha256 of its source, first 16 hex digits).
UPSTREAM: list[tuple[Callable[..., Any], str, str]] = [
    (Broker._client_message_loop, "916c4647c3389918", "replaced: drains received messages"),
    (Broker._authenticate, "4d7db8cc6fe2c3f6", "wrapped: clears is_anonymous"),
    (
        Broker._publish_retained_messages_for_subscription,
        "d6ad257821ba29ef",
        "wrapped: the client's own subscriptions only",
    ),
    (Broker._delete_session, "a8333dded50648a7", "wrapped: closes a connection taken over"),
    (Broker._run_broadcast, "e852128b3e38e04a", "reads is_anonymous for offline sessions"),
    (Broker._session_monitor, "5091fa20cdfdc203", "reads is_anonymous to drop sessions"),
    (
        BrokerProtocolHandler.handle_disconnect,
        "63b454d06eab58f8",
        "resolves then drops _disconnect_waiter (read by _disconnect_received)",
    ),
    (
        BrokerProtocolHandler.mqtt_deliver_next_message,
        "f961ae9de890440d",
        "a cancelled waiter returns None, not a message",
    ),
]


def test_amqtt_is_the_release_the_fixes_were_written_for() -> None:
    assert version("amqtt") == AMQTT_VERSION, (
        f"amqtt {version('amqtt')} is installed; amqtt_fixes.py was written for {AMQTT_VERSION}: "
        "re-check every fix there (and in this file) before changing the pin"
    )


@pytest.mark.parametrize(("method", "fingerprint", "why"), UPSTREAM, ids=lambda v: str(v)[:40])
def test_the_upstream_code_each_fix_depends_on_is_unchanged(
    method: Callable[..., Any], fingerprint: str, why: str
) -> None:
    source = inspect.getsource(method)
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == fingerprint, (
        f"amqtt's {method.__qualname__} changed ({why}): re-check amqtt_fixes.py against it"
    )


def test_the_fixed_broker_overrides_exactly_the_listed_methods() -> None:
    overridden = {
        name
        for name, value in vars(FixedBroker).items()
        if callable(value) and hasattr(Broker, name)
    }
    assert overridden == {
        "_client_message_loop",
        "_authenticate",
        "_publish_retained_messages_for_subscription",
        "_delete_session",
    }


def test_the_private_state_connection_and_broker_of_read_is_still_there() -> None:
    from amqtt.broker import BrokerContext

    from mqtt_actions_cli.local.amqtt_fixes import broker_of, connection

    assert "self._sessions" in inspect.getsource(Broker.__init__)
    assert "self._broker_instance" in inspect.getsource(BrokerContext.__init__)
    assert connection(None, "c") is None
    assert broker_of(object()) is None
