"""Devices' payload parsers: read a parser file, find the devices of a tag, and the dry run
(`devices parser test NAME --payload TEXT`): the device's parser, read from the target's device
registry (local or a deployed stack), run here with the router's default limits on the points the
router would give it; nothing is stored or sent. Attaching a parser is a device setting
(`devices set NAME --parser FILE`, ops.device_profiles)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from mqtt_actions.device_profiles import DeviceProfile
from mqtt_actions.parsers import (
    DeviceParser,
    Parser,
    ParserError,
    check_compiles,
    check_source,
    device_context,
    language_of,
    run_parser,
)
from mqtt_actions.parsers.registry import parser_of, parser_settings
from mqtt_actions.payload import check_rows, wrap_payload
from mqtt_actions_cli.ops import device_profiles
from mqtt_actions_cli.ops.errors import UsageError
from mqtt_actions_cli.target import Target


def read_parser(path: Path, *, option: str = "--parser") -> Parser:
    """The parser in file `path` (.js or .py), checked to compile; UsageError says what is wrong."""
    try:
        language = language_of(path.name)
    except ValueError as exc:
        raise UsageError(str(exc), hint="name the file parser.js or parser.py") from None
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{option} {path}: not UTF-8 text") from None
    return parser_from_source(source, path.name, language, option=option)


def parser_from_source(source: str, name: str, language: str, *, option: str) -> Parser:
    parser = Parser("python" if language == "python" else "javascript", source, name)
    try:
        check_source(source, name)
        check_compiles(parser)
    except ValueError as exc:
        raise UsageError(f"{option} {name}: {exc}") from None
    except ParserError as exc:
        hint = "fix it and run the command again; `devices parser test` runs it on a payload"
        raise UsageError(f"{option} {name}: {exc.message}", hint=hint) from None
    return parser


def tagged(target: Target, selector: str) -> list[DeviceProfile]:
    """The registered devices with tag KEY=VALUE (`--tagged`); UsageError when there is none."""
    key, sep, value = selector.partition("=")
    if not sep or not key:
        raise UsageError(f"--tagged {selector!r}: write KEY=VALUE (e.g. --tagged type=th-01)")
    found = [p for p in device_profiles.all_profiles(target).values() if p.tag(key) == value]
    if not found:
        raise UsageError(
            f"--tagged {selector}: no device in {target.describe()} has that tag",
            hint="tag devices with `mqtt-actions devices set NAME --tag KEY=VALUE`",
        )
    return found


class ParserTest(BaseModel):
    """What a device's parser made of one payload: the points the router would store."""

    device: str
    parser: str
    topic: str
    given: list[dict[str, Any]]
    points: list[dict[str, Any]]
    logs: list[str]
    refused: list[dict[str, Any]]
    error: str | None = None
    error_kind: str | None = None


def dry_run(
    target: Target,
    device: str,
    payload: str,
    *,
    topic: str | None = None,
    file: Path | None = None,
) -> ParserTest:
    """`devices parser test`: the device's parser (or `file`) on `payload`, nothing stored."""
    profile = device_profiles.show(target, device)
    found = parser_of(profile)
    if file is not None:
        context = found.device if found is not None else _device(profile)
        found = DeviceParser(read_parser(file, option="--file"), context)
    if found is None:
        raise UsageError(
            f"device {device!r} has no payload parser in {target.describe()}",
            hint=f"attach one: mqtt-actions devices set {device} --parser parser.js "
            "(or try a file first with --file parser.js)",
        )
    used_topic = topic or f"{device}/data"
    given = wrap_payload(payload.encode("utf-8"), used_topic)
    label = found.parser.label()
    try:
        run = run_parser(found.parser, [dict(p) for p in given], found.device)
    except ParserError as exc:
        return ParserTest(
            device=device,
            parser=label,
            topic=used_topic,
            given=given,
            points=[],
            logs=exc.logs,
            refused=[],
            error=exc.message,
            error_kind=exc.kind,
        )
    _, refused = check_rows(run.points)
    return ParserTest(
        device=device,
        parser=label,
        topic=used_topic,
        given=given,
        points=run.points,
        logs=run.logs,
        refused=[{"index": i, "reasons": reasons} for i, reasons in refused],
    )


def _device(profile: DeviceProfile) -> dict[str, Any]:
    return device_context(profile.device, profile.tags, profile.params_list())


# ------------------------------------------------------------- a TagoIO device export


