"""`mqtt-actions devices`: create a device with a certificate (AWS IoT thing + tight policy) or
with a token (TagoIO style: username `Token`, password = the token), import TagoIO's tokens,
list devices, revoke a device's tokens."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mqtt_actions.parsers.registry import PARSER, PARSER_LANGUAGE, PARSER_NAME, parser_settings
from mqtt_actions_cli.common import add_command
from mqtt_actions_cli.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from mqtt_actions_cli.output import emit, iso_ms, note, table

if TYPE_CHECKING:  # loaded when a handler runs, not for --help (main.py)
    from mqtt_actions.device_profiles import DeviceProfile, DeviceUpdate
    from mqtt_actions_cli.ops import device_profiles, devices, parsers, tokens
    from mqtt_actions_cli.target import Target
else:
    from mqtt_actions_cli.lazy import lazy

    device_profiles = lazy("mqtt_actions_cli.ops.device_profiles")
    devices = lazy("mqtt_actions_cli.ops.devices")
    parsers = lazy("mqtt_actions_cli.ops.parsers")
    tokens = lazy("mqtt_actions_cli.ops.tokens")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    devices = subparsers.add_parser(
        "devices",
        help="devices: with a certificate or a token (TagoIO style); import, list, revoke",
        description=(
            "Devices on AWS IoT Core: a thing with its own certificate, or a token device that\n"
            "connects as on TagoIO (username Token, password = its token) through the stack's\n"
            "custom authorizer."
        ),
        epilog="run `mqtt-actions devices COMMAND --help` for the options",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = devices.add_subparsers(title="devices commands", metavar="COMMAND", required=True)
    create = add_command(
        sub,
        "create",
        summary="thing + keys + certificate + policy (files 0600), or --token",
        description=(
            "With --token: make a random token (256 bits) for device NAME and print it once;\n"
            "only its SHA-256 hash is stored. The device connects with MQTT username 'Token'\n"
            "and the token as password, a client id no other live device holds, to the stack's\n"
            "token endpoint (port 443, TLS with SNI and ALPN mqtt) or, locally, to the broker of\n"
            "`mqtt-actions local --auth tokens`. It may\n"
            "publish, subscribe and receive under NAME/... plus the --publish / --subscribe\n"
            "filters plus the stack's DevicePublishPrefixes / DeviceSubscribePrefixes; never\n"
            "$aws/... . Works locally and with --stack.\n"
            "\n"
            "Without --token: create an AWS IoT thing NAME, a key pair and an active\n"
            "certificate, and a policy mqtt-actions-NAME attached to the certificate, which\n"
            "is attached to the thing.\n"
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
      --publish 'home/+/temperature' --publish 'sensor-02/#' --subscribe 'cmd/sensor-02'
  mqtt-actions devices create sensor-03 --token                 # the local stack
  mqtt-actions devices create sensor-04 --token --publish 'home/+/temperature' \\
      --stack mqtt-actions-dev --json""",
    )
    create.add_argument(
        "--token",
        action="store_true",
        help="a token device (username Token, password = the token) instead of a certificate",
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
        help="an MQTT filter the device may publish to (repeatable; default NAME/#; "
        "with --token in addition to NAME/#)",
    )
    create.add_argument(
        "--subscribe",
        metavar="FILTER",
        action="append",
        help="an MQTT filter the device may subscribe to and receive from "
        "(repeatable; default NAME/#)",
    )
    add_profile_options(create, removals=False)
    create.set_defaults(func=run_create)
    _register_token_commands(sub)
    _register_profile_commands(sub)


