"""amqtt 0.12.1's Broker with the fixes the local stack needs, all in this module.

Each override names the upstream method it replaces or wraps; `tests/unit/test_amqtt_fixes.py`
pins the amqtt version and the source of every such method, so an amqtt upgrade fails loudly
until someone re-checks these fixes against the new code (and drops the ones upstream has made).
The bug reports are in docs/upstream/. What the broker does where IoT Core and MQTT 3.1.1 differ
is decided by `broker_rules.BrokerRules` (IoT Core by default, `--spec-broker` for plain MQTT).

1. Acknowledged messages lost on disconnect (amqtt-disconnect-drops-acked-qos1.md): the client
   loop stops reading the session's queue of received messages as soon as the client
   disconnects. Here the queue is drained first, in order, then the disconnect is handled.
2. Persistent sessions: amqtt marks every client of its anonymous-auth plugin `is_anonymous` and
   then neither queues QoS 1 messages for it while offline nor keeps its session. IoT Core keeps
   persistent sessions for every client it let in, so the local broker does too.
3. Session takeover (amqtt-session-takeover.md): a CONNECT with the client id of a live
   connection closes that connection first (its own Last Will sent, its session marked
   `TAKEN_OVER`: the lifecycle event says DUPLICATE_CLIENTID) and waits for its loop to end,
   before amqtt merges the new CONNECT into the session: upstream merged first (the *new*
   Will went out) and let the old loop mark the shared session disconnected (the new connection
   received nothing). A clean session is never resumed by a clean-session=0 CONNECT (IoT Core
   keeps no state for a clean session): upstream resumed it, still marked clean, and dropped it
   a second after it disconnected.
4. Retained messages on connect: amqtt sends a (re)connecting client the retained messages of
   *every* client's subscriptions; only the client's own count.
5. Keep-alive (amqtt-keepalive-never-enforced.md): `BrokerProtocolHandler.handle_read_timeout`
   does nothing, so a silent client stays connected forever and its Will is never sent. Here the
   connection is closed after `BrokerRules.keepalive_timeout` (IoT Core: 1.5 x keep-alive, at
   least 30 s) as MQTT_KEEP_ALIVE_TIMEOUT, Will sent.
6. QoS 1 deliveries (amqtt-qos1-redelivery.md): amqtt forgets a QoS 1 message it sent when the
   PUBACK does not come within 5 s (with a traceback in the log) or the connection drops. Here it
   stays in the session until acknowledged: resent on reconnect to a persistent session, dropped
   with one log line after IoT Core's QoS 1 retry hour. The same for QoS 2 (--spec-broker).
7. Delivered QoS: amqtt delivers at the subscription's QoS, so a QoS 0 message to a QoS 1
   subscriber is queued for it while offline; here min(publish, subscription) as MQTT 3.1.1
   §3.8.4 says, and only QoS 1 is stored offline, as IoT Core does.
8. `$` topics (amqtt-dollar-topic-zombie.md): a PUBLISH to a `$` topic made amqtt stop its
   client loop and leave the connection open, reading and acknowledging, never delivering.
   Here the broker takes it or closes the connection (CLIENT_ERROR), as `BrokerRules` says.
9. A second CONNECT on a connection ends it as CLIENT_ERROR (IoT Core's reason), not as a lost
   connection.
10. Messages stored for an offline session were sent with RETAIN 1 on reconnect; RETAIN 0 here.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Coroutine
from typing import Any, Final

from amqtt.broker import Broker
from amqtt.contexts import Action, ListenerConfig
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.events import BrokerEvents
from amqtt.mqtt.constants import QOS_1, QOS_2
from amqtt.mqtt.disconnect import DisconnectPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.pubrel import PubrelPacket
from amqtt.session import OUTGOING, ApplicationMessage, Session
from amqtt.utils import gen_client_id

from mqtt_actions_cli.local.broker_rules import BrokerRules
from mqtt_actions_cli.local.output import log

AMQTT_VERSION: Final = "0.12.1"  # the version these overrides were written against
TAKEN_OVER: Final = "amqtt_fixes.taken_over"  # session attribute: closed for a newer connection
# Session attribute: why the broker closed the connection (an IoT Core disconnectReason).
DISCONNECT_REASON: Final = "amqtt_fixes.disconnect_reason"
# Session attribute: the Last Will sent for the connection that just ended, (topic, payload, qos,
# retain), read by the plugin (the session's own will_* may already be a newer connection's).
WILL_SENT: Final = "amqtt_fixes.will_sent"
_LOOP_ENDED: Final = "amqtt_fixes.loop_ended"  # session attribute: set when its client loop ends
TAKEOVER_TIMEOUT: Final = 10.0  # s to let the first connection deliver what it received
PUBACK_INLINE_S: Final = 5.0  # upstream's PUBACK wait; after it the wait goes on in the background
KEEP_ALIVE_TIMEOUT: Final = "MQTT_KEEP_ALIVE_TIMEOUT"
CLIENT_ERROR: Final = "CLIENT_ERROR"


def connection(
    broker: Broker | None, client_id: str
) -> tuple[Session, BrokerProtocolHandler] | None:
    """The session and protocol handler of a connected (or remembered) client: amqtt keeps them
    in the private `Broker._sessions`, read here and nowhere else."""
    if broker is None:
        return None
    entry: tuple[Session, BrokerProtocolHandler] | None = broker._sessions.get(client_id)
    return entry


def broker_of(context: Any) -> Broker | None:
    """The broker a plugin's context belongs to (amqtt's private `_broker_instance`)."""
    found: Broker | None = getattr(context, "_broker_instance", None)
    return found


def rules_of(context: Any) -> BrokerRules:
    """The rules of the broker a plugin's context belongs to (IoT Core's for a plain Broker)."""
    rules = getattr(broker_of(context), "rules", None)
    return rules if isinstance(rules, BrokerRules) else BrokerRules()


class FixedHandler(BrokerProtocolHandler):  # type: ignore[misc]
    """amqtt's BrokerProtocolHandler with fixes 5, 6, 9 and IoT Core's QoS 2. amqtt creates the
    handler itself (`BrokerProtocolHandler.init_from_connect`); `adopt` turns it into this."""

    rules: BrokerRules
    _background: set[asyncio.Future[Any]]

    @classmethod
    def adopt(cls, handler: BrokerProtocolHandler, rules: BrokerRules) -> FixedHandler:
        handler.__class__ = cls
        handler.rules = rules
        handler._background = set()
        adopted: FixedHandler = handler
        return adopted

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _close(self, reason: str) -> None:
        """End the connection as IoT Core would, for `reason` (Will sent: not a DISCONNECT)."""
        if self.session is not None:
            self.session.attributes.setdefault(DISCONNECT_REASON, reason)
        self._spawn(self.handle_connection_closed())

    # -- fix 5: replaces BrokerProtocolHandler.handle_read_timeout (upstream: `pass`)
    def handle_read_timeout(self) -> None:
        # The reader waited `session.keep_alive` s (set from BrokerRules) for a packet.
        if self.session is not None and self.session.keep_alive:
            self._close(KEEP_ALIVE_TIMEOUT)

    # -- fix 9: wraps BrokerProtocolHandler.handle_connect (a CONNECT after the first)
    async def handle_connect(self, connect: Any) -> None:
        if self.session is not None:
            self.session.attributes.setdefault(DISCONNECT_REASON, CLIENT_ERROR)
        await super().handle_connect(connect)

    # -- QoS 2 as IoT Core: wraps handle_publish / handle_subscribe
    async def handle_publish(self, publish_packet: Any) -> None:
        if publish_packet.qos == QOS_2 and self.rules.refuses_qos2():
            log.warning(
                "warn %s: PUBLISH with QoS 2 on %r dropped unanswered, as IoT Core does (no "
                "PUBREC): publish with QoS 0 or 1 (or run the stack with --spec-broker)",
                self._client_id(),
                publish_packet.topic_name,
            )
            return
        await super().handle_publish(publish_packet)

    async def handle_subscribe(self, subscribe: Any) -> None:
        topics = list(getattr(subscribe.payload, "topics", None) or [])
        if self.rules.refuses_qos2() and any(qos == QOS_2 for _, qos in topics):
            log.warning(
                "warn %s: SUBSCRIBE with QoS 2 (%s) left unanswered, as IoT Core does (no "
                "SUBACK): subscribe with QoS 0 or 1 (or run the stack with --spec-broker)",
                self._client_id(),
                ", ".join(f for f, qos in topics if qos == QOS_2),
            )
            return
        await super().handle_subscribe(subscribe)

    # -- fix 6: replaces ProtocolHandler._retry_deliveries (upstream: awaited inside start())
    async def _retry_deliveries(self) -> None:
        """Resend what the session has in flight ([MQTT-4.4.0-1]) without holding up the start
        of the connection: each resend waits for its acknowledgement in the background."""
        if self.session is None:
            return
        for message in [*self.session.inflight_in.values(), *self.session.inflight_out.values()]:
            self._spawn(self._retry(message))

    async def _retry(self, message: Any) -> None:
        try:
            await self._handle_message_flow(message)
        except (AMQTTError, MQTTError, ConnectionError, TimeoutError) as exc:
            log.info("conn %s: resend of packet %s failed (%s)", self._client_id(), message, exc)

    # -- fix 6: wraps ProtocolHandler._handle_qos1_message_flow (outgoing messages only)
    async def _handle_qos1_message_flow(self, app_message: Any) -> None:
        if app_message.direction != OUTGOING or self.session is None:
            await super()._handle_qos1_message_flow(app_message)
            return
        self.session.inflight_out.setdefault(app_message.packet_id, app_message)
        if app_message.puback_packet is None:
            await self._send_publish(app_message)
            if not await self._acknowledgement(self._puback_waiters, app_message, "puback_packet"):
                return
        self._forget(app_message)

    # -- fix 6 (--spec-broker): wraps ProtocolHandler._handle_qos2_message_flow (outgoing only)
    async def _handle_qos2_message_flow(self, app_message: Any) -> None:
        if app_message.direction != OUTGOING or self.session is None:
            await super()._handle_qos2_message_flow(app_message)
            return
        self.session.inflight_out.setdefault(app_message.packet_id, app_message)
        if app_message.pubrec_packet is None:
            await self._send_publish(app_message)
            if not await self._acknowledgement(self._pubrec_waiters, app_message, "pubrec_packet"):
                return
        if app_message.pubcomp_packet is None:
            app_message.pubrel_packet = PubrelPacket.build(app_message.packet_id)
            await self._send_packet(app_message.pubrel_packet)
            if not await self._acknowledgement(
                self._pubcomp_waiters, app_message, "pubcomp_packet"
            ):
                return
        self._forget(app_message)

    async def _send_publish(self, app_message: Any) -> None:
        packet = app_message.build_publish_packet(dup=app_message.publish_packet is not None)
        await self._send_packet(packet)
        app_message.publish_packet = packet

    async def _acknowledgement(
        self, waiters: dict[int, Any], app_message: Any, attribute: str
    ) -> bool:
        """Wait for `app_message`'s PUBACK, PUBREC or PUBCOMP (`attribute`): True when it came.
        False when the wait goes on in the background (the caller, a broadcast or the retained
        messages of a new subscription, waits 5 s as upstream did; the flow resumes when it
        comes) or when the connection ended: the message stays in the session's in-flight
        messages, resent when a persistent session reconnects."""
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        waiters[app_message.packet_id] = waiter
        try:
            await asyncio.wait_for(asyncio.shield(waiter), PUBACK_INLINE_S)
        except TimeoutError:
            self._spawn(self._resume(waiters, app_message, attribute, waiter))
            return False
        except asyncio.CancelledError:
            if not waiter.cancelled():
                raise  # the caller itself is cancelled
        return self._settle(waiters, app_message, attribute, waiter)

    async def _resume(
        self, waiters: dict[int, Any], app_message: Any, attribute: str, waiter: Any
    ) -> None:
        try:
            await asyncio.wait_for(waiter, self.rules.qos1_retry)
        except TimeoutError:
            log.warning(
                "warn %s: no acknowledgement for message %d on %r in %.0f s: dropped (IoT "
                "Core's QoS 1 retry limit)",
                self._client_id(),
                app_message.packet_id,
                app_message.topic,
                self.rules.qos1_retry,
            )
            if waiters.get(app_message.packet_id) is waiter:
                del waiters[app_message.packet_id]
            self._forget(app_message)
            return
        except asyncio.CancelledError:
            if not waiter.cancelled():
                raise
        if self._settle(waiters, app_message, attribute, waiter):
            await self._handle_message_flow(app_message)  # the next step, or done

    @staticmethod
    def _settle(waiters: dict[int, Any], app_message: Any, attribute: str, waiter: Any) -> bool:
        if waiters.get(app_message.packet_id) is waiter:
            del waiters[app_message.packet_id]
        if waiter.cancelled():  # the connection ended: kept in flight
            return False
        setattr(app_message, attribute, waiter.result())
        return True

    def _forget(self, app_message: Any) -> None:
        """The message is done (acknowledged) or dropped: out of the session's in-flight ones."""
        packet_id = app_message.packet_id
        if self.session is not None and self.session.inflight_out.get(packet_id) is app_message:
            del self.session.inflight_out[packet_id]

    def _client_id(self) -> str:
        return str(self.session.client_id) if self.session is not None else "-"


