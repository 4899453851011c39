"""The local broker's fixes to amqtt (cli/mqtt_actions_cli/local/amqtt_fixes.py) replace or wrap
upstream methods of one amqtt release. If amqtt changes, these tests fail on purpose: re-read
each listed method in the new release, re-check (or drop) the fix that depends on it, then update
the version and the fingerprints here. The behaviour itself is tested end to end in
tests/e2e/test_nothing_lost.py and tests/e2e/test_broker_conformance.py."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import pytest
from amqtt.broker import Broker
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.protocol.handler import ProtocolHandler

from mqtt_actions_cli.local.amqtt_fixes import AMQTT_VERSION, FixedBroker, FixedHandler

# The upstream code each fix was written against (sha256 of its source, first 16 hex digits).
UPSTREAM: list[tuple[Callable[..., Any], str, str]] = [
    (Broker.__init__, "5158ff3ca6493baf", "takes the config dict (session_expiry_interval)"),
    (Broker._client_message_loop, "916c4647c3389918", "replaced: drains, closes on a bad topic"),
    (Broker._authenticate, "4d7db8cc6fe2c3f6", "wrapped: clears is_anonymous"),
    (
        Broker._publish_retained_messages_for_subscription,
        "d6ad257821ba29ef",
        "wrapped: own subscriptions, exact filters only (IoT Core)",
    ),
    (Broker._initialize_client_session, "5dd89158bbe46266", "replaced: takeover, keep-alive"),
    (Broker._handle_message_delivery, "89727723da550bed", "replaced: $ topics, publish QoS"),
    (Broker._run_broadcast, "e852128b3e38e04a", "replaced: min QoS, QoS 1 offline"),
    (Broker._matches, "c03b25d98f4c0a34", "wrapped: IoT Core's a/# does not match a"),
    (
        Broker._publish_session_retained_messages,
        "78cd66096c935c1f",
        "replaced: the offline queue with RETAIN 0",
    ),
    (Broker._delete_session, "a8333dded50648a7", "called after _take_over"),
    (Broker._session_monitor, "5091fa20cdfdc203", "reads is_anonymous, session_expiry_interval"),
    (Broker._handle_client_session, "8b1b52a03df9daf5", "starts the adopted handler"),
    (Broker._handle_disconnect, "8c3b8702f3567055", "sends the Will _remember_will records"),
    (
        BrokerProtocolHandler.handle_read_timeout,
        "ffd79f12457f41e1",
        "replaced: keep-alive expiry closes the connection",
    ),
    (BrokerProtocolHandler.handle_connect, "18bb36c0c119abbc", "wrapped: CLIENT_ERROR"),
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
    (
        BrokerProtocolHandler.init_from_connect,
        "036dc04c1133a18f",
        "the handler FixedHandler.adopt turns into its own class",
    ),
    (BrokerProtocolHandler.handle_subscribe, "7625fdfa3a8de496", "wrapped: QoS 2 unanswered"),
    (ProtocolHandler._retry_deliveries, "16fd2ca86991aba9", "replaced: resends in background"),
    (
        ProtocolHandler._handle_qos1_message_flow,
        "944e6a8130c70daf",
        "wrapped: outgoing QoS 1 kept until PUBACK",
    ),
    (
        ProtocolHandler._reader_loop,
        "93f3b8e4483040d0",
        "waits session.keep_alive s per packet, then handle_read_timeout",
    ),
    (
        ProtocolHandler._handle_qos2_message_flow,
        "f2d96f1fc4eca34f",
        "wrapped: outgoing QoS 2 kept until PUBCOMP",
    ),
    (ProtocolHandler.handle_publish, "b8f1fd3212c7134e", "wrapped: QoS 2 unanswered"),
    (ProtocolHandler.handle_pubrec, "431df1f8f5ddf1fa", "resolves _pubrec_waiters"),
    (ProtocolHandler.handle_pubcomp, "18f7224db6a0d083", "resolves _pubcomp_waiters"),
    (ProtocolHandler.handle_puback, "7d8487deb2d589ee", "resolves _puback_waiters"),
    (ProtocolHandler._stop_waiters, "78a59ebc21c3e9fa", "cancels the PUBACK waiters on stop"),
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


def _overrides(cls: type, base: type) -> set[str]:
    return {name for name, value in vars(cls).items() if callable(value) and hasattr(base, name)}


def test_the_fixed_broker_overrides_exactly_the_listed_methods() -> None:
    assert _overrides(FixedBroker, Broker) == {
        "__init__",
        "_client_message_loop",
        "_authenticate",
        "_publish_retained_messages_for_subscription",
        "_initialize_client_session",
        "_handle_message_delivery",
        "_run_broadcast",
        "_matches",
        "_publish_session_retained_messages",
    }
    assert _overrides(FixedHandler, BrokerProtocolHandler) == {
        "handle_read_timeout",
        "handle_connect",
        "handle_publish",
        "handle_subscribe",
        "_retry_deliveries",
        "_handle_qos1_message_flow",
        "_handle_qos2_message_flow",
    }


def test_the_private_state_connection_and_broker_of_read_is_still_there() -> None:
    from amqtt.broker import BrokerContext

    from mqtt_actions_cli.local.amqtt_fixes import broker_of, connection

    assert "self._sessions" in inspect.getsource(Broker.__init__)
    assert "self._broker_instance" in inspect.getsource(BrokerContext.__init__)
    assert connection(None, "c") is None
    assert broker_of(object()) is None


@pytest.mark.parametrize(
    ("iot_core", "keepalive", "timeout"),
    [
        (True, 5, 45.0),  # under 30 s counts as 30 (AWS: iot-core.html#message-broker-limits)
        (True, 30, 45.0),
        (True, 60, 90.0),
        (True, 5_000, 1_800.0),  # 1,200 s at most
        (True, 0, 1_800.0),  # 0 asks for IoT Core's default, 1,200 s (not "never")
        (False, 0, None),  # --spec-broker: 0 switches keep-alive off (MQTT 3.1.1 §3.1.2.10)
        (False, 5, 7.5),  # --spec-broker: 1.5 x what the client asked
        (False, 5_000, 7_500.0),
    ],
)
def test_keepalive_timeout_is_1_5_x_iot_cores_keepalive(
    iot_core: bool, keepalive: int, timeout: float | None
) -> None:
    from mqtt_actions_cli.local.broker_rules import BrokerRules

    assert BrokerRules(iot_core=iot_core).keepalive_timeout(keepalive) == timeout


@pytest.mark.parametrize(
    ("topic", "iot_core", "taken"),
    [
        ("plain/topic", True, None),
        ("$aws/things/dev1/shadow/update", True, True),
        ("$aws/things/dev1/shadow/name/cfg/get", True, True),
        ("$aws/things/dev1/jobs/get", True, True),
        ("$aws/rules/store/home/t", True, True),
        ("$aws/events/presence/connected/dev1", True, False),  # subscribe only
        ("$TopicA/B", True, False),
        ("$SYS/broker/uptime", True, False),
        ("$TopicA/B", False, True),
    ],
)
def test_which_reserved_topics_a_client_may_publish_to(
    topic: str, iot_core: bool, taken: bool | None
) -> None:
    from mqtt_actions_cli.local.broker_rules import BrokerRules

    assert BrokerRules(iot_core=iot_core).publish_to_reserved(topic) is taken


def test_time_scale_is_for_shortening_only() -> None:
    from mqtt_actions_cli.local.broker_rules import BrokerRules

    with pytest.raises(ValueError, match="time_scale"):
        BrokerRules(time_scale=0)
    assert BrokerRules(time_scale=0.1).session_expiry == pytest.approx(360.0)
    assert BrokerRules(iot_core=False).session_expiry is None
