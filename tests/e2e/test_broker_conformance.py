"""The local broker behaves as AWS documents IoT Core's message broker (issue #22), driven by real
clients (paho-mqtt, and a bare socket client for what paho will not do on purpose).

Each test names the AWS page it follows; README "Local stack vs IoT Core" lists them. Timers run
scaled (`BrokerRules.time_scale`): a keep-alive that IoT Core enforces after 45 s ends after 4.5 s
here. Against plain amqtt 0.12.1 every test here fails (docs/upstream/)."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from mqtt_actions_cli.local.broker_rules import BrokerRules
from tests.support.local_broker import RunningBroker, running_broker
from tests.support.mqtt_clients import stop_loop
from tests.support.raw_mqtt import PINGRESP, PUBLISH, PUBREC, SUBACK, RawClient, connect_packet

pytestmark = pytest.mark.e2e

SCALE = 0.1  # IoT Core's 45 s keep-alive floor -> 4.5 s, its 1 h session expiry -> 6 min


@pytest.fixture
def broker() -> Iterator[RunningBroker]:
    with running_broker(BrokerRules(time_scale=SCALE)) as running:
        yield running


@pytest.fixture
def raw() -> Iterator[Any]:
    """Opens bare socket clients, all closed at the end."""
    opened: list[RawClient] = []

    def open_client(port: int) -> RawClient:
        opened.append(RawClient(port))
        return opened[-1]

    yield open_client
    for client in opened:
        client.close()


@pytest.fixture
def spec_broker() -> Iterator[RunningBroker]:
    with running_broker(BrokerRules(iot_core=False)) as running:
        yield running


class Paho:
    """A paho-mqtt client (MQTT 3.1.1) with what it received in a queue."""

    def __init__(
        self,
        port: int,
        client_id: str,
        *,
        clean: bool = True,
        will: tuple[str, bytes] | None = None,
        keepalive: int = 0,  # the timers are scaled: paho's pings would come too late
    ) -> None:
        self.received: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.disconnected = threading.Event()
        self.session_present: bool | None = None
        connected = threading.Event()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean,
            protocol=mqtt.MQTTv311,
            reconnect_on_failure=False,  # a device taken over must not take over back
        )
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1)

        def on_connect(_c: Any, _u: Any, flags: Any, _rc: Any, _p: Any) -> None:
            self.session_present = bool(flags.session_present)
            connected.set()

        self.client.on_connect = on_connect
        self.client.on_message = lambda _c, _u, message: self.received.put(message)
        self.client.on_disconnect = lambda *_: self.disconnected.set()
        self.client.connect("127.0.0.1", port, keepalive=keepalive)
        self.client.loop_start()
        assert connected.wait(10), f"{client_id}: no CONNACK"

    def subscribe(self, topic: str, qos: int = 1) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *_: done.set()
        self.client.subscribe(topic, qos)
        assert done.wait(10), f"no SUBACK for {topic}"

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(10)

    def next(self, timeout: float = 10.0) -> mqtt.MQTTMessage:
        return self.received.get(timeout=timeout)

    def nothing_more(self, wait: float = 1.0) -> list[bytes]:
        time.sleep(wait)
        return [m.payload for m in list(self.received.queue)]

    def close(self) -> None:
        self.client.disconnect()
        stop_loop(self.client)


def _id(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}"


# -- keep-alive: developerguide/life-cycle-events.html (MQTT_KEEP_ALIVE_TIMEOUT) and
#    general/latest/gr/iot-core.html#message-broker-limits (keep-alive under 30 s counts as 30)


def test_keepalive_silent_client_is_disconnected_after_1_5_x_30_s_with_its_will(
    raw: Any,
    broker: RunningBroker,
) -> None:
    device, will_topic = _id("silent"), f"status/{uuid.uuid4().hex[:6]}"
    watcher = Paho(broker.port, _id("watcher"))
    watcher.subscribe(will_topic)
    silent = raw(broker.port)
    silent.connect(device, keepalive=5, will=(will_topic, b"offline"))  # then says nothing

    assert silent.closed_by_broker(timeout=30), "the broker never closed the silent connection"
    assert watcher.next().payload == b"offline"
    [event] = broker.wait_for(lambda: broker.events("disconnected", device), "disconnected")
    [connected] = broker.events("connected", device)
    assert event["disconnectReason"] == "MQTT_KEEP_ALIVE_TIMEOUT"
    assert event["clientInitiatedDisconnect"] is False
    assert [m.payload for m in broker.messages(will_topic)] == [b"offline"]  # the rules engine
    # keep-alive 5 counts as 30: closed after 1.5 x 30 s (scaled), not after 1.5 x 5 s
    assert event["timestamp"] - connected["timestamp"] >= 1.5 * 30 * SCALE * 1000
    watcher.close()


def test_keepalive_pings_keep_a_quiet_client_connected(raw: Any, broker: RunningBroker) -> None:
    device = _id("pinger")
    client = raw(broker.port)
    client.connect(device, keepalive=30)
    for _ in range(4):  # 4 x 2 s > the scaled 4.5 s limit
        time.sleep(2)
        client.ping()
        reply = client.read(timeout=5)
        assert reply is not None
        assert reply.kind == PINGRESP
    assert broker.events("disconnected", device) == []
    client.close()


# -- session takeover: developerguide/mqtt.html#mqtt-differences ("the new client connection is
#    accepted and the previously connected client is disconnected") and life-cycle-events.html
#    (DUPLICATE_CLIENTID; the Will is sent)


@pytest.mark.parametrize(("old_clean", "new_clean"), [(False, False), (True, False), (True, True)])
def test_takeover_closes_the_old_connection_with_its_own_will_and_the_new_one_receives(
    broker: RunningBroker, old_clean: bool, new_clean: bool
) -> None:
    device, topic = _id("device"), f"cmd/{uuid.uuid4().hex[:6]}"
    wills = f"will/{device}"
    watcher = Paho(broker.port, _id("watcher"))
    watcher.subscribe(wills)
    old = Paho(broker.port, device, clean=old_clean, will=(wills, b"old"))
    old.subscribe(topic)
    new = Paho(broker.port, device, clean=new_clean, will=(wills, b"new"))
    new.subscribe(topic)
    assert old.disconnected.wait(10), "the old connection was left open"

    [event] = broker.wait_for(lambda: broker.events("disconnected", device), "disconnected")
    assert event["disconnectReason"] == "DUPLICATE_CLIENTID"
    assert watcher.next().payload == b"old"
    sender = Paho(broker.port, _id("sender"))
    sender.publish(topic, b"for the new connection")
    assert new.next().payload == b"for the new connection"
    assert watcher.nothing_more() == [], "the new connection's Will was sent"
    assert len(broker.events("connected", device)) == 2
    assert broker.events("disconnected", device) == [event]
    for client in (sender, watcher, new):
        client.close()


# -- persistent sessions: developerguide/mqtt.html#mqtt-persistent-sessions ("stores
#    unacknowledged QoS 1 messages and new QoS 1 messages"; QoS 0 is not stored)


def test_unacknowledged_qos1_delivery_is_resent_on_reconnect(
    raw: Any, broker: RunningBroker, caplog: pytest.LogCaptureFixture
) -> None:
    device, topic = _id("sub"), f"data/{uuid.uuid4().hex[:6]}"
    caplog.set_level(logging.INFO)
    subscriber = raw(broker.port)
    subscriber.connect(device, clean=False)
    subscriber.subscribe(topic, 1)
    suback = subscriber.read()
    assert suback is not None
    assert suback.kind == SUBACK
    sender = Paho(broker.port, _id("sender"))
    sender.publish(topic, b"unacknowledged")
    first = subscriber.read()
    assert first is not None
    assert (first.kind, first.payload) == (PUBLISH, b"unacknowledged")
    time.sleep(6)  # past amqtt's 5 s PUBACK timeout, still connected, never acknowledged
    subscriber.close()
    sender.publish(topic, b"while offline", qos=1)
    sender.publish(topic, b"qos 0 while offline", qos=0)

    again = Paho(broker.port, device, clean=False)
    assert again.session_present is True
    resent = [again.next(), again.next()]
    assert {m.payload for m in resent} == {b"unacknowledged", b"while offline"}
    assert [m.retain for m in resent] == [False, False]  # not retained messages
    assert again.nothing_more() == [], "a QoS 0 message was stored for the offline session"
    assert not [r for r in caplog.records if r.exc_info], "a traceback in the broker's log"
    again.close()
    sender.close()


def test_spec_broker_resends_an_unfinished_qos2_delivery_on_reconnect(
    raw: Any, spec_broker: RunningBroker
) -> None:
    device, topic = _id("sub2"), f"data/{uuid.uuid4().hex[:6]}"
    subscriber = raw(spec_broker.port)
    subscriber.connect(device, clean=False)
    subscriber.subscribe(topic, 2)
    assert subscriber.read() is not None  # SUBACK
    sender = Paho(spec_broker.port, _id("sender"))
    sender.publish(topic, b"exactly once", qos=2)
    first = subscriber.read()
    assert first is not None
    assert (first.kind, first.payload) == (PUBLISH, b"exactly once")
    subscriber.close()  # no PUBREC

    again = raw(spec_broker.port)
    connack = again.connect(device, clean=False)
    assert connack.body[0] == 1  # session present
    resent = again.read()
    assert resent is not None
    assert (resent.kind, resent.payload, resent.flags & 0x08) == (PUBLISH, b"exactly once", 0x08)
    sender.close()


def test_a_qos1_delivery_never_acknowledged_is_dropped_after_iot_cores_retry_hour(
    raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with running_broker(BrokerRules(time_scale=0.001)) as broker:  # 1 h -> 3.6 s
        device, topic = _id("deaf"), f"data/{uuid.uuid4().hex[:6]}"
        subscriber = raw(broker.port)
        subscriber.connect(device, clean=False)
        subscriber.subscribe(topic, 1)
        assert subscriber.read() is not None  # SUBACK
        sender = Paho(broker.port, _id("sender"))
        sender.publish(topic, b"never acknowledged")

        def dropped() -> bool:
            # Keep-alive 0 is IoT Core's default 1,200 s, here 1.8 s: a ping keeps it connected.
            subscriber.ping()
            return any("no acknowledgement for message" in r.getMessage() for r in caplog.records)

        broker.wait_for(dropped, "the dropped-message line")
        subscriber.close()
        again = Paho(broker.port, device, clean=False)
        assert again.session_present is True
        assert again.nothing_more() == [], "a message dropped after the retry time came back"
        again.close()
        sender.close()


def test_quick_clean_then_persistent_reconnect_keeps_the_persistent_session(
    broker: RunningBroker,
) -> None:
    device, topic = _id("flip"), f"data/{uuid.uuid4().hex[:6]}"
    Paho(broker.port, device, clean=True).close()
    persistent = Paho(broker.port, device, clean=False)  # at once, as a device reboots
    assert persistent.session_present is False
    persistent.subscribe(topic)
    persistent.close()
    time.sleep(2.5)  # amqtt dropped the session a second after its disconnect
    sender = Paho(broker.port, _id("sender"))
    sender.publish(topic, b"stored")

    again = Paho(broker.port, device, clean=False)
    assert again.session_present is True
    assert again.next().payload == b"stored"
    again.close()
    sender.close()


def test_persistent_session_expires_after_iot_cores_hour() -> None:
    with running_broker(BrokerRules(time_scale=0.001)) as broker:  # 1 h -> 3.6 s
        device, topic = _id("expiring"), f"data/{uuid.uuid4().hex[:6]}"
        first = Paho(broker.port, device, clean=False)
        first.subscribe(topic)
        first.close()
        time.sleep(3.6 + 2.5)  # the expiry, plus the broker's one-second sweep
        sender = Paho(broker.port, _id("sender"))
        sender.publish(topic, b"too late")
        again = Paho(broker.port, device, clean=False)
        assert again.session_present is False
        assert again.nothing_more() == []
        again.close()
        sender.close()


# -- reserved topics: developerguide/reserved-topics.html ("Unsupported publish or subscribe
#    operations to reserved topics can result in a terminated connection"); a second CONNECT:
#    life-cycle-events.html (CLIENT_ERROR: "more than 1 MQTT CONNECT packets on the same
#    connection")


def test_publish_to_a_reserved_aws_topic_is_served(broker: RunningBroker) -> None:
    device = _id("dev")
    shadow = f"$aws/things/{device}/shadow/update"
    watcher = Paho(broker.port, _id("watcher"))
    watcher.subscribe(shadow)
    client = Paho(broker.port, device)
    client.publish(shadow, b'{"state":{"reported":{"on":true}}}')
    assert watcher.next().payload == b'{"state":{"reported":{"on":true}}}'
    client.publish("plain/after", b"still connected")
    assert broker.wait_for(lambda: broker.messages("plain/after"), "the next publish")
    assert not client.disconnected.is_set()
    for c in (client, watcher):
        c.close()


def test_spec_broker_takes_dollar_topics_but_wildcards_never_match_them(
    spec_broker: RunningBroker,
) -> None:
    everything, exact = Paho(spec_broker.port, _id("all")), Paho(spec_broker.port, _id("exact"))
    everything.subscribe("#")
    exact.subscribe("$TopicA/B")
    client = Paho(spec_broker.port, _id("pub"))
    client.publish("$TopicA/B", b"x")
    assert exact.next().payload == b"x"
    assert everything.nothing_more() == []
    for c in (client, exact, everything):
        c.close()


# -- smaller items: mqtt.html#mqtt-differences (QoS 2, `#` and the parent, retained messages)


@pytest.mark.parametrize("offence", ["publish to $TopicA/B", "a second CONNECT"])
def test_a_client_error_closes_the_connection_with_its_will(
    raw: Any, broker: RunningBroker, offence: str
) -> None:
    device, will_topic = _id("offender"), f"will/{uuid.uuid4().hex[:6]}"
    watcher = Paho(broker.port, _id("watcher"))
    watcher.subscribe(will_topic)
    client = raw(broker.port)
    client.connect(device, will=(will_topic, b"gone"))
    if offence.startswith("publish"):  # a reserved topic IoT Core does not serve
        client.publish("$TopicA/B", b"x", qos=1)
    else:
        client.send(connect_packet(device))
    assert client.closed_by_broker(timeout=10), "a zombie connection: still open"
    [event] = broker.wait_for(lambda: broker.events("disconnected", device), "disconnected")
    assert event["disconnectReason"] == "CLIENT_ERROR"
    assert watcher.next().payload == b"gone"
    watcher.close()


@pytest.mark.parametrize("iot_core", [True, False], ids=["iot-core", "spec-broker"])
def test_qos2_publish_and_subscribe_get_no_answer_as_on_iot_core(raw: Any, iot_core: bool) -> None:
    with running_broker(BrokerRules(iot_core=iot_core)) as broker:
        client = raw(broker.port)
        client.connect(_id("qos2"))
        client.publish("data/qos2", b"x", qos=2, packet_id=7)
        client.ping()
        first = client.read()
        assert first is not None
        assert first.kind == (PINGRESP if iot_core else PUBREC)
        client.subscribe("data/#", 2, packet_id=8)
        client.ping()
        reply = client.read()
        while not iot_core and reply is not None and reply.kind == PINGRESP:
            reply = client.read()
        assert reply is not None
        assert reply.kind == (PINGRESP if iot_core else SUBACK)
        client.close()


@pytest.mark.parametrize("iot_core", [True, False], ids=["iot-core", "spec-broker"])
def test_retained_messages_reach_exact_subscriptions_only_on_iot_core(iot_core: bool) -> None:
    with running_broker(BrokerRules(iot_core=iot_core)) as broker:
        base = f"config/{uuid.uuid4().hex[:6]}"
        publisher = Paho(broker.port, _id("pub"))
        publisher.publish(f"{base}/a", b"retained", retain=True)
        wildcard, exact = Paho(broker.port, _id("wild")), Paho(broker.port, _id("exact"))
        wildcard.subscribe(f"{base}/+")
        exact.subscribe(f"{base}/a")
        assert exact.next().payload == b"retained"
        assert wildcard.nothing_more() == ([] if iot_core else [b"retained"])
        for c in (publisher, wildcard, exact):
            c.close()


@pytest.mark.parametrize("iot_core", [True, False], ids=["iot-core", "spec-broker"])
def test_hash_filter_matches_its_parent_only_in_plain_mqtt(iot_core: bool) -> None:
    with running_broker(BrokerRules(iot_core=iot_core)) as broker:
        base = f"sensor{uuid.uuid4().hex[:6]}"
        subscriber, publisher = Paho(broker.port, _id("sub")), Paho(broker.port, _id("pub"))
        subscriber.subscribe(f"{base}/#")
        publisher.publish(base, b"parent")
        publisher.publish(f"{base}/t", b"child")
        assert subscriber.next().payload == (b"child" if iot_core else b"parent")
        assert subscriber.nothing_more() == ([] if iot_core else [b"child"])
        for c in (publisher, subscriber):
            c.close()
