"""`mqtt-actions local --auth tokens`: the local broker asks the same authorizer IoT Core asks.

Two amqtt plugins (amqtt 0.12.1's plugin API: `BaseAuthPlugin.authenticate` decides the CONNACK,
`BaseTopicPlugin.topic_filtering` every PUBLISH, SUBSCRIBE and delivery):
- `TokenAuthPlugin` builds IoT Core's authorizer event from the CONNECT (username, base64
  password, client id; mqtt_actions.tokens documents the shape), runs DeviceAuthorizerFunction's
  handler with it (in a worker thread: it reads the tokens table) and keeps the answer's
  principal id and policy documents on the session. A refusal gets CONNACK 5 "not authorized"
  and a `connect_failed` lifecycle event (AUTHORIZATION_FAILED), as on IoT Core.
  The Last Will is checked like a publish (`will_problem`): a Will topic outside the policy
  refuses the CONNECT.
- `TokenTopicPlugin` checks each action against those documents (mqtt_actions.tokens.
  policy_allows). A subscribe outside them gets SUBACK 0x80; a publish outside them is dropped
  and the client disconnected with AUTH_ERROR ("authorization failed", AWS IoT developer guide,
  "Lifecycle events"; FORBIDDEN_ACCESS there means a client not allowed to connect); a delivery
  outside them (iot:Receive) is skipped.

Where it differs from IoT Core is said in the README ("Move a TagoIO device").
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from amqtt.broker import Broker, BrokerContext
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from mqtt_actions.bindings import client_id_problem
from mqtt_actions.tokens import policy_allows
from mqtt_actions_cli.local.amqtt_fixes import broker_of, connection
from mqtt_actions_cli.local.backoff import LoginBackoff
from mqtt_actions_cli.local.connect_gate import FirstPacket
from mqtt_actions_cli.local.output import log
from mqtt_actions_cli.local.template import ACCOUNT_ID, PARTITION, REGION

AUTHORIZER_FUNCTION: Final = "DeviceAuthorizerFunction"
# The stack's own client (`mqtt-actions publish` and the console's Publish without credentials):
# this username and a password made at each start, which only the control API hands out.
# Like IoT Core's iot-data Publish with IAM, it is not a device: no token, no policy.
TRUSTED_USERNAME: Final = "mqtt-actions-trusted"
PRINCIPAL_KEY: Final = "mqtt_actions.principal"
POLICY_KEY: Final = "mqtt_actions.policy"
REASON_KEY: Final = "mqtt_actions.disconnect_reason"
ARN_PREFIX: Final = f"arn:{PARTITION}:iot:{REGION}:{ACCOUNT_ID}"
_ACTIONS: Final = {
    Action.PUBLISH: ("iot:Publish", "topic"),
    Action.SUBSCRIBE: ("iot:Subscribe", "topicfilter"),
    Action.RECEIVE: ("iot:Receive", "topic"),
}

Authorizer = Callable[[dict[str, Any]], Any]
PublishEvent = Callable[[str, dict[str, Any]], Awaitable[None]]
# Binds the stack's own client's client id to the device of that name; the holder's name when
# another device's live connection holds it (nothing bound then).
TrustedBinder = Callable[[str], str | None]


def plugins(mode: str) -> dict[str, Any]:
    """The amqtt `plugins` entries for an auth mode."""
    if mode == "tokens":
        return {
            f"{__name__}.{TokenAuthPlugin.__name__}": {},
            f"{__name__}.{TokenTopicPlugin.__name__}": {},
        }
    return {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}}


def connect_event(session: Session | FirstPacket, connection_id: str) -> dict[str, Any]:
    """IoT Core's custom authorizer event for this CONNECT (fields it would not send omitted)."""
    mqtt: dict[str, Any] = {}
    if session.username is not None:
        mqtt["username"] = session.username
    if session.password is not None:
        raw = session.password
        raw = raw if isinstance(raw, bytes) else str(raw).encode("utf-8", "surrogateescape")
        mqtt["password"] = base64.b64encode(raw).decode("ascii")
    if session.client_id:
        mqtt["clientId"] = session.client_id
    return {
        "signatureVerified": False,
        "protocols": ["mqtt"],
        "protocolData": {"mqtt": mqtt},
        "connectionMetadata": {"id": connection_id},
    }


def _granted(answer: Any) -> tuple[str, list[str]] | None:
    """(principal id, policy documents) when the answer lets the device in, else None."""
    if not isinstance(answer, Mapping) or answer.get("isAuthenticated") is not True:
        return None
    principal, documents = answer.get("principalId"), answer.get("policyDocuments")
    if not isinstance(principal, str) or not isinstance(documents, list):
        return None
    return principal, [d for d in documents if isinstance(d, str)]


