"""Device tokens: TagoIO devices connect to IoT Core with MQTT username `Token` and their device
token as password, checked by the custom authorizer (functions/authorizer). Pure: no I/O.

The contract (AWS IoT developer guide, "Defining your Lambda function",
https://docs.aws.amazon.com/iot/latest/developerguide/config-custom-auth.html#custom-auth-lambda):
- event: `{token?, signatureVerified, protocols, protocolData: {tls: {serverName}, mqtt:
  {username, password (base64), clientId (only when the device sends one)}},
  connectionMetadata: {id}}`;
- answer: `isAuthenticated`, `principalId` (`[a-zA-Z0-9]{1,128}`, no other characters),
  `policyDocuments` (IoT policy documents as JSON strings), `disconnectAfterInSeconds` and
  `refreshAfterInSeconds` (each 300-86,400).

Tokens are kept only as `token_hash` (SHA-256 hex): docs/SECURITY.md says why a fast unsalted
hash is right for a random secret that is looked up with one GetItem.

Hostile input never raises here: every way an event can be wrong is a `Refusal` with a reason
that never holds the token (the reason goes to the logs).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from mqtt_actions.bindings import Binding, client_id_problem
from mqtt_actions.reserved import TAGO_DATA_POST
from mqtt_actions.topics import InvalidFilterError, validate_filter

# What TagoIO documents as the MQTT username (not a secret); any other username is accepted too.
TOKEN_USERNAME: Final = "Token"  # noqa: S105
PRINCIPAL_PREFIX: Final = "T"  # never the first character of a certificate id (lowercase hex)
_ESCAPE: Final = "Z"
PRINCIPAL_MAX: Final = 128
DEVICE_NAME: Final = re.compile(r"[a-zA-Z0-9:_-]{1,128}", re.ASCII)  # as an IoT thing name
# Ours are 43 characters (32 random bytes); TagoIO's are UUIDs (36). Shorter ones are refused:
# a short secret is guessable, and the unsalted hash (docs/SECURITY.md) relies on entropy.
TOKEN_MIN: Final = 16
TOKEN_MAX: Final = 512
# A base64 password longer than this cannot hold a token of TOKEN_MAX bytes: refused unread.
_PASSWORD_B64_MAX: Final = 4 * ((TOKEN_MAX + 2) // 3)
DISCONNECT_AFTER_S: Final = 86_400  # the longest IoT Core allows; firmware reconnects daily
REFRESH_AFTER_S: Final = 3_600  # IoT Core asks the authorizer again hourly for a fresh policy
POLICY_DOCUMENT_MAX: Final = 2_048  # characters per document, as IoT Core policies
POLICY_DOCUMENTS_MAX: Final = 10
# `*` and `?` are policy wildcards and `${...}` a policy variable: in a filter they would widen it.
_POLICY_SPECIAL: Final = re.compile(r"[*?]|\$\{")


class PolicyInputError(ValueError):
    """A device name or topic filter that cannot go into a policy; the message says why."""


# ---------------------------------------------------------------------------- names and hashes


def token_hash(token: str) -> str:
    """Lowercase hex SHA-256 of the token's UTF-8 bytes: the table's partition key."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_device_name(name: str) -> None:
    """Raise PolicyInputError unless `name` can own tokens (and be a thing name too)."""
    if not DEVICE_NAME.fullmatch(name):
        msg = (
            f"device name {name!r} is not valid: use 1-128 letters, digits, ':', '_' or '-' "
            "(the name is the device's bucket and its topic prefix)"
        )
        raise PolicyInputError(msg)
    if len(_encode(name)) > PRINCIPAL_MAX:
        msg = (
            f"device name {name!r} is too long for a token device: its IoT principal id would "
            f"pass {PRINCIPAL_MAX} characters (each ':', '_', '-' or 'Z' takes 3); shorten it"
        )
        raise PolicyInputError(msg)


