"""Device tokens: create, import from TagoIO, list, revoke. Operations over
a Target (the local stack or a deployed one); no argparse, no printing (cmd_devices does both).

A token is printed once and stored only as its hash (mqtt_actions.tokens.token_hash)."""

from __future__ import annotations

import csv
import io
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mqtt_actions.adapters.binding_store import DynamoBindingStore
from mqtt_actions.adapters.token_store import DynamoTokenStore, IotDataConnections
from mqtt_actions.device_profiles import KIND_TOKEN, DeviceUpdate
from mqtt_actions.ports import BindingStore, ConnectionCloser, TokenStore
from mqtt_actions.tokens import (
    TOKEN_USERNAME,
    PolicyInputError,
    PolicyScope,
    TokenRecord,
    TopicAccess,
    check_device_name,
    check_token,
    policy_documents,
    principal_for,
    token_hash,
    token_policy,
    weak_token_problem,
)
from mqtt_actions_cli.errors import CliError, TargetError, UsageError
from mqtt_actions_cli.ops import device_profiles
from mqtt_actions_cli.target import Target

TOKEN_BYTES = 32  # 256 random bits, 43 URL-safe characters
# AWS documents MQTT with custom authentication on 443 with ALPN `mqtt` and SNI (protocols.html,
# custom-auth.html); 8883 only for X.509 certificates.
MQTT_TOKEN_PORT = 443
# Sizes and filters only: the narrowest access, which spells out every filter.
_CHECK_SCOPE = PolicyScope("arn:aws:iot:us-east-1:000000000000", access=TopicAccess.OWN)


def store_for(target: Target) -> TokenStore:
    return DynamoTokenStore(target.output("DeviceTokensTableName"), target.client("dynamodb"))


def bindings_for(target: Target) -> BindingStore:
    """Client id -> device of live token connections (the authorizer records them)."""
    return DynamoBindingStore(target.output("DeviceBindingsTableName"), target.client("dynamodb"))


def connections_for(target: Target) -> ConnectionCloser:
    """IoT Core's DeleteConnection; locally the control API answers it (the broker)."""
    return IotDataConnections(target.client("iot-data"))


def endpoint(target: Target) -> dict[str, Any]:
    """Where a token device connects: the stack's CUSTOM_AUTH endpoint, or the local broker."""
    if target.is_local:
        return {"host": target.mqtt_host, "port": target.mqtt_port, "tls": False}
    name = target.outputs.get("DeviceTokensDomainConfigurationName")
    if not name:
        raise TargetError(
            f"{target.describe()} has no token endpoint "
            "(output DeviceTokensDomainConfigurationName)",
            hint="deploy it with DeviceTokens=Enabled (the default): "
            "sam deploy --parameter-overrides DeviceTokens=Enabled",
        )
    described = target.client("iot").describe_domain_configuration(domainConfigurationName=name)
    host = described.get("domainName")
    if not host:
        raise TargetError(
            f"IoT returned no domain name for domain configuration {name!r}",
            hint=f"check: aws iot describe-domain-configuration --domain-configuration-name {name}",
        )
    return {"host": host, "port": MQTT_TOKEN_PORT, "tls": True, "alpn": "mqtt", "sni": host}


def check_filters(device: str, publish: Sequence[str], subscribe: Sequence[str]) -> None:
    """UsageError naming the device, filter and rule when a token could not be granted."""
    try:
        check_device_name(device)
        policy_documents(
            token_policy(_CHECK_SCOPE, device, publish, subscribe, client_id="client-id")
        )
    except PolicyInputError as exc:
        raise UsageError(str(exc), hint="see `mqtt-actions devices create --help`") from None