def run_create(args: argparse.Namespace) -> int:
    if args.token:
        return run_create_token(args)
    if not args.stack:
        raise UsageError(
            "devices create makes AWS IoT things; it has no meaning for the local stack, "
            "whose broker accepts any client id without certificates",
            hint="pass --stack NAME to create the device in that stack's account and region",
        )
    name: str = args.name
    publish = args.publish or [f"{name}/#"]
    subscribe = args.subscribe or [f"{name}/#"]
    files = devices.certificate_files(name, args.out)
    devices.check_certificate_device(name, publish, subscribe, files)
    target: Target = args.get_target()
    created = devices.create_certificate_device(
        target,
        name,
        publish,
        subscribe,
        files,
        warn=note,
        update=profile_update(args),
        now_ms=_now_ms(),
    )
    info = created["info"]

    def render() -> str:
        return "\n".join(
            [
                f"device {name!r} created in {target.region}",
                f"  thing        {name} (MQTT client id: {name})",
                f"  certificate  {info['certificate_id']} (active)",
                f"  policy       {info['policy']}: connect as {name} only; "
                f"publish {', '.join(publish)}; subscribe {', '.join(subscribe)}",
                f"  endpoint     {info['endpoint']}:{devices.MQTT_TLS_PORT}",
                *_profile_lines(created["tags"], created["params"], indent=13),
                "  files (0600) " + ", ".join(str(p) for p in files.values()),
                "",
                f"connect with the Amazon root CA ({devices.ROOT_CA_URL}), e.g.:",
                f"  mosquitto_pub --cafile AmazonRootCA1.pem --cert {files['certificate']} "
                f"--key {files['private_key']} -h {info['endpoint']} -p {devices.MQTT_TLS_PORT} "
                f"-i {name} -q 1 -t {_example_topic(publish, name)} -m '{{\"value\": 1}}'",
            ]
        )

    emit(args, created, render)
    return EXIT_OK


def _example_topic(publish: list[str], name: str) -> str:
    first = publish[0].replace("/#", "/hello").replace("+", name)
    return first if first != "#" else f"{name}/hello"


# ---------------------------------------------------------------------------- token devices


def _now_ms() -> int:
    return int(time.time() * 1000)


def _register_token_commands(sub: argparse._SubParsersAction[Any]) -> None:
    imports = add_command(
        sub,
        "import-tokens",
        summary="import TagoIO device tokens from a device,token CSV (hashes only)",
        description=(
            "Store the tokens of a CSV exported from TagoIO (rows device,token; a header line\n"
            "device,token is skipped) so field devices keep their tokens. Each row is reported:\n"
            "imported, or refused and why (a token that does not look random - a UUID, or 24+\n"
            "characters from 3 classes - is refused unless --allow-weak). A file with a refused\n"
            "row stores nothing unless\n"
            "--skip-invalid. Only the tokens' SHA-256 hashes are stored. Exit 2 when a row was\n"
            "refused."
        ),
        examples="""
  mqtt-actions devices import-tokens tago-tokens.csv
  mqtt-actions devices import-tokens tago-tokens.csv --skip-invalid --stack mqtt-actions-dev""",
    )
    imports.add_argument("file", metavar="FILE.csv", type=Path, help="rows of device,token")
    imports.add_argument(
        "--skip-invalid", action="store_true", help="import the valid rows even if some are not"
    )
    imports.add_argument(
        "--allow-weak",
        action="store_true",
        help="import tokens that do not look random (short, few distinct characters, one class)",
    )
    imports.set_defaults(func=run_import_tokens)

    listing = add_command(
        sub,
        "list",
        summary="devices: name, kind (token/certificate), created, last seen",
        description=(
            "Token devices from the tokens table (created, last seen = last connect, at most 5\n"
            "minutes old; revoked tokens counted) and, with --stack, the AWS IoT things\n"
            "(certificate devices)."
        ),
        examples="""
  mqtt-actions devices list
  mqtt-actions devices list --stack mqtt-actions-dev --json""",
    )
    listing.set_defaults(func=run_list)

    checking = add_command(
        sub,
        "check",
        summary="devices that would collide on a client id (one connection per client id)",
        description=(
            "IoT Core keeps one connection per client id, and the token authorizer refuses a\n"
            "client id another device's live connection holds. TagoIO firmware often hard-codes\n"
            "one (ESP32): list the client ids used by more than one device, from the live\n"
            "connections, each token device's last connect and --import FILE (a CSV whose\n"
            "header names device and client_id). Exit 1 when some collide."
        ),
        examples="""
  mqtt-actions devices check
  mqtt-actions devices check --import fleet.csv --stack mqtt-actions-dev""",
    )
    checking.add_argument(
        "--import",
        dest="import_file",
        metavar="FILE.csv",
        type=Path,
        help="rows of device,client_id (the fleet about to move)",
    )
    checking.set_defaults(func=run_check)

    revoking = add_command(
        sub,
        "revoke",
        summary="revoke a device's tokens and close its live connection",
        description=(
            "Revoke every token of device NAME: the next connect with one is refused, and the\n"
            "connection known by the token's last client id is closed now (IoT Core\n"
            "DeleteConnection; locally the broker disconnects it), as TagoIO does when a token\n"
            "is deleted. Certificate devices: deactivate the certificate in AWS IoT instead."
        ),
        examples="""
  mqtt-actions devices revoke sensor-03
  mqtt-actions devices revoke sensor-04 --stack mqtt-actions-dev""",
    )
    revoking.add_argument("name", metavar="NAME", help="the device whose tokens to revoke")
    revoking.set_defaults(func=run_revoke)