def check_token(token: str) -> None:
    """Raise PolicyInputError unless `token` can be stored (imported or made)."""
    if not TOKEN_MIN <= len(token) <= TOKEN_MAX:
        msg = (
            f"a token must be {TOKEN_MIN}-{TOKEN_MAX} characters (got {len(token)}): a short "
            "token can be guessed; make a new one with `devices create NAME --token`"
        )
        raise PolicyInputError(msg)
    if not token.isprintable() or token != token.strip():
        msg = "a token must be printable text with no spaces around it (check the CSV quoting)"
        raise PolicyInputError(msg)


# TagoIO's device tokens are UUIDs (8-4-4-4-12 hex digits).
_UUID: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
STRONG_MIN: Final = 24  # characters of a token that is not a UUID
STRONG_DISTINCT: Final = 12  # distinct characters, of a token that is not a UUID
LONG_MIN: Final = 32  # characters of a token that may have 2 classes only
LONG_DISTINCT: Final = 16
UUID_DISTINCT: Final = 8  # distinct hex digits of a UUID token (a random one has ~15)


def weak_token_problem(token: str) -> str | None:
    """Why `token` does not look random, or None (issue #23: `aaaaaaaaaaaaaaaa` was imported).
    Random-looking: a UUID (TagoIO's format) with at least 8 distinct hex digits, or 24+
    characters with 12+ distinct ones from 3 of the 4 classes lower / upper / digit / other, or
    32+ with 16+ distinct from 2 classes, or 48+ characters with 24+ distinct ones.
    A heuristic, not a proof: it refuses the guessable, not every weak secret."""
    if _UUID.fullmatch(token):
        distinct = len(set(token.replace("-", "").lower()))
        if distinct >= UUID_DISTINCT:
            return None
        return f"a UUID of only {distinct} distinct hex digits (a random one has about 15)"
    classes = sum(
        any(test(c) for c in token)
        for test in (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    )
    distinct = len(set(token))
    if len(token) >= STRONG_MIN and distinct >= STRONG_DISTINCT and classes >= 3:
        return None
    # secrets.token_urlsafe(32) (43 characters, ours) holds no digit and no - or _ about once in
    # 7,500 draws: at 32+ characters, 2 classes and 16 distinct do.
    if len(token) >= LONG_MIN and distinct >= LONG_DISTINCT and classes >= 2:
        return None
    if len(token) >= 2 * STRONG_MIN and distinct >= 2 * STRONG_DISTINCT:  # long and varied
        return None
    return (
        f"{len(token)} characters, {distinct} distinct, from {classes} of lower/upper/digit/other "
        f"(want a UUID, or {STRONG_MIN}+ characters, {STRONG_DISTINCT}+ distinct, 3 classes)"
    )


def _encode(device: str) -> str:
    out = [PRINCIPAL_PREFIX]
    for char in device:
        if char.isascii() and char.isalnum() and char != _ESCAPE:
            out.append(char)
        else:
            out.append(f"{_ESCAPE}{ord(char):02x}")
    return "".join(out)


def principal_for(device: str) -> str:
    """The IoT principal id of a token device: `T` + the name with every character that is not
    a letter or digit (and `Z` itself) as `Z` + two hex digits. `sensor-01` -> `TsensorZ2d01`.
    Only a name for IoT Core's logs: what principal() returns for a custom authorizer's
    connection is not documented, so nothing derives a device from it (mqtt_actions.bindings)."""
    check_device_name(device)
    return _encode(device)


# ---------------------------------------------------------------------------- policies


def policy_patterns(topic_filter: str, *, option: str) -> list[str]:
    """The policy resource patterns (after `topic/` or `topicfilter/`) that cover an MQTT filter.
    IoT policies match with `*` (any characters, `/` included), so `+` and `#` become `*`."""
    try:
        validate_filter(topic_filter)
    except InvalidFilterError as exc:
        raise PolicyInputError(f"{option} {topic_filter!r}: {exc}") from None
    if topic_filter.startswith("$"):
        msg = f"{option} {topic_filter!r}: topics starting with '$' are reserved by AWS IoT"
        raise PolicyInputError(msg)
    if _POLICY_SPECIAL.search(topic_filter):
        msg = (
            f"{option} {topic_filter!r} holds '*', '?' or '${{', which IoT policies read as "
            "wildcards or variables; use MQTT's + and # instead"
        )
        raise PolicyInputError(msg)
    if topic_filter == "#":
        return ["*"]
    widened = "/".join("*" if level == "+" else level for level in topic_filter.split("/"))
    if widened.endswith("/#"):
        parent = widened[:-2]
        return [parent, f"{parent}/*"]  # MQTT's `a/#` matches `a` itself too
    return [widened]


class TopicAccess(StrEnum):
    """What a token device may reach (template parameter DeviceTopicAccess)."""

    ACCOUNT = "account"  # TagoIO's rule: any topic of the deployment but the reserved `$...`
    OWN = "own"  # `<device>/...`, `tago/data/post`, its token's filters and the shared prefixes


@dataclass(frozen=True)
class PolicyScope:
    """What every token of a deployment may reach besides its own device's subtree: the
    deployment's DeviceTopicAccess, DevicePublishPrefixes / DeviceSubscribePrefixes, and the ARN
    prefix `arn:<partition>:iot:<region>:<account>`."""

    arn_prefix: str
    publish_prefixes: tuple[str, ...] = ()
    subscribe_prefixes: tuple[str, ...] = ()
    access: TopicAccess = TopicAccess.ACCOUNT


def token_policy(
    scope: PolicyScope,
    device: str,
    publish: Sequence[str],
    subscribe: Sequence[str],
    *,
    client_id: str,
) -> list[dict[str, Any]]:
    """The policy statements a token grants: connect with exactly the client id its binding
    holds (mqtt_actions.bindings); with TopicAccess.ACCOUNT publish, subscribe and receive on
    every topic, as on TagoIO, with OWN under `<device>/...`, `tago/data/post`, the token's own
    filters and the deployment's shared prefixes; never `$...` (an explicit Deny, which wins:
    `$aws/...` and every other reserved topic)."""
    arn = scope.arn_prefix
    connect = {"Effect": "Allow", "Action": "iot:Connect", "Resource": f"{arn}:client/{client_id}"}
    deny = {
        "Effect": "Deny",
        "Action": ["iot:Publish", "iot:RetainPublish", "iot:Subscribe", "iot:Receive"],
        "Resource": [
            f"{arn}:topic/$aws/*",
            f"{arn}:topicfilter/$aws/*",
            f"{arn}:topic/$*",
            f"{arn}:topicfilter/$*",
        ],
    }
    if scope.access is TopicAccess.ACCOUNT:
        for option, filters in (("--publish", publish), ("--subscribe", subscribe)):
            for topic_filter in filters:
                policy_patterns(topic_filter, option=option)  # still refused when malformed
        return [
            connect,
            {
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:RetainPublish", "iot:Receive"],
                "Resource": f"{arn}:topic/*",
            },
            {"Effect": "Allow", "Action": "iot:Subscribe", "Resource": f"{arn}:topicfilter/*"},
            deny,
        ]

    def patterns(filters: Sequence[str], shared: Sequence[str], option: str) -> list[str]:
        found = [device, f"{device}/*"]
        for topic_filter in filters:
            found += policy_patterns(topic_filter, option=option)
        found += [f"{prefix}/*" for prefix in shared]
        return list(dict.fromkeys(found))

    pub = [*patterns(publish, scope.publish_prefixes, "--publish"), TAGO_DATA_POST]
    sub = patterns(subscribe, scope.subscribe_prefixes, "--subscribe")
    return [
        connect,
        {
            "Effect": "Allow",
            "Action": ["iot:Publish", "iot:RetainPublish"],
            "Resource": [f"{arn}:topic/{p}" for p in pub],
        },
        {
            "Effect": "Allow",
            "Action": "iot:Subscribe",
            "Resource": [f"{arn}:topicfilter/{p}" for p in sub],
        },
        {"Effect": "Allow", "Action": "iot:Receive", "Resource": [f"{arn}:topic/{p}" for p in sub]},
        deny,
    ]


def policy_documents(statements: Sequence[Mapping[str, Any]]) -> list[str]:
    """Statements packed into as few policy documents (JSON text) as fit IoT Core's size limit.
    Raises PolicyInputError when they need more than POLICY_DOCUMENTS_MAX documents."""
    documents: list[str] = []
    current: list[Mapping[str, Any]] = []

    def text(items: Sequence[Mapping[str, Any]]) -> str:
        return json.dumps({"Version": "2012-10-17", "Statement": items}, separators=(",", ":"))

    for statement in statements:
        if len(text([statement])) > POLICY_DOCUMENT_MAX:
            for part in _split(statement):
                documents, current = _add(documents, current, part, text)
            continue
        documents, current = _add(documents, current, statement, text)
    if current:
        documents.append(text(current))
    if len(documents) > POLICY_DOCUMENTS_MAX:
        msg = (
            f"the token's policy needs {len(documents)} documents, more than IoT Core's "
            f"{POLICY_DOCUMENTS_MAX}: give fewer --publish/--subscribe filters (use a wildcard)"
        )
        raise PolicyInputError(msg)
    return documents


def _add(
    documents: list[str],
    current: list[Mapping[str, Any]],
    statement: Mapping[str, Any],
    text: Callable[[Sequence[Mapping[str, Any]]], str],
) -> tuple[list[str], list[Mapping[str, Any]]]:
    if current and len(text([*current, statement])) > POLICY_DOCUMENT_MAX:
        documents.append(text(current))
        current = []
    current.append(statement)
    return documents, current


def _split(statement: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A statement whose resource list is too long for one document, as several."""
    resources = statement["Resource"]
    resources = [resources] if isinstance(resources, str) else list(resources)
    parts: list[dict[str, Any]] = []
    chunk: list[str] = []
    for resource in resources:
        candidate = {**statement, "Resource": [*chunk, resource]}
        if chunk and len(json.dumps(candidate)) > POLICY_DOCUMENT_MAX - 60:
            parts.append({**statement, "Resource": chunk})
            chunk = []
        chunk.append(resource)
    if chunk:
        parts.append({**statement, "Resource": chunk})
    return parts


def _glob_matches(pattern: str, text: str) -> bool:
    """IoT policy wildcards: `*` any characters (`/` too), `?` one character.

    Without a regex: `.*` per star backtracks polynomially (O(n^k) for k stars) on a long topic.
    Here the first and last parts are anchored and each middle part is found at its leftmost
    place, which is enough for `*`: O(len(text) x len(pattern)) at worst.
    """
    parts = pattern.split("*")
    if len(parts) == 1:
        return len(text) == len(pattern) and _part_at(pattern, text, 0)
    first, *middle, last = parts
    end = len(text) - len(last)
    if end < len(first) or not _part_at(first, text, 0) or not _part_at(last, text, end):
        return False
    pos = len(first)
    for part in middle:
        found = _find_part(part, text, pos, end)
        if found < 0:
            return False
        pos = found + len(part)
    return True


def _part_at(part: str, text: str, at: int) -> bool:
    if "?" not in part:
        return text.startswith(part, at)
    if at + len(part) > len(text):
        return False
    return all(p in ("?", c) for p, c in zip(part, text[at : at + len(part)], strict=True))


def _find_part(part: str, text: str, start: int, end: int) -> int:
    if "?" not in part:
        return text.find(part, start, end)
    for at in range(start, end - len(part) + 1):
        if _part_at(part, text, at):
            return at
    return -1


def policy_allows(documents: Sequence[str], action: str, resource: str) -> bool:
    """Whether IoT policy documents allow `action` (e.g. `iot:Publish`) on the full resource ARN:
    some Allow matches and no Deny does. Used by the local broker and to test our policies."""
    allowed = False
    for document in documents:
        for statement in json.loads(document).get("Statement", []):
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if not any(_glob_matches(a, action) for a in actions):
                continue
            resources = statement.get("Resource", [])
            resources = [resources] if isinstance(resources, str) else resources
            if not any(_glob_matches(r, resource) for r in resources):
                continue
            if statement.get("Effect") == "Deny":
                return False
            allowed = allowed or statement.get("Effect") == "Allow"
    return allowed


# ---------------------------------------------------------------------------- authorizing


@dataclass(frozen=True)
class TokenRecord:
    """One stored token (its hash is the key); times in ms since the epoch."""

    device: str
    publish: tuple[str, ...] = ()
    subscribe: tuple[str, ...] = ()
    created_at: int = 0
    revoked_at: int | None = None
    last_seen: int | None = None
    last_client_id: str | None = None


@dataclass(frozen=True)
class Decision:
    """The authorizer's answer for IoT Core, and what the logs may say about it."""

    response: dict[str, Any]
    reason: str  # "authorized" or why not; never the token or its hash
    device: str | None = None
    username: str | None = None
    client_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def authenticated(self) -> bool:
        return bool(self.response["isAuthenticated"])


def refused() -> dict[str, Any]:
    """The answer for every refusal: the same whatever the reason (nothing to probe)."""
    return {
        "isAuthenticated": False,
        "principalId": "refused",
        "policyDocuments": [],
        "disconnectAfterInSeconds": 300,
        "refreshAfterInSeconds": 300,
    }


def _text(value: Any, limit: int) -> str | None:
    """A short printable copy of an untrusted string for the logs, or None."""
    if not isinstance(value, str):
        return None
    return "".join(c if c.isprintable() else "?" for c in value[:limit])


def read_password(event: Any) -> tuple[str | None, str, str | None, str | None]:
    """(token or None, reason, username, client id) from an IoT Core authorizer event."""
    if not isinstance(event, Mapping):
        return None, "event is not a JSON object", None, None
    protocol_data = event.get("protocolData")
    mqtt = protocol_data.get("mqtt") if isinstance(protocol_data, Mapping) else None
    if not isinstance(mqtt, Mapping):
        return None, "no protocolData.mqtt (not an MQTT connection)", None, None
    # One character past IoT Core's 128: a longer client id is refused, never cut to fit.
    username, client_id = _text(mqtt.get("username"), 64), _text(mqtt.get("clientId"), 129)
    password = mqtt.get("password")
    if not isinstance(password, str) or not password:
        return None, "no MQTT password", username, client_id
    if len(password) > _PASSWORD_B64_MAX:
        return None, f"password longer than {TOKEN_MAX} bytes", username, client_id
    try:
        raw = base64.b64decode(password, validate=True)
    except (binascii.Error, ValueError):
        return None, "password is not base64 (IoT Core always sends it so)", username, client_id
    try:
        token = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "password is not UTF-8 text", username, client_id
    try:
        check_token(token)
    except PolicyInputError:
        return None, "password is not a well-formed token", username, client_id
    return token, "", username, client_id


Bind = Callable[[Binding], Binding | None]


def _connection_id(event: Mapping[str, Any]) -> str:
    meta = event.get("connectionMetadata")
    value = meta.get("id") if isinstance(meta, Mapping) else None
    return value[:128] if isinstance(value, str) else ""


def new_binding(client_id: str, device: str, connection_id: str, now_ms: int) -> Binding:
    """The binding a connect records: client id -> device from `now_ms`, expiring no sooner
    than the connection may last (a refresh, hourly, binds it again)."""
    return Binding(
        client_id=client_id,
        device=device,
        connection_id=connection_id,
        bound_at_ms=now_ms,
        expires_at_s=now_ms // 1000 + DISCONNECT_AFTER_S + REFRESH_AFTER_S,
    )


def authorize(
    event: Any,
    lookup: Callable[[str], TokenRecord | None],
    scope: PolicyScope,
    bind: Bind,
    now_ms: int,
) -> Decision:
    """The custom authorizer's logic: one `lookup` by hash, then `bind` records client id ->
    device (refused when another device's live connection holds that client id), and only then
    the answer for IoT Core, which lets the device connect with exactly that client id."""
    token, reason, username, client_id = read_password(event)
    if token is None:
        return Decision(refused(), reason, username=username, client_id=client_id)
    if (problem := client_id_problem(client_id)) is not None or client_id is None:
        return Decision(refused(), problem or "no client id", username=username)
    record = lookup(token_hash(token))
    if record is None:
        return Decision(refused(), "unknown token", username=username, client_id=client_id)
    if record.revoked_at is not None:
        return Decision(refused(), "revoked token", record.device, username, client_id)
    try:
        principal = principal_for(record.device)
        documents = policy_documents(
            token_policy(
                scope, record.device, record.publish, record.subscribe, client_id=client_id
            )
        )
    except PolicyInputError as exc:  # a stored row edited by hand: refuse, say why
        return Decision(refused(), f"stored token unusable: {exc}", record.device, username)
    holder = bind(new_binding(client_id, record.device, _connection_id(event), now_ms))
    if holder is not None:
        why = f"client id {client_id!r} is held by a live connection of device {holder.device!r}"
        details = {"held_by": holder.device}
        return Decision(refused(), why, record.device, username, client_id, details)
    response = {
        "isAuthenticated": True,
        "principalId": principal,
        "policyDocuments": documents,
        "disconnectAfterInSeconds": DISCONNECT_AFTER_S,
        "refreshAfterInSeconds": REFRESH_AFTER_S,
    }
    return Decision(response, "authorized", record.device, username, client_id)


TOUCH_EVERY_MS: Final = 300_000


def needs_touch(record: TokenRecord, client_id: str | None, now_ms: int) -> bool:
    """Whether a connect should record last seen / client id (at most every 5 minutes per
    token unless the client id changed: a reconnect storm costs reads, not writes)."""
    if client_id and client_id != record.last_client_id:
        return True
    return record.last_seen is None or now_ms - record.last_seen >= TOUCH_EVERY_MS


# ---------------------------------------------------------------------------- configuration

_ARN_PREFIX: Final = re.compile(r"arn:[a-z-]+:iot:[a-z0-9-]+:\d{12}")
_SHARED_PREFIX: Final = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")  # as the template's


class AuthorizerSettingsError(ValueError):
    """An environment variable of the authorizer is missing or malformed; says which."""


@dataclass(frozen=True)
class AuthorizerSettings:
    """The authorizer's environment (template.yaml). A dataclass, not a pydantic model: the
    authorizer imports as little as it can, since a device waits for its cold start."""

    table: str
    scope: PolicyScope
    bindings_table: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AuthorizerSettings:
        table = env.get("DEVICE_TOKENS_TABLE", "").strip()
        if not table:
            msg = "DEVICE_TOKENS_TABLE is not set: template.yaml gives it !Ref DeviceTokensTable"
            raise AuthorizerSettingsError(msg)
        arn_prefix = env.get("IOT_ARN_PREFIX", "").strip()
        if not _ARN_PREFIX.fullmatch(arn_prefix):
            msg = (
                f"IOT_ARN_PREFIX={arn_prefix!r} is not arn:<partition>:iot:<region>:<account>; "
                "template.yaml sets it with !Sub"
            )
            raise AuthorizerSettingsError(msg)

        def prefixes(name: str) -> tuple[str, ...]:
            values = [p.strip() for p in env.get(name, "").split(",") if p.strip()]
            for value in values:
                if not _SHARED_PREFIX.fullmatch(value):
                    msg = f"{name}: {value!r} is not a topic prefix such as home or plant/line1"
                    raise AuthorizerSettingsError(msg)
            return tuple(values)

        access = env.get("DEVICE_TOPIC_ACCESS", "").strip() or TopicAccess.ACCOUNT.value
        if access not in {a.value for a in TopicAccess}:
            msg = f"DEVICE_TOPIC_ACCESS={access!r} is not account or own (DeviceTopicAccess)"
            raise AuthorizerSettingsError(msg)
        bindings = env.get("DEVICE_BINDINGS_TABLE", "").strip()
        if not bindings:
            msg = (
                "DEVICE_BINDINGS_TABLE is not set: template.yaml gives it !Ref DeviceBindingsTable"
            )
            raise AuthorizerSettingsError(msg)
        scope = PolicyScope(
            arn_prefix,
            prefixes("DEVICE_PUBLISH_PREFIXES"),
            prefixes("DEVICE_SUBSCRIBE_PREFIXES"),
            TopicAccess(access),
        )
        return cls(table, scope, bindings)