class DeviceImport(BaseModel):
    """One device of a TagoIO export: what `devices import-tagoio` did with it."""

    device: str
    status: str  # imported | would_import | skipped | refused
    parser: str | None = None
    tags: int = 0
    params: int = 0
    why: str | None = None


def tagoio_devices(document: Any) -> list[dict[str, Any]]:
    """The device objects of a TagoIO export: a list, one device, or the API's `{status,
    result}`; UsageError when it holds none."""
    if isinstance(document, dict) and isinstance(document.get("result"), list | dict):
        document = document["result"]
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list) or not all(isinstance(d, dict) for d in document):
        raise UsageError(
            "not a TagoIO device export: expected a list of device objects (each with a name)",
            hint="export with the TagoIO API or SDK: account.devices.info(id) per device",
        )
    return document


def _tagoio_parser(device: Mapping[str, Any]) -> str | None:
    """The device's own parser code: `parse_function` (the SDK's DeviceInfo field, "Javascript
    code for use as payload parser"), else `payload_decoder` (base64 text or plain code)."""
    code = device.get("parse_function")
    if isinstance(code, str) and code.strip():
        return code
    code = device.get("payload_decoder")
    if not isinstance(code, str) or not code.strip():
        return None
    try:
        return base64.b64decode(code, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return code


def import_tagoio(
    target: Target, devices: list[dict[str, Any]], *, now_ms: int, dry_run: bool
) -> list[DeviceImport]:
    """Parsers, tags and configuration parameters of TagoIO devices onto the registered devices
    of the same name; each device reported, none half-done."""
    report: list[DeviceImport] = []
    for item in devices:
        name = item.get("name")
        if not isinstance(name, str) or not name:
            report.append(DeviceImport(device="?", status="refused", why="the object has no name"))
            continue
        tags = [
            f"{t.get('key')}={t.get('value', '')}"
            for t in item.get("tags") or []
            if isinstance(t, dict) and t.get("key")
        ]
        params = [
            f"{p.get('key')}={p.get('value', '')}"
            for p in item.get("configuration_params") or item.get("params") or []
            if isinstance(p, dict) and p.get("key")
        ]
        code = _tagoio_parser(item)
        extra: dict[str, str | None] = {}
        label = None
        try:
            if code is not None:
                parser = parser_from_source(code, f"{name}.js", "javascript", option=name)
                extra = dict(parser_settings(parser))
                label = parser.name
            update = device_profiles.make_update(tags=tags, params=params, extra=extra)
            if update.is_empty():
                why = "no parser, tags or parameters in the export"
                report.append(DeviceImport(device=name, status="skipped", why=why))
                continue
            if not dry_run:
                device_profiles.set_profile(target, name, update, now_ms=now_ms)
        except UsageError as exc:
            report.append(DeviceImport(device=name, status="refused", why=str(exc)))
            continue
        report.append(
            DeviceImport(
                device=name,
                status="would_import" if dry_run else "imported",
                parser=label,
                tags=len(tags),
                params=len(params),
            )
        )
    return report


# ------------------------------------------------------------- the console's device page


class ParserFailureEntry(BaseModel):
    time: int
    topic: str | None
    reason: str | None
    logs: list[str]


class ParserStatus(BaseModel):
    """A device's parser (None: it has none) and its latest failures from the inspector."""

    device: str
    parser: str | None = None
    source: str | None = None
    failures: list[ParserFailureEntry] = []


PARSER_STEP = "payload_parser"  # the router's outcome id for the parser (router.PARSER_STEP)


def status(target: Target, device: str, *, since_ms: int, limit: int = 5) -> ParserStatus:
    """For the console: the device's parser, and its last `limit` failures since `since_ms`."""
    from mqtt_actions_cli.ops import inspector
    from mqtt_actions_cli.ops.errors import NotFoundError

    try:
        found = parser_of(device_profiles.show(target, device))
    except NotFoundError:  # a device that publishes without being registered: no parser
        found = None
    entries = inspector.query(target, device=device, types=["action"], since_ms=since_ms, limit=500)
    failures = [
        ParserFailureEntry(
            time=e.time,
            topic=e.details.get("topic"),
            reason=e.details.get("reason"),
            logs=[str(line) for line in (e.details.get("detail") or {}).get("logs", [])],
        )
        for e in entries
        if e.details.get("action_id") == PARSER_STEP and e.details.get("outcome") == "failed"
    ]
    return ParserStatus(
        device=device,
        parser=found.parser.label() if found else None,
        source=found.parser.source if found else None,
        failures=list(reversed(failures))[:limit],
    )