def create(
    target: Target,
    device: str,
    publish: Sequence[str],
    subscribe: Sequence[str],
    *,
    now_ms: int,
    update: DeviceUpdate | None = None,
) -> dict[str, Any]:
    """A new random token for `device`, stored as its hash; the token is returned once. The
    device's profile (tags, parameters: `update`) is registered with it."""
    check_filters(device, publish, subscribe)
    where = endpoint(target)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    record = TokenRecord(device, tuple(publish), tuple(subscribe), created_at=now_ms)
    # The profile first: a refused tag or parameter leaves no token behind.
    profile = device_profiles.register(
        device_profiles.registry_for(target),
        device,
        KIND_TOKEN,
        update or DeviceUpdate(),
        now_ms=now_ms,
    )
    if not store_for(target).add(token_hash(token), record):  # 2^-256: but never overwrite
        raise CliError("a token with this hash is stored already; run the command again")
    warning = None
    if target.is_local and target.outputs.get("DeviceAuth", "tokens") != "tokens":
        warning = (
            "this local stack does not check tokens (started without --auth tokens): any "
            "client connects and its client id is the device; restart it with "
            "`MQTT_ACTIONS_AUTH=tokens make run` (or `mqtt-actions local --auth tokens`)"
        )
    return {
        "device": device,
        "token": token,
        "username": TOKEN_USERNAME,
        **where,
        "warning": warning,
        "principal": principal_for(device),
        "publish": [device, f"{device}/#", *publish],
        "subscribe": [device, f"{device}/#", *subscribe],
        "created_at": now_ms,
        "tags": profile.tags_list(),
        "params": profile.params_list(),
    }


# ---------------------------------------------------------------------------- import


@dataclass
class ImportRow:
    line: int
    device: str
    token: str
    problem: str | None = None


def parse_tokens_csv(text: str, *, allow_weak: bool = False) -> list[ImportRow]:
    """`device,token` rows (TagoIO's export; a `device,token` header line is skipped). Every row
    is returned, each with the problem that refuses it (or None). A token that does not look
    random (`weak_token_problem`) is refused unless `allow_weak`."""
    rows: list[ImportRow] = []
    seen: dict[str, int] = {}
    for index, fields in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not fields or all(not f.strip() for f in fields):
            continue
        if index == 1 and [f.strip().lower() for f in fields] == ["device", "token"]:
            continue
        if len(fields) != 2:
            rows.append(
                ImportRow(index, "", "", f"expected 2 fields (device,token), got {len(fields)}")
            )
            continue
        device, token = fields[0].strip(), fields[1]
        row = ImportRow(index, device, token)
        try:
            check_device_name(device)
            check_token(token)
        except PolicyInputError as exc:
            row.problem = str(exc)
        if row.problem is None and not allow_weak and (weak := weak_token_problem(token)):
            row.problem = (
                f"the token looks guessable: {weak}; give each device a new token "
                "(`devices create NAME --token`), or import it anyway with --allow-weak"
            )
        if row.problem is None and (first := seen.get(token)) is not None:
            row.problem = f"the same token as line {first}: a token belongs to one device"
        seen.setdefault(token, index)
        rows.append(row)
    return rows


def import_tokens(
    store: TokenStore, rows: Sequence[ImportRow], *, skip_invalid: bool, now_ms: int
) -> list[dict[str, Any]]:
    """Store each valid row's token hash. A file with a refused row stores nothing unless
    `skip_invalid`. One report entry per row: imported / refused (why) / not imported."""
    refused_any = any(r.problem for r in rows)
    report: list[dict[str, Any]] = []
    for row in rows:
        entry: dict[str, Any] = {"line": row.line, "device": row.device}
        if row.problem:
            report.append({**entry, "status": "refused", "reason": row.problem})
        elif refused_any and not skip_invalid:
            reason = "nothing stored: the file has refused rows (fix them, or --skip-invalid)"
            report.append({**entry, "status": "not imported", "reason": reason})
        elif store.add(token_hash(row.token), TokenRecord(row.device, created_at=now_ms)):
            report.append({**entry, "status": "imported", "reason": None})
        else:
            reason = "this token is stored already (imported before, or another device's)"
            report.append({**entry, "status": "refused", "reason": reason})
    return report