def run_create_token(args: argparse.Namespace) -> int:
    if args.out is not None:
        raise UsageError("--out is for certificate files; a token device has none")
    tokens.check_filters(args.name, args.publish or [], args.subscribe or [])
    target: Target = args.get_target()
    made = tokens.create(
        target,
        args.name,
        args.publish or [],
        args.subscribe or [],
        now_ms=_now_ms(),
        update=profile_update(args),
    )

    def render() -> str:
        scheme = "TLS, Amazon Root CA 1, SNI, ALPN mqtt" if made["tls"] else "no TLS (local)"
        tls_flags = (
            f"--cafile AmazonRootCA1.pem --tls-alpn mqtt -p {made['port']}"
            if made["tls"]
            else (f"-p {made['port']}")
        )
        warning = [f"warning: {made['warning']}", ""] if made["warning"] else []
        return "\n".join(
            [
                *warning,
                f"device {made['device']!r}: token created in {target.describe()}",
                f"  token      {made['token']}",
                "             (shown once: only its hash is stored)",
                f"  endpoint   {made['host']}:{made['port']} ({scheme})",
                f"  username   {made['username']}   client id: any one no other device uses "
                "while connected",
                f"  publish    {', '.join(made['publish'])}",
                f"  subscribe  {', '.join(made['subscribe'])}",
                *_profile_lines(made["tags"], made["params"], indent=11),
                "",
                "try it:",
                f"  mosquitto_pub -h {made['host']} {tls_flags} -i any-id -u Token "
                f"-P '{made['token']}' -q 1 -t {made['device']}/hello -m '{{\"value\": 1}}'",
            ]
        )

    emit(args, made, render)
    return EXIT_OK


def run_import_tokens(args: argparse.Namespace) -> int:
    path: Path = args.file
    try:
        text = path.read_text(encoding="utf-8-sig")  # TagoIO's export may carry a BOM
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"cannot read {path}: {exc}", hint="give a UTF-8 CSV of device,token rows"
        ) from None
    target: Target = args.get_target()
    done = tokens.import_tokens_csv(
        target,
        text,
        allow_weak=args.allow_weak,
        skip_invalid=args.skip_invalid,
        now_ms=_now_ms(),
        source=str(path),
    )
    report, imported = done["rows"], done["imported"]

    def render() -> str:
        body = table(
            ["line", "device", "status", "reason"],
            [[r["line"], r["device"], r["status"], r["reason"] or ""] for r in report],
            width=100,
        )
        return f"{body}\n{imported} of {len(report)} rows imported into {target.describe()}"

    emit(args, done, render)
    return EXIT_OK if all(r["status"] == "imported" for r in report) else EXIT_USAGE


def run_list(args: argparse.Namespace) -> int:
    target: Target = args.get_target()
    found = tokens.list_devices(target)

    def render() -> str:
        if not found:
            return f"no devices in {target.describe()}"
        return table(
            ["device", "kind", "client ids", "created", "last seen", "tokens", "tags"],
            [
                [
                    d["device"],
                    d["kind"],
                    _client_ids(d),
                    iso_ms(d["created"]) if d["created"] else "-",
                    iso_ms(d["last_seen"]) if d["last_seen"] else "-",
                    f"{d['tokens']} ({d['revoked']} revoked)" if d["kind"] == "token" else "-",
                    _pairs_text(d["tags"]) or "-",
                ]
                for d in found
            ],
        )

    emit(args, found, render)
    return EXIT_OK


