"""Payload parsers: a device's own code that turns the points of a message into the points stored.

TagoIO attaches a *payload parser* to a device: JavaScript that runs before anything is stored,
with the globals `payload` (the data points about to be stored), `device` (its tags and
configuration parameters), `raw_payload`, Node's `Buffer` and `console`; "only the result of
your payload parser is what will be stored", synchronously, with no network, within 2 s (TagoIO's
"In-depth guide to Payload Parser" and "Payload Parser - Context & global variables").

Here a parser is JavaScript run unchanged in V8 (`javascript.py`, PyPI `mini-racer`, with the npm
`buffer` package as `Buffer`) or Python, `def parse(payload, device)` returning the points
(`python.py`, in a worker process). Each engine is imported only when a parser of its language
runs: a router with no parser never loads V8.

Failures are ParserError with a `kind` (threw, timeout, memory, invalid, garbage) and the
parser's console lines up to the failure; the router stores nothing for that message.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

__all__ = [
    "DEFAULT_MEMORY_MB",
    "DEFAULT_TIMEOUT_SECONDS",
    "LANGUAGES",
    "MAX_SOURCE_BYTES",
    "DeviceParser",
    "Parser",
    "ParserError",
    "ParserLimits",
    "ParserLookup",
    "ParserRun",
    "check_compiles",
    "check_points",
    "device_context",
    "language_of",
    "run_parser",
]

Language = Literal["javascript", "python"]
LANGUAGES: Final[Mapping[str, Language]] = {".js": "javascript", ".py": "python"}
DEFAULT_TIMEOUT_SECONDS: Final = 2.0  # TagoIO: "Code must complete within 2 seconds"
DEFAULT_MEMORY_MB: Final = 32  # heap of one parser (TagoIO publishes no figure)
# TagoIO's parser editor takes up to 100 kB of code ("Payload Parser": code size limit 100kb);
# it also keeps a device's registry item far under DynamoDB's 400 KB.
MAX_SOURCE_BYTES: Final = 100_000
MAX_POINTS: Final = 10_000  # points one parser run may return


class ParserError(Exception):
    """A parser run that stores nothing: `kind` says how it failed, `logs` what it printed."""

    def __init__(self, kind: str, message: str, logs: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.logs = list(logs)


@dataclass(frozen=True)
class Parser:
    """A parser's code: `name` is the file it came from (shown in the inspector)."""

    language: Language
    source: str
    name: str = "parser"

    @property
    def digest(self) -> str:
        """Identifies the code (the engines keep one compiled parser per digest)."""
        return hashlib.sha256(f"{self.language}\0{self.source}".encode()).hexdigest()

    def label(self) -> str:
        return f"{self.name} ({self.language})"


@dataclass(frozen=True)
class ParserLimits:
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB


DEFAULT_LIMITS: Final = ParserLimits()


@dataclass(frozen=True)
class ParserRun:
    """A parser's result: the points to store (already checked to be data points) and its
    console lines."""

    points: list[dict[str, Any]]
    logs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeviceParser:
    """A device's parser with the `device` object the parser sees."""

    parser: Parser
    device: Mapping[str, Any]


class ParserLookup(Protocol):
    """The parser of a device, or None (the router's port to the device registry)."""

    def for_device(self, device: str) -> DeviceParser | None: ...


def language_of(filename: str) -> Language:
    """The language of a parser file by its extension; ValueError names the choices."""
    for suffix, language in LANGUAGES.items():
        if filename.lower().endswith(suffix):
            return language
    msg = f"--parser {filename}: a parser is a .js (JavaScript, as on TagoIO) or .py file"
    raise ValueError(msg)


def check_source(source: str, name: str) -> None:
    """A parser's code fits the limits; ValueError names the file and the limit."""
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        msg = f"parser {name} is {size:,} bytes; at most {MAX_SOURCE_BYTES:,} (TagoIO's 100 kB)"
        raise ValueError(msg)
    if "\0" in source:
        raise ValueError(f"parser {name} holds a NUL character: is it a text file?")


def device_context(
    device: str,
    tags: Sequence[tuple[str, str]] = (),
    params: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The `device` global: TagoIO's device fields a parser reads (`id`, `name`, `tags` as
    `[{key, value}]`, configuration parameters as `params` and `configuration_params`)."""
    plist = [dict(p) for p in params]
    return {
        "id": device,
        "name": device,
        "tags": [{"key": k, "value": v} for k, v in tags],
        "params": plist,
        "configuration_params": plist,
    }


def _kind(value: object) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "true/false"
        case int() | float():
            return "a number"
        case str():
            return "text"
        case dict():
            return "an object"
        case list():
            return "a list"
        case _:
            return type(value).__name__


def check_points(value: object, logs: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The parser's result as data points, or ParserError("garbage") saying what is wrong.

    TagoIO's rule: `payload` must be an array of data when the code ends. A single object is
    taken as one point (TagoIO accepts an object where it accepts an array of them); each point
    needs a text `variable`. Field limits are `insert_bucket`'s to check, as for any point."""
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        msg = f"the parser's result is {_kind(value)}; it must be a list of data points"
        raise ParserError("garbage", msg, logs)
    if len(value) > MAX_POINTS:
        msg = f"the parser returned {len(value):,} points; at most {MAX_POINTS:,} per message"
        raise ParserError("garbage", msg, logs)
    for index, point in enumerate(value):
        if not isinstance(point, dict):
            msg = f"point {index} is {_kind(point)}; a data point is an object with a variable"
            raise ParserError("garbage", msg, logs)
        variable = point.get("variable")
        if not isinstance(variable, str) or not variable:
            msg = f"point {index} has no variable (text); got {_kind(variable)}"
            raise ParserError("garbage", msg, logs)
        number = point.get("value")
        if isinstance(number, float) and not math.isfinite(number):
            msg = f"point {index} ({variable}) has value {number}; NaN and Infinity are not data"
            raise ParserError("garbage", msg, logs)
    return value


def check_compiles(parser: Parser, limits: ParserLimits = DEFAULT_LIMITS) -> None:
    """ParserError("invalid") when the code does not compile (it is not run): JavaScript in V8,
    Python with `compile()`. For `devices set --parser`, so a broken file is refused there."""
    if parser.language == "javascript":
        from mqtt_actions.parsers.javascript import engine

        engine().compile(parser, limits)
        return
    try:
        compile(parser.source, parser.name, "exec")
    except SyntaxError as exc:
        msg = f"the parser does not compile: SyntaxError: {exc.msg} (line {exc.lineno})"
        raise ParserError("invalid", msg) from None
    except ValueError as exc:  # NUL bytes
        raise ParserError("invalid", f"the parser does not compile: {exc}") from None


def run_parser(
    parser: Parser,
    points: list[dict[str, Any]],
    device: Mapping[str, Any],
    limits: ParserLimits = DEFAULT_LIMITS,
) -> ParserRun:
    """Run `parser` on `points`; its checked result, or ParserError. The engine of the
    parser's language is imported here, on first use."""
    if parser.language == "javascript":
        from mqtt_actions.parsers.javascript import run_javascript

        return run_javascript(parser, points, device, limits)
    from mqtt_actions.parsers.python import run_python

    return run_python(parser, points, device, limits)