class FixedBroker(Broker):  # type: ignore[misc]
    """amqtt's Broker with the fixes above; everything else is upstream's."""

    def __init__(self, config: dict[str, Any], *, rules: BrokerRules | None = None) -> None:
        self.rules = rules or BrokerRules()
        expiry = self.rules.session_expiry
        config = {
            **config,
            "session_expiry_interval": None if expiry is None else max(1, math.ceil(expiry)),
        }
        super().__init__(config)

    # -- fix 1, 8: replaces Broker._client_message_loop (same loop, plus `_deliver_received`)
    async def _client_message_loop(
        self, client_session: Session, handler: BrokerProtocolHandler
    ) -> None:
        ended = asyncio.Event()
        client_session.attributes[_LOOP_ENDED] = ended
        try:
            await self._client_loop(client_session, handler)
        finally:
            ended.set()

    async def _client_loop(self, client_session: Session, handler: BrokerProtocolHandler) -> None:
        disconnect_waiter = asyncio.ensure_future(handler.wait_disconnect())
        subscribe_waiter = asyncio.ensure_future(handler.get_next_pending_subscription())
        unsubscribe_waiter = asyncio.ensure_future(handler.get_next_pending_unsubscription())
        wait_deliver = asyncio.ensure_future(handler.mqtt_deliver_next_message())
        connected = True

        while connected:
            try:
                done, _ = await asyncio.wait(
                    [disconnect_waiter, subscribe_waiter, unsubscribe_waiter, wait_deliver],
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if disconnect_waiter in done:
                    # The fix: everything the client sent before it went away, first.
                    await self._deliver_received(client_session, handler, wait_deliver)
                    _remember_will(client_session, disconnect_waiter.result())
                    await self._handle_disconnect(client_session, handler, disconnect_waiter)
                    connected = False
                if subscribe_waiter in done:
                    await self._handle_subscription(client_session, handler, subscribe_waiter)
                    subscribe_waiter = asyncio.ensure_future(
                        handler.get_next_pending_subscription()
                    )
                if unsubscribe_waiter in done:
                    await self._handle_unsubscription(client_session, handler, unsubscribe_waiter)
                    unsubscribe_waiter = asyncio.ensure_future(
                        handler.get_next_pending_unsubscription()
                    )
                if connected and wait_deliver in done:
                    delivered = await self._handle_message_delivery(
                        client_session, handler, wait_deliver
                    )
                    wait_deliver = asyncio.ensure_future(handler.mqtt_deliver_next_message())
                    if not delivered:
                        # Fix 8: upstream left the loop here and the connection open (a zombie).
                        client_session.attributes.setdefault(DISCONNECT_REASON, CLIENT_ERROR)
                        await handler.handle_connection_closed()
            except asyncio.CancelledError:
                break

        pending_waiters = [disconnect_waiter, subscribe_waiter, unsubscribe_waiter, wait_deliver]
        for waiter in pending_waiters:
            waiter.cancel()
        await asyncio.gather(*pending_waiters, return_exceptions=True)

    async def _deliver_received(
        self,
        client_session: Session,
        handler: BrokerProtocolHandler,
        wait_deliver: asyncio.Future[Any],
    ) -> None:
        """Broadcast, in order, every message the client sent (and was acknowledged) that the
        loop has not handled yet: the one `wait_deliver` may hold, then the session's queue."""
        # Stop the waiter first, so that nothing else takes from the queue meanwhile; a waiter
        # that already took a message returns it (a stopped one returns None).
        wait_deliver.cancel()
        results = await asyncio.gather(wait_deliver, return_exceptions=True)
        first = results[0]
        queue = client_session.delivered_message_queue
        held = [first] if isinstance(first, ApplicationMessage) else []
        while held or not queue.empty():
            taken: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            taken.set_result(held.pop() if held else queue.get_nowait())
            # A message with an invalid topic makes upstream close the connection; here the
            # connection is gone already, so the messages after it are still delivered.
            await self._handle_message_delivery(client_session, handler, taken)

    # -- fix 7, 8: replaces Broker._handle_message_delivery
    async def _handle_message_delivery(
        self,
        client_session: Session,
        handler: BrokerProtocolHandler,
        wait_deliver: asyncio.Future[Any],
    ) -> bool:
        """Broadcast one message the client published; False: close the connection."""
        app_message = wait_deliver.result()
        await self.plugins_manager.fire_event(
            BrokerEvents.MESSAGE_RECEIVED, client_id=client_session.client_id, message=app_message
        )
        if app_message is None:
            return True
        topic = app_message.topic
        if not topic or "#" in topic or "+" in topic:
            log.warning(
                "warn %s: PUBLISH to invalid topic %r: connection closed (MQTT-4.7.3-1, "
                "MQTT-3.3.2-2)",
                client_session.client_id,
                topic,
            )
            return False
        if self.rules.publish_to_reserved(topic) is False:
            log.warning(
                "warn %s: PUBLISH to reserved topic %r: connection closed, as IoT Core may do "
                "for a reserved topic it does not serve (AWS: reserved-topics.html)",
                client_session.client_id,
                topic,
            )
            return False
        if not await self._topic_filtering(client_session, topic=topic, action=Action.PUBLISH):
            log.info("deny %s may not publish to %r", client_session.client_id, topic)
            return True
        await self.plugins_manager.fire_event(
            BrokerEvents.MESSAGE_BROADCAST, client_id=client_session.client_id, message=app_message
        )
        await self._broadcast_message(client_session, topic, app_message.data, app_message.qos)
        if app_message.publish_packet and app_message.publish_packet.retain_flag:
            await self.retain_message(client_session, topic, app_message.data, app_message.qos)
        return True

    # -- fix 7: replaces Broker._run_broadcast (delivered QoS = min(publish, subscription))
    async def _run_broadcast(self, running_tasks: Any) -> None:
        broadcast = await self._broadcast_queue.get()
        topic = broadcast["topic"]
        for topic_filter, subscriptions in list(self._subscriptions.items()):
            if not self._matches(topic, topic_filter):
                continue
            for target_session, sub_qos in list(subscriptions):
                published_qos = broadcast.get("qos")
                qos = sub_qos if published_qos is None else min(published_qos, sub_qos)
                if not await self._topic_filtering(
                    target_session, topic=topic, action=Action.RECEIVE
                ):
                    continue
                if target_session.transitions.state != "connected":
                    # Stored for an offline persistent session: QoS 1 (and 2 for --spec-broker)
                    if not target_session.clean_session and qos in (QOS_1, QOS_2):
                        await self._retain_broadcast_message(broadcast, qos, target_session)
                    continue
                handler = self._get_handler(target_session)
                if handler:
                    task = asyncio.ensure_future(
                        handler.mqtt_publish(topic, broadcast["data"], qos, retain=False)
                    )
                    running_tasks.append(task)

    # -- IoT Core's `#`: replaces Broker._matches when `a/#` must not match `a`
    def _matches(self, topic: str, a_filter: str) -> bool:
        if (
            not self.rules.hash_matches_parent()
            and a_filter.endswith("/#")
            and topic == a_filter[:-2]
        ):
            return False
        matched: bool = super()._matches(topic, a_filter)
        return matched

    # -- fix 3, 5: replaces Broker._initialize_client_session
    async def _initialize_client_session(
        self, reader: Any, writer: Any, remote_address: str, remote_port: int
    ) -> tuple[BrokerProtocolHandler, Session]:
        try:
            handler, client_session = await BrokerProtocolHandler.init_from_connect(
                reader, writer, self.plugins_manager
            )
        except AMQTTError as exc:
            log.info("conn %s:%s: no CONNECT (%s)", remote_address, remote_port, exc)
            raise AMQTTError(exc) from exc
        except MQTTError as exc:
            log.info("conn %s:%s: invalid CONNECT (%s)", remote_address, remote_port, exc)
            await writer.close()
            raise MQTTError(exc) from exc
        except NoDataError as exc:
            raise AMQTTError(exc) from exc

        client_id = client_session.client_id
        if client_id:
            await self._take_over(client_id)
            previous = self._sessions.get(client_id)
            if previous is not None and (client_session.clean_session or previous[0].clean_session):
                await self._delete_session(client_id)
        if client_session.clean_session:
            if not client_id:
                client_session.client_id = gen_client_id()
            client_session.parent = 0
        elif client_id in self._sessions:
            existing, _ = self._sessions[client_id]
            for name in (
                "will_flag",
                "will_message",
                "will_topic",
                "will_qos",
                "will_retain",
                "keep_alive",
                "username",
                "password",
            ):
                setattr(existing, name, getattr(client_session, name))
            client_session = existing
            client_session.parent = 1
        else:
            client_session.parent = 0
        # Fix 5: the reader waits this long for each packet (upstream: keep-alive + a delay).
        client_session.keep_alive = self.rules.keepalive_timeout(client_session.keep_alive) or 0
        return FixedHandler.adopt(handler, self.rules), client_session

    async def _take_over(self, client_id: str) -> None:
        """Before a new connection uses `client_id`: close the previous connection if it is
        still open (its Will goes out, DUPLICATE_CLIENTID), and let its loop finish delivering
        what it received."""
        session, handler = self._sessions.get(client_id, (None, None))
        ended = session.attributes.get(_LOOP_ENDED) if session is not None else None
        if isinstance(ended, asyncio.Event) and not ended.is_set():
            if handler is not None and not _disconnect_received(handler):
                session.attributes[TAKEN_OVER] = True
                await handler.handle_connection_closed()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), TAKEOVER_TIMEOUT)

    # -- fix 10: replaces Broker._publish_session_retained_messages (the offline queue)
    async def _publish_session_retained_messages(self, session: Session) -> None:
        """What was stored for the session while it was offline, in order, with RETAIN 0:
        upstream set RETAIN 1 on every one (MQTT 3.1.1 §3.3.1.3: only for messages sent
        because of a new subscription; IoT Core does the same)."""
        handler = self._get_handler(session)
        if handler is None:
            return
        while not session.retained_messages.empty():
            stored = session.retained_messages.get_nowait()
            await handler.mqtt_publish(stored.topic, stored.data, stored.qos, retain=False)

    # -- fix 2: wraps Broker._authenticate
    async def _authenticate(self, session: Session, listener: ListenerConfig) -> bool:
        authenticated = bool(await super()._authenticate(session, listener))
        session.is_anonymous = False
        return authenticated

    # -- fix 4 and IoT Core's retained messages: wraps _publish_retained_messages_for_subscription
    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        if not self.rules.retained_on_subscribe(subscription[0]):
            return
        subscribers = self._subscriptions.get(subscription[0], [])
        if any(s.client_id == session.client_id for s, _ in subscribers):
            await super()._publish_retained_messages_for_subscription(subscription, session)


def _remember_will(session: Session, result: Any) -> None:
    """What `_handle_disconnect` is about to send as the Last Will (nothing after DISCONNECT)."""
    if isinstance(result, DisconnectPacket) or not session.will_flag or not session.will_topic:
        session.attributes.pop(WILL_SENT, None)
        return
    session.attributes[WILL_SENT] = (
        str(session.will_topic),
        bytes(session.will_message or b""),
        int(session.will_qos or 0),
        bool(session.will_retain),
    )


def _disconnect_received(handler: BrokerProtocolHandler) -> bool:
    """Has the connection already ended (DISCONNECT or a closed socket)? Upstream's
    `handle_disconnect` resolves the waiter and then drops it."""
    waiter = handler._disconnect_waiter
    return waiter is None or bool(waiter.done())