def import_tokens_csv(
    target: Target, text: str, *, allow_weak: bool, skip_invalid: bool, now_ms: int, source: str
) -> dict[str, Any]:
    """A `device,token` CSV's text into the target's token store (`parse_tokens_csv`, then
    `import_tokens`): `{"imported": n, "rows": [report per row]}`. UsageError when it holds no
    rows. `source` names the file in that error."""
    rows = parse_tokens_csv(text.removeprefix("\ufeff"), allow_weak=allow_weak)
    if not rows:
        raise UsageError(
            f"{source} holds no device,token rows", hint="one device,token pair a line"
        )
    report = import_tokens(store_for(target), rows, skip_invalid=skip_invalid, now_ms=now_ms)
    return {"imported": sum(r["status"] == "imported" for r in report), "rows": report}


# ---------------------------------------------------------------------------- list, revoke


TOKEN_ID_CHARS = 8  # a token's name on pages: the start of its hash (never the token)


def token_status(target: Target, device: str, *, now_s: float | None = None) -> dict[str, Any]:
    """`device`'s tokens (`device_tokens`) and the client ids of its live connections."""
    now = time.time() if now_s is None else now_s
    live = {b.client_id for b in bindings_for(target).by_device(device) if b.holds(now)}
    return {"device": device, "tokens": device_tokens(target, device), "client_ids": sorted(live)}


def device_tokens(target: Target, device: str) -> list[dict[str, Any]]:
    """Each token of `device`, newest first: `id` (the start of its hash), `state` (active or
    revoked), created, revoked, last use (`last_seen`, the last connect) and its client id."""
    found = [
        {
            "id": key[:TOKEN_ID_CHARS],
            "state": "revoked" if record.revoked_at is not None else "active",
            "created": record.created_at,
            "revoked": record.revoked_at,
            "last_seen": record.last_seen,
            "last_client_id": record.last_client_id,
        }
        for key, record in store_for(target).by_device(device)
    ]
    return sorted(found, key=lambda t: t["created"], reverse=True)


def list_devices(target: Target, *, now_s: float | None = None) -> list[dict[str, Any]]:
    """Token devices (from the table) with the client ids of their live connections, and, on a
    deployed stack, certificate devices (things: the client id is the thing name)."""
    devices: dict[str, dict[str, Any]] = {}
    now = time.time() if now_s is None else now_s
    bound: dict[str, list[str]] = {}
    for binding in bindings_for(target).all():
        if binding.holds(now):  # an ended binding is no live connection
            bound.setdefault(binding.device, []).append(binding.client_id)
    for _key, record in store_for(target).all():
        entry = devices.setdefault(
            record.device,
            {
                "device": record.device,
                "kind": "token",
                "created": record.created_at,
                "last_seen": None,
                "tokens": 0,
                "revoked": 0,
                "client_ids": sorted(bound.get(record.device, [])),
                "last_client_id": None,
            },
        )
        entry["created"] = min(entry["created"], record.created_at)
        entry["last_seen"] = max(filter(None, (entry["last_seen"], record.last_seen)), default=None)
        if record.last_seen is not None and record.last_seen == entry["last_seen"]:
            entry["last_client_id"] = record.last_client_id
        entry["tokens"] += 1
        entry["revoked"] += record.revoked_at is not None
    found = sorted(devices.values(), key=lambda d: d["device"])
    if not target.is_local:
        found += _things(target)
    profiles = device_profiles.all_profiles(target)
    for entry in found:
        profile = profiles.get(entry["device"])
        entry["tags"] = profile.tags_list() if profile else []
        entry["params"] = profile.params_list() if profile else []
    return found


def _things(target: Target) -> list[dict[str, Any]]:
    pages = target.client("iot").get_paginator("list_things").paginate()
    names = sorted(thing["thingName"] for page in pages for thing in page.get("things", []))
    blank = {"created": None, "last_seen": None, "tokens": 0, "revoked": 0, "last_client_id": None}
    return [
        {"device": name, "kind": "certificate", **blank, "client_ids": [name]} for name in names
    ]