def will_problem(session: Session, documents: list[str]) -> str | None:
    """Why the CONNECT's Last Will is outside the policy, or None. IoT Core authorizes a Will
    like a publish: `iot:Publish` on its topic, and `iot:RetainPublish` when retained (AWS IoT
    developer guide, "Retained message policy examples"). Issue #23: a device set a retained
    Will on another device's topic."""
    topic = session.will_topic if session.will_flag else None
    if not topic:
        return None
    needed = ["iot:Publish"] + (["iot:RetainPublish"] if session.will_retain else [])
    for iot_action in needed:
        if not policy_allows(documents, iot_action, f"{ARN_PREFIX}:topic/{topic}"):
            return f"its Last Will topic {topic[:200]!r} is outside its policy ({iot_action})"
    return None


class TokenAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    """CONNECT -> DeviceAuthorizerFunction -> CONNACK; bound by `bind` once the stack runs."""

    def __init__(self, context: BrokerContext) -> None:
        super().__init__(context)
        self._authorize: Authorizer | None = None
        self._publish_event: PublishEvent | None = None
        # Grants `admit` made before amqtt saw the CONNECT, by (client id, password).
        self._admitted: dict[tuple[str, bytes], tuple[str, list[str]]] = {}
        self._trusted_password: str | None = None
        self._bind_trusted: TrustedBinder | None = None
        self.backoff = LoginBackoff()  # failed logins per client id and source (issue #23)

    def bind(
        self,
        authorize: Authorizer,
        publish_event: PublishEvent,
        trusted_password: str | None,
        bind_trusted: TrustedBinder | None = None,
    ) -> None:
        self._authorize, self._publish_event = authorize, publish_event
        self._trusted_password, self._bind_trusted = trusted_password, bind_trusted

    def _is_trusted(self, session: Session | FirstPacket) -> bool:
        if session.username != TRUSTED_USERNAME or not self._trusted_password:
            return False
        given = session.password
        given = given if isinstance(given, bytes) else str(given or "").encode()
        return hmac.compare_digest(given, self._trusted_password.encode())

    async def admit(self, first: FirstPacket, ip: str) -> bool:
        """The authorizer's answer for a CONNECT before amqtt reads it: amqtt ends the session
        holding the client id before it authenticates, but IoT Core asks its authorizer first,
        so a refused CONNECT leaves the live connection of that client id alone. A grant is kept
        for `authenticate` (one authorizer call per CONNECT)."""
        if self._authorize is not None and self._is_trusted(first):
            return await self._trusted(first.client_id, ip)  # the stack's own client
        granted = await self._ask(first, first.client_id, ip)
        if granted is not None and first.client_id and first.password is not None:
            self._admitted[(first.client_id, first.password)] = granted
        return granted is not None

    async def authenticate(self, *, session: Session) -> bool:
        if self._authorize is not None and self._is_trusted(session):
            # No policy kept: TokenTopicPlugin lets it publish anywhere.
            return await self._trusted(session.client_id, session.remote_address)
        password = session.password
        key_password = password.encode() if isinstance(password, str) else password
        admitted = self._admitted.pop((session.client_id, key_password), None)
        granted = admitted or await self._ask(session, session.client_id, session.remote_address)
        if granted is None:
            return False
        problem = will_problem(session, granted[1])
        if problem is not None:
            log.warning("auth %s refused: %s", session.client_id, problem)
            log.warning("auth %s refused: CONNACK not authorized", session.client_id)
            await self._connect_failed(session.client_id, session.remote_address, str(uuid.uuid4()))
            return False
        session.attributes[PRINCIPAL_KEY], session.attributes[POLICY_KEY] = granted
        return True

    async def _trusted(self, client_id: str | None, ip: str | None) -> bool:
        """The stack's own client (`publish` without credentials): its client id is bound to the
        device of that name, as DeviceAuthorizerFunction binds a token device's, so the router
        files its messages under that device instead of dead-lettering them as an unknown
        connection; and, like a device, it cannot take a client id another device's live
        connection holds. (On AWS `publish --stack` goes through iot-data: clientid() `n/a`.)"""
        if self._bind_trusted is None or not client_id:
            return True
        problem = client_id_problem(client_id)
        holder = None if problem else await asyncio.to_thread(self._bind_trusted, client_id)
        if problem is None and holder is None:
            return True
        why = problem or f"client id held by a live connection of device {holder!r}"
        log.warning("auth %s refused: %s", client_id, why)
        await self._connect_failed(client_id, ip, str(uuid.uuid4()))
        return False

    async def _connect_failed(
        self, client_id: str | None, ip: str | None, connection_id: str
    ) -> None:
        """IoT Core's connect_failed lifecycle event (AUTHORIZATION_FAILED) for a refusal."""
        if self._publish_event is None or not client_id:
            return
        await self._publish_event(
            f"$aws/events/presence/connect_failed/{client_id}",
            {
                "clientId": client_id,
                "timestamp": int(time.time() * 1000),
                "eventType": "connect_failed",
                "connectFailureReason": "AUTHORIZATION_FAILED",
                "principalIdentifier": "",
                "sessionIdentifier": connection_id,
                "ipAddress": ip or "127.0.0.1",
            },
        )

    async def _ask(
        self, connect: Session | FirstPacket, client_id: str | None, ip: str | None
    ) -> tuple[str, list[str]] | None:
        if self._authorize is None:
            return None  # not bound yet: nobody gets in unchecked
        connection_id = str(uuid.uuid4())
        wait = self.backoff.wait(client_id, ip)
        if wait > 0:  # refused without asking: too many failed logins
            log.warning(
                "auth %s refused: backing off after failed logins (%.0f s left); CONNACK not "
                "authorized",
                client_id,
                max(wait, 1),
            )
            await self._connect_failed(client_id, ip, connection_id)
            return None
        try:
            answer = await asyncio.to_thread(self._authorize, connect_event(connect, connection_id))
        except Exception as exc:  # the handler failed: IoT Core refuses then too
            log.warning("auth %s: the authorizer failed (%s)", client_id, exc)
            answer = None
        granted = _granted(answer)
        if granted is not None:
            self.backoff.succeeded(client_id, ip)
            return granted
        self.backoff.failed(client_id, ip)
        log.warning("auth %s refused: CONNACK not authorized", client_id)
        await self._connect_failed(client_id, ip, connection_id)
        return None


