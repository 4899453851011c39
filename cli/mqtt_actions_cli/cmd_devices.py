"""`mqtt-actions devices create`: an AWS IoT thing with its own certificate and a tight policy."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mqtt_actions_cli.common import add_command
from mqtt_actions_cli.errors import EXIT_OK, CliError, UsageError
from mqtt_actions_cli.iot_policy import PolicyInputError, check_thing_name, device_policy
from mqtt_actions_cli.output import emit, note
from mqtt_actions_cli.target import Target

ROOT_CA_URL = "https://www.amazontrust.com/repository/AmazonRootCA1.pem"
MQTT_TLS_PORT = 8883


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    devices = subparsers.add_parser(
        "devices",
        help="create devices on AWS IoT (thing, certificate, policy)",
        description="Devices on AWS IoT Core: each one a thing with its own certificate.",
        epilog="run `mqtt-actions devices create --help` for the options",
    )
    sub = devices.add_subparsers(title="devices commands", metavar="COMMAND", required=True)
    create = add_command(
        sub,
        "create",
        summary="thing + keys + certificate + policy, files written 0600",
        description=(
            "Create an AWS IoT thing NAME, a key pair and an active certificate, and a policy\n"
            "mqtt-actions-NAME attached to the certificate, which is attached to the thing.\n"
            "The policy lets the device connect only with client id NAME (its own thing name,\n"
            "with the certificate attached to that thing), publish to the --publish filters and\n"
            "subscribe to and receive from the --subscribe filters. Defaults: NAME/# for both,\n"
            "never everything. IoT policies match with '*' (any characters, across levels):\n"
            "an MQTT '+' or '#' in a filter becomes '*', so 'home/+/temp' also allows\n"
            "'home/a/b/temp'.\n"
            "Writes NAME.cert.pem, NAME.private.key and NAME.json (endpoint, port, client id,\n"
            "certificate id) into --out, each created with mode 0600; the private key exists\n"
            "nowhere else. Needs --stack NAME (its account and region): the local broker\n"
            "accepts any client id without certificates. If a step fails, the steps before it\n"
            "are undone."
        ),
        examples="""
  mqtt-actions devices create sensor-01 --stack mqtt-actions-dev
  mqtt-actions devices create sensor-02 --stack mqtt-actions-dev --out ~/certs \\
      --publish 'home/+/temperature' --publish 'sensor-02/#' --subscribe 'cmd/sensor-02'""",
    )
    create.add_argument("name", metavar="NAME", help="thing name = MQTT client id")
    create.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="where to write the certificate, key and endpoint file (default: devices/NAME)",
    )
    create.add_argument(
        "--publish",
        metavar="FILTER",
        action="append",
        help="an MQTT filter the device may publish to (repeatable; default NAME/#)",
    )
    create.add_argument(
        "--subscribe",
        metavar="FILTER",
        action="append",
        help="an MQTT filter the device may subscribe to and receive from "
        "(repeatable; default NAME/#)",
    )
    create.set_defaults(func=run_create)


def run_create(args: argparse.Namespace) -> int:
    if not args.stack:
        raise UsageError(
            "devices create makes AWS IoT things; it has no meaning for the local stack, "
            "whose broker accepts any client id without certificates",
            hint="pass --stack NAME to create the device in that stack's account and region",
        )
    name: str = args.name
    publish = args.publish or [f"{name}/#"]
    subscribe = args.subscribe or [f"{name}/#"]
    out_dir: Path = args.out if args.out is not None else Path("devices") / name
    files = {
        "certificate": out_dir / f"{name}.cert.pem",
        "private_key": out_dir / f"{name}.private.key",
        "info": out_dir / f"{name}.json",
    }
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

    target: Target = args.get_target()
    created = _create(target, name, publish, subscribe, files)
    info = created["info"]

    def render() -> str:
        return "\n".join(
            [
                f"device {name!r} created in {target.region}",
                f"  thing        {name} (MQTT client id: {name})",
                f"  certificate  {info['certificate_id']} (active)",
                f"  policy       {info['policy']}: connect as {name} only; "
                f"publish {', '.join(publish)}; subscribe {', '.join(subscribe)}",
                f"  endpoint     {info['endpoint']}:{MQTT_TLS_PORT}",
                "  files (0600) " + ", ".join(str(p) for p in files.values()),
                "",
                f"connect with the Amazon root CA ({ROOT_CA_URL}), e.g.:",
                f"  mosquitto_pub --cafile AmazonRootCA1.pem --cert {files['certificate']} "
                f"--key {files['private_key']} -h {info['endpoint']} -p {MQTT_TLS_PORT} "
                f"-i {name} -q 1 -t {_example_topic(publish, name)} -m '{{\"value\": 1}}'",
            ]
        )

    emit(args, created, render)
    return EXIT_OK


def _example_topic(publish: list[str], name: str) -> str:
    first = publish[0].replace("/#", "/hello").replace("+", name)
    return first if first != "#" else f"{name}/hello"


def _create(
    target: Target, name: str, publish: list[str], subscribe: list[str], files: dict[str, Path]
) -> dict[str, Any]:
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
        _write_private(
            files,
            {
                "certificate": cert["certificatePem"],
                "private_key": cert["keyPair"]["PrivateKey"],
                "info": json.dumps(info, indent=2) + "\n",
            },
        )
    except BaseException:
        _rollback(undo)
        raise
    return {
        "info": info,
        "policy_document": document,
        "files": {k: str(v) for k, v in files.items()},
    }


def _must_not_exist(probe: Callable[[], object], errors: Any, what: str) -> None:
    try:
        probe()
    except errors.ResourceNotFoundException:
        return
    raise CliError(
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


def _rollback(undo: list[tuple[str, Callable[[], object]]]) -> None:
    for what, step in reversed(undo):
        try:
            step()
        except Exception as exc:  # keep undoing the rest; say what is left behind
            note(f"mqtt-actions: could not {what} while undoing: {exc}; remove it by hand")
