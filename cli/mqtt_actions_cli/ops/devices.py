"""Devices: create a certificate device (AWS IoT thing + keys + tight policy, undone if a step
fails), and the devices seen by the inspector (connected now or last seen, their history).
Token devices are in ops/tokens.py; tags and configuration parameters (the device registry) in
ops/device_profiles.py."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mqtt_actions.bindings import NOT_MQTT, UNKNOWN_DEVICE
from mqtt_actions.device_profiles import KIND_CERTIFICATE, DeviceUpdate
from mqtt_actions.inspector import EntryType, InspectorEntry
from mqtt_actions_cli.iot_policy import PolicyInputError, check_thing_name, device_policy
from mqtt_actions_cli.ops import device_profiles, inspector
from mqtt_actions_cli.ops.errors import OpsError, UsageError
from mqtt_actions_cli.target import Target

ROOT_CA_URL = "https://www.amazontrust.com/repository/AmazonRootCA1.pem"
MQTT_TLS_PORT = 8883
PRESENCE = (EntryType.CONNECT, EntryType.DISCONNECT, EntryType.CONNECT_FAILED)
SEEN_LIMIT = 5000

Warn = Callable[[str], None]


# ---------------------------------------------------------------------------- certificate devices


def certificate_files(name: str, out_dir: Path | None) -> dict[str, Path]:
    where = out_dir if out_dir is not None else Path("devices") / name
    return {
        "certificate": where / f"{name}.cert.pem",
        "private_key": where / f"{name}.private.key",
        "info": where / f"{name}.json",
    }


def check_certificate_device(
    name: str, publish: list[str], subscribe: list[str], files: dict[str, Path]
) -> None:
    """UsageError before anything is contacted: a bad name or filter, or files in the way."""
    try:
        check_thing_name(name)
        device_policy(
            partition="aws", region="r", account="0", publish=publish, subscribe=subscribe
        )
    except PolicyInputError as exc:
        raise UsageError(str(exc), hint="see `mqtt-actions devices create --help`") from None
    existing = [str(p) for p in files.values() if p.exists()]
    if existing:
        raise UsageError(
            f"would overwrite {', '.join(existing)}",
            hint="choose another --out directory or move those files away",
        )


def create_certificate_device(
    target: Target,
    name: str,
    publish: list[str],
    subscribe: list[str],
    files: dict[str, Path],
    *,
    warn: Warn = lambda _message: None,
    update: DeviceUpdate | None = None,
    now_ms: int = 0,
) -> dict[str, Any]:
    """Thing NAME, an active certificate with its key (written 0600 into `files`), and a policy
    mqtt-actions-NAME allowing client id NAME only, `publish` and `subscribe`; its profile
    (tags, parameters: `update`) in the device registry. A failed step undoes the ones before
    it (`warn` says what could not be undone)."""
    check_certificate_device(name, publish, subscribe, files)
    registry = device_profiles.registry_for(target)  # a stack without one fails before any step
    iot = target.client("iot")
    errors = iot.exceptions
    policy_name = f"mqtt-actions-{name}"
    _must_not_exist(lambda: iot.describe_thing(thingName=name), errors, f"thing {name!r}")
    _must_not_exist(
        lambda: iot.get_policy(policyName=policy_name), errors, f"policy {policy_name!r}"
    )
    identity = target.client("sts").get_caller_identity()
    partition = str(identity["Arn"]).split(":")[1]
    document = device_policy(
        partition=partition,
        region=target.region,
        account=str(identity["Account"]),
        publish=publish,
        subscribe=subscribe,
    )
    endpoint = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]

    undo: list[tuple[str, Callable[[], object]]] = []
    try:
        thing = iot.create_thing(thingName=name)
        undo.append((f"delete thing {name}", lambda: iot.delete_thing(thingName=name)))
        iot.create_policy(policyName=policy_name, policyDocument=json.dumps(document))
        undo.append(
            (f"delete policy {policy_name}", lambda: iot.delete_policy(policyName=policy_name))
        )
        cert = iot.create_keys_and_certificate(setAsActive=True)
        cert_id, cert_arn = cert["certificateId"], cert["certificateArn"]

        def drop_certificate() -> None:
            iot.update_certificate(certificateId=cert_id, newStatus="INACTIVE")
            iot.delete_certificate(certificateId=cert_id, forceDelete=True)

        undo.append((f"delete certificate {cert_id}", drop_certificate))
        iot.attach_policy(policyName=policy_name, target=cert_arn)
        undo.append(
            (
                "detach the policy",
                lambda: iot.detach_policy(policyName=policy_name, target=cert_arn),
            )
        )
        iot.attach_thing_principal(thingName=name, principal=cert_arn)
        undo.append(
            (
                "detach the certificate from the thing",
                lambda: iot.detach_thing_principal(thingName=name, principal=cert_arn),
            )
        )
        info = {
            "thing": name,
            "thing_arn": thing.get("thingArn"),
            "client_id": name,
            "endpoint": endpoint,
            "port": MQTT_TLS_PORT,
            "certificate_id": cert_id,
            "certificate_arn": cert_arn,
            "policy": policy_name,
            "publish": publish,
            "subscribe": subscribe,
            "certificate_file": str(files["certificate"]),
            "private_key_file": str(files["private_key"]),
            "root_ca_url": ROOT_CA_URL,
        }
        profile = device_profiles.register(
            registry, name, KIND_CERTIFICATE, update or DeviceUpdate(), now_ms=now_ms
        )
        _write_private(
            files,
            {
                "certificate": cert["certificatePem"],
                "private_key": cert["keyPair"]["PrivateKey"],
                "info": json.dumps(info, indent=2) + "\n",
            },
        )
    except BaseException:
        _rollback(undo, warn)
        raise
    return {
        "info": info,
        "tags": profile.tags_list(),
        "params": profile.params_list(),
        "policy_document": document,
        "files": {k: str(v) for k, v in files.items()},
    }


def _must_not_exist(probe: Callable[[], object], errors: Any, what: str) -> None:
    try:
        probe()
    except errors.ResourceNotFoundException:
        return
    raise OpsError(
        f"{what} already exists",
        hint="choose another device name, or delete the existing one in the AWS IoT console",
    )


def _write_private(files: dict[str, Path], contents: dict[str, str]) -> None:
    """Create each file with mode 0600 from the start (never widened, then narrowed)."""
    written: list[Path] = []
    try:
        for key, path in files.items():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            written.append(path)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(contents[key])
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _rollback(undo: list[tuple[str, Callable[[], object]]], warn: Warn) -> None:
    for what, step in reversed(undo):
        try:
            step()
        except Exception as exc:  # keep undoing the rest; say what is left behind
            warn(f"mqtt-actions: could not {what} while undoing: {exc}; remove it by hand")


# ---------------------------------------------------------------------------- devices seen


class DeviceSeen(BaseModel):
    device: str
    connected: bool
    last_seen: int  # ms: the newest entry of any type
    last_event: str
    ip: str | None = None
    messages: int = 0


class RefusedConnection(BaseModel):
    """A client id whose connects were refused (a bad or revoked token, a client id in use), or
    the messages of connections no device binding names (`UNKNOWN_DEVICE`)."""

    client_id: str
    attempts: int
    last_time: int
    reason: str
    ip: str | None = None


class StackPublisher(BaseModel):
    """Who in the stack published messages through iot-data: an action or an analysis."""

    kind: str  # action | analysis | stack (no source said: an older stack, or the console)
    name: str
    messages: int
    last_time: int


class DevicesOverview(BaseModel):
    devices: list[DeviceSeen]
    refused: list[RefusedConnection]
    published_by_stack: list[StackPublisher]


def is_device(name: str) -> bool:
    """False for the inspector's names that are not devices: the stack itself (iot-data) and
    connections no binding names."""
    return name not in (NOT_MQTT, UNKNOWN_DEVICE)


def pure_overview(entries: list[InspectorEntry]) -> DevicesOverview:
    """Inspector entries (oldest first) split into devices (`pure_seen`: names with some entry
    besides a failed connect), refused connections (per client id: its failed connects; the
    messages of unknown connections) and the actions and analyses that published, each newest
    first."""
    refused: dict[str, RefusedConnection] = {}
    stack: dict[tuple[str, str], StackPublisher] = {}
    accepted = {e.device for e in entries if e.type is not EntryType.CONNECT_FAILED}
    for entry in entries:
        if entry.type is EntryType.PUBLISH and entry.device == NOT_MQTT:
            kind, _, name = str(entry.details.get("by") or "stack/").partition("/")
            one = stack.setdefault(
                (kind, name), StackPublisher(kind=kind, name=name, messages=0, last_time=0)
            )
            one.messages += 1
            one.last_time = max(one.last_time, entry.time)
        refusal = _refusal(entry)
        if refusal is None:
            continue
        client_id, reason = refusal
        row = refused.setdefault(
            client_id,
            RefusedConnection(client_id=client_id, attempts=0, last_time=0, reason=reason),
        )
        row.attempts += 1
        if entry.time >= row.last_time:
            row.last_time, row.reason = entry.time, reason
            row.ip = str(entry.details["ip"]) if entry.details.get("ip") else row.ip
    return DevicesOverview(
        devices=pure_seen([e for e in entries if e.device in accepted and is_device(e.device)]),
        refused=sorted(refused.values(), key=lambda r: r.last_time, reverse=True),
        published_by_stack=sorted(stack.values(), key=lambda s: s.last_time, reverse=True),
    )


def _refusal(entry: InspectorEntry) -> tuple[str, str] | None:
    if entry.type is EntryType.CONNECT_FAILED:
        client = str(entry.details.get("client_id") or entry.device)
        return client, str(entry.details.get("reason") or "refused")
    if entry.device == UNKNOWN_DEVICE and entry.type is EntryType.PUBLISH:
        return "(no binding)", "messages from a client id no device binding names: not run"
    return None


def overview(target: Target, *, since_ms: int) -> DevicesOverview:
    """The Devices page: devices, refused connections and stack publishers since `since_ms`."""
    return pure_overview(inspector.query(target, since_ms=since_ms, limit=SEEN_LIMIT))


def pure_seen(entries: list[InspectorEntry]) -> list[DeviceSeen]:
    """Per device from inspector entries (oldest first): connected now when its newest presence
    entry is a connect; last seen = its newest entry. Newest first."""
    found: dict[str, DeviceSeen] = {}
    for entry in entries:
        seen = found.get(entry.device) or DeviceSeen(
            device=entry.device, connected=False, last_seen=entry.time, last_event=""
        )
        seen.last_seen = max(seen.last_seen, entry.time)
        if entry.type in PRESENCE:
            seen.connected = entry.type is EntryType.CONNECT
            seen.last_event = entry.type.value
            if entry.details.get("ip"):
                seen.ip = str(entry.details["ip"])
        if entry.type is EntryType.PUBLISH:
            seen.messages += 1
        found[entry.device] = seen
    return sorted(found.values(), key=lambda d: d.last_seen, reverse=True)


def seen(target: Target, *, since_ms: int) -> list[DeviceSeen]:
    """The devices the inspector saw since `since_ms`."""
    entries = inspector.query(target, since_ms=since_ms, limit=SEEN_LIMIT)
    return pure_seen(entries)


def history(
    target: Target, device: str, *, since_ms: int, limit: int = 200
) -> list[InspectorEntry]:
    """One device's connects, disconnects and failed connects, newest first."""
    entries = inspector.query(
        target, device=device, types=[t.value for t in PRESENCE], since_ms=since_ms, limit=limit
    )
    return list(reversed(entries))