class TokenTopicPlugin(BaseTopicPlugin):  # type: ignore[misc]
    """Publish / subscribe / receive checked against the session's policy documents."""

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Any = None
    ) -> bool:
        documents = session.attributes.get(POLICY_KEY) if session is not None else None
        if session is None or topic is None or documents is None or action not in _ACTIONS:
            return True  # the broker's own publishes (iot-data, lifecycle events)
        iot_action, kind = _ACTIONS[action]
        if policy_allows(documents, iot_action, f"{ARN_PREFIX}:{kind}/{topic}"):
            return True
        log.warning("deny %s: %s on %r is outside its policy", session.client_id, iot_action, topic)
        if action == Action.PUBLISH:
            session.attributes[REASON_KEY] = "AUTH_ERROR"
            asyncio.get_running_loop().create_task(_close(self.context, session.client_id))
        return False


async def _close(context: BrokerContext, client_id: str | None) -> bool:
    entry = connection(broker_of(context), client_id or "")
    if entry is None or entry[1].writer is None:
        return False
    await entry[1].writer.close()
    return True


async def disconnect(broker: Broker, client_id: str, reason: str) -> bool:
    """Close a client's connection as IoT Core's DeleteConnection does; False if not connected."""
    entry = connection(broker, client_id)
    if entry is None or entry[0].transitions.state != "connected" or entry[1].writer is None:
        return False
    entry[0].attributes[REASON_KEY] = reason
    await entry[1].writer.close()
    return True


async def admit(broker: Broker, first: FirstPacket, ip: str) -> bool:
    """TokenAuthPlugin.admit on the broker's loaded plugin (False when it is not loaded)."""
    plugin = broker.plugins_manager.get_plugin(TokenAuthPlugin.__name__)
    return isinstance(plugin, TokenAuthPlugin) and await plugin.admit(first, ip)


def bind(
    broker: Broker,
    authorize: Authorizer,
    publish_event: PublishEvent,
    trusted_password: str | None = None,
    bind_trusted: TrustedBinder | None = None,
) -> None:
    """Connect the loaded TokenAuthPlugin to the authorizer handler and the lifecycle events;
    `trusted_password` lets the stack's own client (TRUSTED_USERNAME) in, `bind_trusted` binds
    its client id."""
    plugin = broker.plugins_manager.get_plugin(TokenAuthPlugin.__name__)
    if not isinstance(plugin, TokenAuthPlugin):
        raise RuntimeError("the token auth plugin did not load into amqtt (--auth tokens)")
    plugin.bind(authorize, publish_event, trusted_password, bind_trusted)
