"""amqtt 0.12.1's Broker with the fixes the local stack needs, all in this one subclass.

Each override names the upstream method it replaces; `tests/unit/test_amqtt_fixes.py` pins the
amqtt version and the source of every replaced method, so an amqtt upgrade fails loudly until
someone re-checks these fixes against the new code (and drops the ones upstream has made).

1. Acknowledged messages lost on disconnect (docs/upstream/amqtt-disconnect-drops-acked-qos1.md):
   the client loop stops reading the session's queue of received messages as soon as the client
   disconnects, so what was PUBACKed but not yet broadcast is never delivered. Here the queue is
   drained first, in order, then the disconnect is handled (so a device's publishes also come
   before its disconnected event, as they happened).
2. Persistent sessions: amqtt marks every client of its anonymous-auth plugin `is_anonymous` and
   then neither queues QoS 1 messages for it while offline nor keeps its session. IoT Core keeps
   persistent sessions for every client it let in, so the local broker does too.
3. A new connection with the client id of another (clean session): amqtt clears the previous
   session's queues at once, even while its loop is still delivering what it received (a device
   that reconnects right after disconnecting lost those messages), and leaves a previous
   connection that is still open running, without its Last Will. Here the previous loop
   finishes first; a connection still open is closed (Last Will sent) and its session marked
   `TAKEN_OVER`, so the lifecycle event can say DUPLICATE_CLIENTID, as IoT Core does.
4. Retained messages on connect: amqtt sends a (re)connecting client the retained messages of
   *every* client's subscriptions; only the client's own count.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Final

from amqtt.broker import Broker
from amqtt.contexts import ListenerConfig
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import ApplicationMessage, Session

AMQTT_VERSION: Final = "0.12.1"  # the version these overrides were written against
TAKEN_OVER: Final = "amqtt_fixes.taken_over"  # session attribute: closed for a newer connection
_LOOP_ENDED: Final = "amqtt_fixes.loop_ended"  # session attribute: set when its client loop ends
TAKEOVER_TIMEOUT: Final = 10.0  # s to let the first connection deliver what it received


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


class FixedBroker(Broker):  # type: ignore[misc]
    """amqtt's Broker with the fixes above; everything else is upstream's."""

    # -- fix 1: replaces Broker._client_message_loop (same loop, plus `_deliver_received`)
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
                    if not await self._handle_message_delivery(
                        client_session, handler, wait_deliver
                    ):
                        break
                    wait_deliver = asyncio.ensure_future(handler.mqtt_deliver_next_message())
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

    # -- fix 3: wraps Broker._delete_session (called for a CONNECT with clean session)
    async def _delete_session(self, client_id: str) -> None:
        session, handler = self._sessions.get(client_id, (None, None))
        ended = session.attributes.get(_LOOP_ENDED) if session is not None else None
        if isinstance(ended, asyncio.Event) and not ended.is_set():
            # The previous connection's loop still runs: connected (taken over now), or gone a
            # moment ago and still delivering what it received. Either way, let it finish
            # before upstream clears the session's queues.
            if handler is not None and not _disconnect_received(handler):
                session.attributes[TAKEN_OVER] = True
                await handler.handle_connection_closed()  # ends like a lost connection
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), TAKEOVER_TIMEOUT)
        await super()._delete_session(client_id)

    # -- fix 2: wraps Broker._authenticate
    async def _authenticate(self, session: Session, listener: ListenerConfig) -> bool:
        authenticated = bool(await super()._authenticate(session, listener))
        session.is_anonymous = False
        return authenticated

    # -- fix 4: wraps Broker._publish_retained_messages_for_subscription
    async def _publish_retained_messages_for_subscription(
        self, subscription: tuple[str, int], session: Session
    ) -> None:
        subscribers = self._subscriptions.get(subscription[0], [])
        if any(s.client_id == session.client_id for s, _ in subscribers):
            await super()._publish_retained_messages_for_subscription(subscription, session)


def _disconnect_received(handler: BrokerProtocolHandler) -> bool:
    """Has the connection already ended (DISCONNECT or a closed socket)? Upstream's
    `handle_disconnect` resolves the waiter and then drops it."""
    waiter = handler._disconnect_waiter
    return waiter is None or bool(waiter.done())
