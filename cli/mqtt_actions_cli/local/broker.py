"""The embedded amqtt broker standing in for IoT Core's message broker.

`IotCorePlugin` publishes IoT Core's lifecycle events (same topics, same JSON fields) and hands
every message to the rules engine; it warns where IoT Core would behave differently. The
broker's listener is a socket we open ourselves on 127.0.0.1 (amqtt's "external" listener), so
port 0 works and shutdown is ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from amqtt.adapters import StreamWriterAdapter
from amqtt.broker import Broker, BrokerContext
from amqtt.mqtt.disconnect import DisconnectPacket
from amqtt.plugins.base import BasePlugin
from amqtt.session import Session

from mqtt_actions.limits import MAX_MQTT_PAYLOAD, MAX_TOPIC_SLASHES
from mqtt_actions.topics import topic_matches
from mqtt_actions_cli.local import auth, tls
from mqtt_actions_cli.local.amqtt_fixes import (
    DISCONNECT_REASON,
    TAKEN_OVER,
    WILL_SENT,
    FixedBroker,
    rules_of,
)
from mqtt_actions_cli.local.broker_rules import BrokerRules
from mqtt_actions_cli.local.connect_gate import (
    CONNACK_NOT_AUTHORIZED,
    CONNACK_UNACCEPTABLE_PROTOCOL,
    FirstPacket,
    ReplayingReader,
    read_first_packet,
)
from mqtt_actions_cli.local.output import log
from mqtt_actions_cli.local.rules import InboundMessage

LISTENER: Final = "default"
_SESSION_KEY: Final = "mqtt_actions.session"
_CLEAN_KEY: Final = "mqtt_actions.clean_disconnect"
_REPORTED_KEY: Final = "mqtt_actions.disconnect_reported"
# Local only: IoT Core speaks MQTT 3.1.1 and 5 and documents AUTHORIZATION_FAILED as the reason.
UNSUPPORTED_PROTOCOL: Final = "UNSUPPORTED_PROTOCOL_VERSION"


class MessageSink(Protocol):
    def __call__(self, message: InboundMessage) -> None: ...


def aws_differences(topic: str, payload_size: int, qos: int, *, what: str) -> list[str]:
    """Why IoT Core would not accept what the local broker just did (empty: it would)."""
    problems = []
    if qos >= 2:
        problems.append(f"{what} with QoS 2: IoT Core supports QoS 0 and 1 only")
    if payload_size > MAX_MQTT_PAYLOAD:
        problems.append(f"{what} of {payload_size:,} bytes: IoT Core refuses over 128 KB")
    if topic.count("/") > MAX_TOPIC_SLASHES:
        problems.append(f"{what} on {topic!r}: IoT Core allows at most {MAX_TOPIC_SLASHES} slashes")
    return problems


def lifecycle_event(
    event_type: str, client_id: str, session: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """One of IoT Core's lifecycle event documents (AWS developer guide, "Lifecycle events")."""
    return {
        "clientId": client_id,
        "timestamp": int(time.time() * 1000),
        "eventType": event_type,
        "sessionIdentifier": session["id"],
        "principalIdentifier": session["principal"],
        **fields,
    }


