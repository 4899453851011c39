"""Devices' payload parsers: read a parser file, find the devices of a tag, and the dry run
(`devices parser test NAME --payload TEXT`): the device's parser, read from the target's device
registry (local or a deployed stack), run here with the router's default limits on the points the
router would give it; nothing is stored or sent. Attaching a parser is a device setting
(`devices set NAME --parser FILE`, ops.device_profiles)."""

from __future__ import annotations

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
from mqtt_actions.parsers.registry import parser_of
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