def revoke(
    store: TokenStore,
    bindings: BindingStore,
    closer: ConnectionCloser,
    device: str,
    *,
    now_ms: int,
) -> dict[str, Any]:
    """Revoke every token of `device` (the next connect is refused), then close every live
    connection it has (one per binding: any client id it used), as TagoIO does when a token is
    deleted, and end those bindings."""
    rows = store.by_device(device)
    if not rows:
        raise UsageError(
            f"device {device!r} has no tokens", hint="see them with `mqtt-actions devices list`"
        )
    revoked = 0
    for key, record in rows:
        if record.revoked_at is None:
            store.revoke(key, now_ms)
            revoked += 1
    held = bindings.by_device(device)
    # An ended binding's connection is gone (another connection may use its client id now).
    client_ids = sorted({b.client_id for b in held if b.ended_at_ms is None})
    closed = [client_id for client_id in client_ids if closer.close(client_id)]
    for client_id in sorted({b.client_id for b in held}):
        bindings.delete(client_id, device)
    return {
        "device": device,
        "revoked": revoked,
        "already_revoked": len(rows) - revoked,
        "closed": closed,
        "not_connected": [cid for cid in client_ids if cid not in closed],
    }


def revoke_device(target: Target, device: str, *, now_ms: int) -> dict[str, Any]:
    """`revoke` with the target's token store and connection closer."""
    return revoke(
        store_for(target), bindings_for(target), connections_for(target), device, now_ms=now_ms
    )


# ---------------------------------------------------------------------------- client id collisions


def parse_client_ids_csv(text: str) -> list[tuple[int, str, str]]:
    """(line, device, client id) rows of a CSV whose header names `device` and `client_id`
    (other columns, such as `token`, are ignored). UsageError naming the line when a row lacks
    either."""
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if "device" not in header or "client_id" not in header:
        raise UsageError(
            f"the header is {','.join(header) or 'empty'}: it must name device and client_id",
            hint="e.g. a first line device,client_id (a token column may stay; it is not read)",
        )
    at_device, at_client = header.index("device"), header.index("client_id")
    rows: list[tuple[int, str, str]] = []
    for line, fields in enumerate(reader, start=2):
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) <= max(at_device, at_client):
            raise UsageError(f"line {line}: expected the device and client_id columns")
        device, client_id = fields[at_device].strip(), fields[at_client].strip()
        if not device or not client_id:
            raise UsageError(f"line {line}: device and client_id must not be empty")
        rows.append((line, device, client_id))
    return rows


def collisions(uses: Sequence[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """Client ids used by more than one device, from (device, client id, where seen) triples:
    IoT Core keeps one connection per client id, so such devices would refuse each other (the
    second to connect is refused while the first is online)."""
    by_client: dict[str, dict[str, set[str]]] = {}
    for device, client_id, source in uses:
        by_client.setdefault(client_id, {}).setdefault(device, set()).add(source)
    return [
        {
            "client_id": client_id,
            "devices": sorted(devices),
            "seen": {device: sorted(sources) for device, sources in sorted(devices.items())},
        }
        for client_id, devices in sorted(by_client.items())
        if len(devices) > 1
    ]


def check_client_ids(
    target: Target, imported: Sequence[tuple[int, str, str]] = (), *, now_s: float | None = None
) -> list[dict[str, Any]]:
    """Devices that would collide on a client id: from the live bindings, the client id each
    token device last connected with, and `imported` rows (line, device, client id)."""
    now = time.time() if now_s is None else now_s
    uses = [
        (b.device, b.client_id, "connected") for b in bindings_for(target).all() if b.holds(now)
    ]
    uses += [
        (record.device, record.last_client_id, "last connect")
        for _key, record in store_for(target).all()
        if record.last_client_id and record.revoked_at is None
    ]
    uses += [(device, client_id, f"import line {line}") for line, device, client_id in imported]
    return collisions(uses)