class IotCorePlugin(BasePlugin[BrokerContext]):  # type: ignore[misc]
    """Loaded by amqtt from the broker config; `bind()` connects it to the rules engine."""

    def __init__(self, context: BrokerContext) -> None:
        super().__init__(context)
        self._sink: MessageSink | None = None
        self.closing = False  # set when the stack shuts the broker down
        self._versions: dict[str, int] = {}
        self._current: dict[str, Session] = {}
        # ms after the rules engine stamped each client's last message: its disconnect comes
        # after that, never at the same ms (where the inspector would sort it first).
        self._last_message_ms: dict[str, int] = {}

    def bind(self, sink: MessageSink) -> None:
        self._sink = sink

    # -- helpers
    def _session_info(self, session: Session) -> dict[str, Any]:
        info: dict[str, Any] | None = session.attributes.get(_SESSION_KEY)
        if info is None:
            info = {
                "id": str(uuid.uuid4()),
                # The authorizer's principal id; never the username (TagoIO firmware sends
                # `Token`, and no device is named by what it says it is).
                "principal": session.attributes.get(auth.PRINCIPAL_KEY) or "anonymous",
                "ip": session.remote_address or "127.0.0.1",
            }
            session.attributes[_SESSION_KEY] = info
        return info

    def _version(self, client_id: str) -> int:
        """IoT Core's versionNumber only grows for a client id. A counter from 0 would start
        again at every local start and sort a new connect before the last run's; counting up
        from the clock (µs) keeps it growing across restarts without storing anything."""
        version = max(self._versions.get(client_id, -1) + 1, time.time_ns() // 1000)
        self._versions[client_id] = version
        return version

    async def _publish_event(self, topic: str, document: dict[str, Any]) -> None:
        payload = json.dumps(document, separators=(",", ":")).encode("utf-8")
        await self.context.broadcast_message(topic, payload)
        if self._sink is not None:
            self._sink(InboundMessage(topic=topic, payload=payload, qos=1))

    @staticmethod
    def _has_events(client_id: str | None) -> bool:
        # IoT Core publishes no lifecycle events for client ids containing '#' or '+'.
        return bool(client_id) and "#" not in str(client_id) and "+" not in str(client_id)

    # -- amqtt events
    async def on_broker_client_connected(self, *, client_id: str, client_session: Session) -> None:
        client_session.attributes.pop(_SESSION_KEY, None)
        client_session.attributes.pop(_CLEAN_KEY, None)
        client_session.attributes.pop(_REPORTED_KEY, None)
        client_session.attributes.pop(auth.REASON_KEY, None)
        for key in (TAKEN_OVER, DISCONNECT_REASON, WILL_SENT):  # the previous connection's
            client_session.attributes.pop(key, None)
        info = self._session_info(client_session)
        previous = self._current.get(client_id)
        if previous is not None and previous is not client_session:
            await self._disconnected(client_id, previous, "DUPLICATE_CLIENTID")
        self._current[client_id] = client_session
        log.info("conn %s connected from %s", client_id, info["ip"])
        if self._has_events(client_id):
            await self._publish_event(
                f"$aws/events/presence/connected/{client_id}",
                lifecycle_event(
                    "connected",
                    client_id,
                    info,
                    ipAddress=info["ip"],
                    versionNumber=self._version(client_id),
                ),
            )

    async def connect_refused(self, first: FirstPacket, ip: str) -> None:
        """A CONNECT for a protocol the local broker does not speak, answered with CONNACK 1."""
        client_id = first.client_id or "-"
        log.warning(
            "conn %s refused: %s from %s; the local broker speaks MQTT 3.1.1 only (IoT Core also "
            "speaks MQTT 5): connect with MQTT 3.1.1 (mosquitto -V mqttv311, paho MQTTv311)",
            client_id,
            first.protocol,
            ip,
        )
        if first.client_id and self._has_events(first.client_id):
            info = {"id": str(uuid.uuid4()), "principal": "anonymous", "ip": ip}
            await self._publish_event(
                f"$aws/events/presence/connect_failed/{first.client_id}",
                lifecycle_event(
                    "connect_failed",
                    first.client_id,
                    info,
                    connectFailureReason=UNSUPPORTED_PROTOCOL,
                    ipAddress=ip,
                ),
            )

    async def on_mqtt_packet_received(self, *, packet: Any, session: Session | None = None) -> None:
        if session is not None and isinstance(packet, DisconnectPacket):
            session.attributes[_CLEAN_KEY] = True

    async def on_broker_client_disconnected(
        self, *, client_id: str, client_session: Session
    ) -> None:
        # Read everything first: a new connection with this client id may reuse the session.
        attributes = client_session.attributes
        clean = bool(attributes.get(_CLEAN_KEY))
        reason = (
            ("DUPLICATE_CLIENTID" if attributes.get(TAKEN_OVER) else None)
            or attributes.get(auth.REASON_KEY)
            or attributes.get(DISCONNECT_REASON)
            or ("CLIENT_INITIATED_DISCONNECT" if clean else "CONNECTION_LOST")
        )
        will = attributes.get(WILL_SENT)
        if self.closing:
            log.info("disc %s disconnected (SERVER_INITIATED_DISCONNECT)", client_id)
            return
        await self._disconnected(client_id, client_session, reason)
        if self._current.get(client_id) is client_session:
            del self._current[client_id]
        if will is not None:
            self._last_will(client_id, client_session, will)

    def _last_will(
        self, client_id: str, session: Session, will: tuple[str, bytes, int, bool]
    ) -> None:
        """amqtt sends the Last Will to subscribers, but not through its message events: log it
        and hand it to the rules engine here."""
        topic, payload, qos, retain = will
        log.info(
            "will %s -> %s (%d B, qos %d%s)",
            client_id,
            topic,
            len(payload),
            qos,
            ", retain" if retain else "",
        )
        if self._sink is not None:
            self._sink(
                InboundMessage(
                    topic=topic,
                    payload=payload,
                    qos=qos,
                    retain=retain,
                    clientid=client_id,
                    principal=self._session_info(session)["principal"],
                )
            )

    async def _disconnected(self, client_id: str, session: Session, reason: str) -> None:
        if session.attributes.get(_REPORTED_KEY):
            return
        session.attributes[_REPORTED_KEY] = True
        info = self._session_info(session)
        log.info("disc %s disconnected (%s)", client_id, reason)
        after = self._last_message_ms.pop(client_id, 0) + 1
        if self._has_events(client_id):
            event = lifecycle_event(
                "disconnected",
                client_id,
                info,
                clientInitiatedDisconnect=reason == "CLIENT_INITIATED_DISCONNECT",
                disconnectReason=reason,
                versionNumber=self._version(client_id),
            )
            event["timestamp"] = max(event["timestamp"], after)
            await self._publish_event(f"$aws/events/presence/disconnected/{client_id}", event)

    async def on_broker_client_subscribed(self, *, client_id: str, topic: str, qos: int) -> None:
        log.info("sub  %s + %s (qos %d)", client_id, topic, qos)
        for problem in aws_differences(topic, 0, qos, what="subscription"):
            log.warning("warn %s: %s", client_id, problem)
        if "+" in topic or "#" in topic:
            retained = [t for t in self.context.retained_messages if topic_matches(topic, t)]
            if retained and rules_of(self.context).retained_on_subscribe(topic):
                log.warning(
                    "warn %s: %d retained message(s) delivered to wildcard subscription %r "
                    "(--spec-broker); IoT Core delivers retained messages to exact-topic "
                    "subscriptions only",
                    client_id,
                    len(retained),
                    topic,
                )
            elif retained:
                log.info(
                    "sub  %s: %d retained message(s) not sent to wildcard subscription %r, as "
                    "IoT Core does (exact-topic subscriptions only)",
                    client_id,
                    len(retained),
                    topic,
                )
        session = self.context.get_session(client_id)
        if session is not None and self._has_events(client_id):
            await self._publish_event(
                f"$aws/events/subscriptions/subscribed/{client_id}",
                lifecycle_event(
                    "subscribed", client_id, self._session_info(session), topics=[topic]
                ),
            )

    async def on_broker_client_unsubscribed(self, *, client_id: str, topic: str) -> None:
        log.info("sub  %s - %s", client_id, topic)
        session = self.context.get_session(client_id)
        if session is not None and self._has_events(client_id):
            await self._publish_event(
                f"$aws/events/subscriptions/unsubscribed/{client_id}",
                lifecycle_event(
                    "unsubscribed", client_id, self._session_info(session), topics=[topic]
                ),
            )

    async def on_broker_message_broadcast(self, *, client_id: str, message: Any) -> None:
        data = bytes(message.data or b"")
        qos = int(message.qos or 0)
        retain = bool(message.publish_packet is not None and message.publish_packet.retain_flag)
        log.info(
            "msg  %s -> %s (%d B, qos %d%s)",
            client_id,
            message.topic,
            len(data),
            qos,
            ", retain" if retain else "",
        )
        for problem in aws_differences(message.topic, len(data), qos, what="publish"):
            log.warning("warn %s: %s", client_id, problem)
        if self._sink is not None:
            session = self.context.get_session(client_id)
            principal = self._session_info(session)["principal"] if session else "anonymous"
            self._sink(
                InboundMessage(
                    topic=message.topic,
                    payload=data,
                    qos=qos,
                    retain=retain,
                    clientid=client_id,
                    principal=principal,
                )
            )
            self._last_message_ms[client_id] = int(time.time() * 1000)


def broker_config(auth_mode: str = "anonymous") -> dict[str, Any]:
    return {
        "listeners": {LISTENER: {"type": "external"}},
        "plugins": {
            **auth.plugins(auth_mode),
            f"{IotCorePlugin.__module__}.{IotCorePlugin.__qualname__}": {},
        },
    }


@dataclass
class LocalBroker:
    """amqtt on a 127.0.0.1 socket of our own, with the IoT Core plugin bound to `sink`."""

    host: str
    port: int
    sink: MessageSink
    _broker: Broker | None = None
    _server: asyncio.Server | None = None
    _retained_at: dict[str, int] | None = None
    _plugin: IotCorePlugin | None = None
    auth_mode: str = "anonymous"  # or "tokens": CONNECTs go to `authorizer` (local/auth.py)
    authorizer: auth.Authorizer | None = None
    trusted_password: str | None = None  # the stack's own client (auth.TRUSTED_USERNAME)
    trusted_binder: auth.TrustedBinder | None = None  # binds its client id (--auth tokens)
    _final_retained: dict[str, tuple[bytes, int, int]] | None = None
    # The TLS listener (local/tls.py): as IoT Core's token endpoint, SNI + ALPN mqtt required.
    tls_port: int | None = None  # None: no TLS listener; 0: a free port
    tls_context: ssl.SSLContext | None = None
    _tls_server: asyncio.Server | None = None
    # IoT Core's behaviour; BrokerRules(iot_core=False): plain MQTT
    rules: BrokerRules = field(default_factory=BrokerRules)

    async def start(self) -> None:
        broker = FixedBroker(broker_config(self.auth_mode), rules=self.rules)
        await broker.start()
        plugin = broker.plugins_manager.get_plugin(IotCorePlugin.__name__)
        if not isinstance(plugin, IotCorePlugin):
            raise RuntimeError("the IoT Core plugin did not load into amqtt")
        plugin.bind(self.sink)
        if self.auth_mode == "tokens" and self.authorizer is not None:
            auth.bind(
                broker,
                self.authorizer,
                plugin._publish_event,
                self.trusted_password,
                self.trusted_binder,
            )
        self._plugin = plugin
        self._broker = broker
        self._retained_at = {}

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername")
            ip = str(peer[0]) if isinstance(peer, tuple) else "127.0.0.1"
            try:
                first = await read_first_packet(reader)
                if first.unsupported:
                    writer.write(CONNACK_UNACCEPTABLE_PROTOCOL)
                    await writer.drain()
                    writer.close()
                    await plugin.connect_refused(first, ip)
                    return
                tokens = self.auth_mode == "tokens" and first.client_id is not None
                if tokens and not await auth.admit(broker, first, ip):  # before any takeover
                    writer.write(CONNACK_NOT_AUTHORIZED)
                    await writer.drain()
                    writer.close()
                    return
                await broker.external_connected(
                    ReplayingReader(reader, first.raw), StreamWriterAdapter(writer), LISTENER
                )
            except (asyncio.IncompleteReadError, ConnectionError, OSError) as exc:
                # A client that goes away mid-packet: one line, never a traceback.
                log.info("conn %s closed the connection early (%s)", ip, type(exc).__name__)
                writer.close()

        self._server = await asyncio.start_server(connected, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        if self.tls_port is not None and self.tls_context is not None:
            await self._start_tls(connected)

    async def _start_tls(
        self,
        connected: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    ) -> None:
        """The TLS listener: a connection that agreed on ALPN mqtt goes on as a plain one does
        (same gate, same authorizer); SNI was checked in the handshake (tls.server_context)."""

        async def tls_connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            problem = tls.refusal(writer.get_extra_info("ssl_object"))
            if problem is not None:
                peer = writer.get_extra_info("peername")
                log.warning("tls  %s refused: %s", peer[0] if peer else "-", problem)
                writer.close()
                return
            await connected(reader, writer)

        self._tls_server = await asyncio.start_server(
            tls_connected,
            self.host,
            self.tls_port,
            ssl=self.tls_context,
            ssl_handshake_timeout=10,
        )
        self.tls_port = int(self._tls_server.sockets[0].getsockname()[1])

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int,
        retain: bool,
        on_published: Callable[[], None] | None = None,
    ) -> None:
        """Publish as the broker (iot-data Publish lands here); delivered to subscribers."""
        broker, retained_at = self._started()
        await broker.internal_message_broadcast(topic, payload, qos)
        if retain:
            await broker.retain_message(None, topic, payload, qos)
            if payload:
                retained_at[topic] = int(time.time() * 1000)
            else:
                retained_at.pop(topic, None)
        if on_published is not None:
            on_published()

    def retained(self, topic: str) -> dict[str, Any] | None:
        """The retained message on `topic` (iot-data GetRetainedMessage), or None."""
        broker, retained_at = self._started()
        message = broker.retained_messages.get(topic)
        if message is None or not message.data:
            return None
        return {
            "topic": topic,
            "payload": bytes(message.data),
            "qos": int(message.qos or 0),
            "lastModifiedTime": retained_at.get(topic, 0),
        }

    async def disconnect(self, client_id: str) -> bool:
        """iot-data DeleteConnection: close the client's connection (False: not connected)."""
        return await auth.disconnect(self._started()[0], client_id, "API_INITIATED_DISCONNECT")

    def retained_snapshot(self) -> dict[str, tuple[bytes, int, int]]:
        """Every retained message: topic -> (payload, qos, ms it was retained); after `stop()`,
        those it had (amqtt forgets them when it shuts down)."""
        if self._final_retained is not None:
            return self._final_retained
        broker, retained_at = self._started()
        return {
            topic: (bytes(message.data), int(message.qos or 0), retained_at.get(topic, 0))
            for topic, message in list(broker.retained_messages.items())
            if message.data
        }

    async def restore_retained(self, messages: dict[str, tuple[bytes, int, int]]) -> None:
        """Retained messages saved by an earlier run (delivered to later subscribers)."""
        broker, retained_at = self._started()
        for topic, (payload, qos, at) in messages.items():
            await broker.retain_message(None, topic, payload, qos)
            retained_at[topic] = at

    def _started(self) -> tuple[Broker, dict[str, int]]:
        if self._broker is None or self._retained_at is None:
            raise RuntimeError("the broker is not started")
        return self._broker, self._retained_at

    async def stop(self) -> None:
        if self._plugin is not None:
            self._plugin.closing = True
        if self._broker is not None:
            self._final_retained = self.retained_snapshot()
        servers = [s for s in (self._server, self._tls_server) if s is not None]
        for server in servers:
            server.close()
        if self._broker is not None:
            await self._broker.shutdown()
        for server in servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout=2)