def run_check(args: argparse.Namespace) -> int:
    imported: list[tuple[int, str, str]] = []
    if args.import_file is not None:
        path: Path = args.import_file
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(
                f"cannot read {path}: {exc}", hint="give a UTF-8 CSV of device,client_id rows"
            ) from None
        imported = tokens.parse_client_ids_csv(text)
    target: Target = args.get_target()
    found = tokens.check_client_ids(target, imported)

    def render() -> str:
        if not found:
            return f"no client id is used by two devices in {target.describe()}"
        body = table(
            ["client id", "devices", "seen"],
            [
                [
                    c["client_id"],
                    ", ".join(c["devices"]),
                    "; ".join(f"{d}: {', '.join(s)}" for d, s in c["seen"].items()),
                ]
                for c in found
            ],
            width=110,
        )
        return (
            f"{body}\n{len(found)} client id(s) shared: the second device to connect is refused "
            "while the first is online; give each device its own client id"
        )

    emit(args, found, render)
    return EXIT_FAILED if found else EXIT_OK


def _client_ids(device: dict[str, Any]) -> str:
    """Live client ids; else the last one seen, marked so."""
    if device["client_ids"]:
        return ", ".join(device["client_ids"])
    last = device.get("last_client_id")
    return f"({last}, offline)" if last else "-"


def run_revoke(args: argparse.Namespace) -> int:
    target: Target = args.get_target()
    done = tokens.revoke_device(target, args.name, now_ms=_now_ms())

    def render() -> str:
        lines = [
            f"device {done['device']!r}: {done['revoked']} token(s) revoked"
            + (f" ({done['already_revoked']} were already)" if done["already_revoked"] else "")
        ]
        if done["closed"]:
            lines.append(f"  closed the live connections of client ids {', '.join(done['closed'])}")
        if done["not_connected"]:
            lines.append(f"  not connected now: {', '.join(done['not_connected'])}")
        return "\n".join(lines)

    emit(args, done, render)
    return EXIT_OK


# ---------------------------------------------------------------------------- tags and parameters


def add_profile_options(parser: argparse.ArgumentParser, *, removals: bool) -> None:
    """--tag / --param (and, for `set`, --untag / --unparam) on a devices command."""
    parser.add_argument(
        "--tag",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a device tag as on TagoIO (repeatable; a key given again replaces its value)",
    )
    parser.add_argument(
        "--param",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="a configuration parameter as on TagoIO (repeatable; a changed value is unsent again)",
    )
    if removals:
        parser.add_argument(
            "--untag", metavar="KEY", action="append", default=[], help="remove a tag"
        )
        parser.add_argument(
            "--unparam", metavar="KEY", action="append", default=[], help="remove a parameter"
        )


def device_settings(args: argparse.Namespace) -> dict[str, str | None]:
    """Per-device settings other than tags and parameters, from `devices set`'s options: each
    option a feature adds to `set` maps here to one name (None removes the setting)."""
    settings: dict[str, str | None] = {}
    if getattr(args, "parser", None) is not None and getattr(args, "no_parser", False):
        raise UsageError("give --parser FILE or --no-parser, not both")
    if getattr(args, "parser", None) is not None:
        settings.update(parser_settings(parsers.read_parser(args.parser)))
    elif getattr(args, "no_parser", False):
        settings.update(parser_settings(None))
    return settings


def profile_update(args: argparse.Namespace) -> DeviceUpdate:
    return device_profiles.make_update(
        tags=args.tag,
        params=args.param,
        untag=getattr(args, "untag", []),
        unparam=getattr(args, "unparam", []),
        extra=device_settings(args),
    )


def _pairs_text(pairs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{p['key']}={p['value']}" for p in pairs)


def _profile_lines(
    tags: list[dict[str, Any]], params: list[dict[str, Any]], indent: int
) -> list[str]:
    lines = []
    if tags:
        lines.append("  tags".ljust(indent) + _pairs_text(tags))
    if params:
        lines.append("  params".ljust(indent) + _pairs_text(params))
    return lines


def _register_profile_commands(sub: argparse._SubParsersAction[Any]) -> None:
    setting = add_command(
        sub,
        "set",
        summary="set a device's tags, configuration parameters and payload parser",
        description=(
            "Change what the device registry holds for device NAME (a token or certificate\n"
            "device): tags and configuration parameters, as on TagoIO. Analyses read them with\n"
            "Account(...).devices.info / paramList (tagoio_sdk). A key given again replaces its\n"
            "value; a parameter whose value changes is marked unsent. Works locally and with\n"
            "--stack."
        ),
        examples="""
  mqtt-actions devices set sensor-03 --tag type=temperature --tag site=lisbon
  mqtt-actions devices set sensor-03 --param interval=60 --untag site
  mqtt-actions devices set sensor-04 --param threshold=30 --stack mqtt-actions-dev --json
  mqtt-actions devices set sensor-03 --parser parsers/th-01.js
  mqtt-actions devices set --tagged type=th-01 --parser parsers/th-01.js""",
    )
    setting.add_argument("name", metavar="NAME", nargs="?", help="the device")
    setting.add_argument(
        "--tagged",
        metavar="KEY=VALUE",
        help="instead of NAME: every registered device with this tag (e.g. type=th-01)",
    )
    add_profile_options(setting, removals=True)
    setting.add_argument(
        "--parser",
        metavar="FILE",
        type=Path,
        help="attach a payload parser: FILE.js (TagoIO's JavaScript, run unchanged) or FILE.py "
        "(def parse(payload, device)); it runs on the device's messages before anything is "
        "stored",
    )
    setting.add_argument(
        "--no-parser", action="store_true", help="remove the device's payload parser"
    )
    setting.set_defaults(func=run_set)

    showing = add_command(
        sub,
        "show",
        summary="a device's kind, tags and configuration parameters",
        description="What the device registry holds for device NAME.",
        examples="""
  mqtt-actions devices show sensor-03
  mqtt-actions devices show sensor-04 --stack mqtt-actions-dev --json""",
    )
    showing.add_argument("name", metavar="NAME", help="the device")
    showing.set_defaults(func=run_show)
    _register_parser_commands(sub)


def _register_parser_commands(sub: argparse._SubParsersAction[Any]) -> None:
    group = sub.add_parser(
        "parser",
        help="a device's payload parser: test it on a payload",
        description="A device's payload parser (attach one with `devices set NAME --parser F`).",
        epilog="run `mqtt-actions devices parser test --help` for the options",
    )
    parser_sub = group.add_subparsers(title="parser commands", metavar="COMMAND", required=True)
    testing = add_command(
        parser_sub,
        "test",
        summary="dry run: the points the device's parser makes of a payload",
        description=(
            "Run device NAME's payload parser (from the target's device registry, locally or\n"
            "with --stack) here, on the data points the router would give it for PAYLOAD\n"
            "published on --topic, and print the points it would store, its console lines and\n"
            "what insert_bucket would refuse. Nothing is stored or sent. --file runs a parser\n"
            "file instead of the attached one (try it before `devices set --parser`).\n"
            "Exit 0 when the parser succeeds, 1 when it fails."
        ),
        examples="""
  mqtt-actions devices parser test sensor-03 --payload 0109611395
  mqtt-actions devices parser test sensor-03 --payload '{"temp": 21.5}' --topic site/k/telemetry
  mqtt-actions devices parser test sensor-03 --payload 0109611395 --file parsers/th-01.js --json""",
    )
    testing.add_argument("name", metavar="NAME", help="the device")
    testing.add_argument("--payload", required=True, help="the MQTT payload, as text")
    testing.add_argument("--topic", help="the topic it arrives on (default NAME/data)")
    testing.add_argument("--file", type=Path, metavar="FILE", help="a parser file to run instead")
    testing.set_defaults(func=run_parser_test)

    importing = add_command(
        sub,
        "import-tagoio",
        summary="payload parsers, tags and parameters from a TagoIO device export",
        description=(
            "Read a TagoIO device export (JSON: a list of device objects as the TagoIO API's\n"
            "device info gives them, one object, or {status, result}) and give each registered\n"
            "device of the same name its payload parser (`parse_function`, TagoIO's field for\n"
            "the device's own JavaScript parser; `payload_decoder` when that is absent), tags\n"
            "and configuration parameters. Create the devices first (`devices create NAME\n"
            "--token` or `devices import-tokens`). Each device is reported: imported, skipped\n"
            "(nothing to import) or refused and why (a parser that does not compile, an\n"
            "unknown device). Exit 0 when the file was read, 2 when it could not be."
        ),
        examples="""
  mqtt-actions devices import-tagoio tagoio-devices.json --dry-run
  mqtt-actions devices import-tagoio tagoio-devices.json --stack mqtt-actions-dev --json""",
    )
    importing.add_argument("file", metavar="FILE", type=Path, help="the TagoIO device export")
    importing.add_argument("--dry-run", action="store_true", help="report only; store nothing")
    importing.set_defaults(func=run_import_tagoio)


def run_import_tagoio(args: argparse.Namespace) -> int:
    try:
        document = json.loads(args.file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{args.file}: cannot read it as JSON ({exc})") from None
    found = parsers.tagoio_devices(document)
    target: Target = args.get_target()
    report = parsers.import_tagoio(target, found, now_ms=_now_ms(), dry_run=args.dry_run)

    def render() -> str:
        rows = [
            [r.device, r.status, r.parser or "—", str(r.tags), str(r.params), r.why or ""]
            for r in report
        ]
        return table(["DEVICE", "STATUS", "PARSER", "TAGS", "PARAMS", "WHY"], rows)

    emit(args, {"dry_run": args.dry_run, "devices": [r.model_dump() for r in report]}, render)
    return EXIT_OK


def run_parser_test(args: argparse.Namespace) -> int:
    target: Target = args.get_target()
    result = parsers.dry_run(target, args.name, args.payload, topic=args.topic, file=args.file)

    def render() -> str:
        lines = [f"device {result.device}: parser {result.parser}, topic {result.topic}"]
        lines += [f"  console  {line}" for line in result.logs]
        if result.error is not None:
            lines.append(f"  FAILED ({result.error_kind}): {result.error}")
            lines.append("  nothing would be stored; the router dead-letters such a message")
            return "\n".join(lines)
        lines.append(f"  {len(result.points)} point(s) would be stored:")
        lines += [f"    {json.dumps(point, ensure_ascii=False)}" for point in result.points]
        for refusal in result.refused:
            lines.append(f"  point {refusal['index']} refused: {'; '.join(refusal['reasons'])}")
        return "\n".join(lines)

    emit(args, result.model_dump(mode="json"), render)
    return EXIT_OK if result.error is None else EXIT_FAILED


def _render_profile(profile: DeviceProfile) -> str:
    lines = [f"device {profile.device!r} ({profile.kind})"]
    lines.append("  tags    " + (_pairs_text(profile.tags_list()) or "none"))
    if not profile.params:
        lines.append("  params  none")
    for param in profile.params:
        sent = "sent" if param.sent else "not sent"
        lines.append(f"  param   {param.key}={param.value}  ({sent}, id {param.id})")
    extra = dict(profile.extra)
    if PARSER in extra:
        source = extra.pop(PARSER)
        language = extra.pop(PARSER_LANGUAGE, "javascript")
        name = extra.pop(PARSER_NAME, "parser")
        lines.append(f"  parser  {name} ({language}, {len(source):,} characters)")
    for name, value in sorted(extra.items()):
        lines.append(f"  {name}  {len(value)} characters")
    return "\n".join(lines)


def run_set(args: argparse.Namespace) -> int:
    if (args.name is None) == (args.tagged is None):
        raise UsageError(
            "devices set: give the device NAME or --tagged KEY=VALUE (one of them)",
            hint="e.g. mqtt-actions devices set sensor-03 --tag site=lisbon",
        )
    update = profile_update(args)
    target: Target = args.get_target()
    if args.tagged is None:
        profile = device_profiles.set_profile(target, args.name, update, now_ms=_now_ms())
        emit(args, profile.as_dict(), lambda: _render_profile(profile))
        return EXIT_OK
    changed = [
        device_profiles.set_profile(target, p.device, update, now_ms=_now_ms())
        for p in parsers.tagged(target, args.tagged)
    ]
    emit(
        args,
        {"tagged": args.tagged, "devices": [p.as_dict() for p in changed]},
        lambda: "\n".join(_render_profile(p) for p in changed),
    )
    return EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    target: Target = args.get_target()
    profile = device_profiles.show(target, args.name)
    emit(args, profile.as_dict(), lambda: _render_profile(profile))
    return EXIT_OK
