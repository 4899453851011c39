"""`$VALUE$`-style placeholders in action templates: SMS text, e-mail, MQTT topic and payload.

One pass, one regex, one dict lookup: an inserted value is never scanned again, so a value that
holds `$TOPIC$` stays as written, and nothing is ever evaluated. Unknown placeholders stay as
written. A value holding a lone surrogate (the JSON escape "\\ud800") shows U+FFFD instead:
values go to people and to receivers that need UTF-8 (SNS, SES, HTTP).
"""

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from mqtt_actions.text import without_surrogates
from mqtt_actions.topics import InvalidTopicError, validate_topic

__all__ = [
    "PLACEHOLDERS",
    "TemplateContext",
    "TemplateError",
    "build_values",
    "render",
    "render_header",
    "render_topic",
    "value_text",
]

PLACEHOLDERS: Final = (
    "VARIABLE",
    "VALUE",
    "UNIT",
    "TIME",
    "LOCATION",
    "GROUP",
    "DEVICE",
    "TOPIC",
    "PAYLOAD",
    "ACTION",
    "TIMESTAMP",
)

# The closing '$' is looked ahead, not consumed, so that after an unknown name (`$5 $X$VALUE$`)
# the same '$' can open the next placeholder; a known one consumes it (`$VALUE$$UNIT$`).
_PLACEHOLDER: Final = re.compile(r"\$([A-Z_]+)(?=\$)")
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class TemplateError(ValueError):
    """A template that rendered to something the action cannot use (e.g. a topic with '+')."""


@dataclass(frozen=True, slots=True)
class TemplateContext:
    """What one action run knows about the message that triggered it."""

    points: Sequence[Mapping[str, object]]
    device: str
    topic: str
    payload_text: str  # the payload as text; base64 text when it is not UTF-8
    action_id: str
    timestamp_ms: int


def value_text(value: object) -> str:
    """A data point field as text: None -> "", text as is, anything else as JSON (30.5, true)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return str(value)


def _location_text(location: object) -> str:
    """TagoIO `{"lat", "lng"}` or GeoJSON `{"type": "Point", "coordinates": [lng, lat]}`."""
    if not isinstance(location, Mapping):
        return value_text(location)
    if "lat" in location and "lng" in location:
        return f"{value_text(location['lat'])},{value_text(location['lng'])}"
    coordinates = location.get("coordinates")
    if (
        isinstance(coordinates, Sequence)
        and not isinstance(coordinates, str)
        and len(coordinates) >= 2
    ):
        return f"{value_text(coordinates[1])},{value_text(coordinates[0])}"
    return value_text(location)


def _iso_utc(timestamp_ms: int) -> str:
    try:
        moment = _EPOCH + timedelta(milliseconds=timestamp_ms)
    except OverflowError:  # beyond year 1..9999: show the number rather than fail the action
        return str(timestamp_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_values(ctx: TemplateContext) -> dict[str, str]:
    """Every placeholder's text for this run; data point fields come from the first point."""
    first: Mapping[str, object] = ctx.points[0] if ctx.points else {}
    values = {
        "VARIABLE": value_text(first.get("variable")),
        "VALUE": value_text(first.get("value")),
        "UNIT": value_text(first.get("unit")),
        "TIME": value_text(first.get("time")),
        "LOCATION": _location_text(first.get("location")),
        "GROUP": value_text(first.get("group")),
        "DEVICE": ctx.device,
        "TOPIC": ctx.topic,
        "PAYLOAD": ctx.payload_text,
        "ACTION": ctx.action_id,
        "TIMESTAMP": _iso_utc(ctx.timestamp_ms),
    }
    return {k: without_surrogates(v) for k, v in values.items()}


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace each `$NAME$` found in `values`; leave unknown ones as written. Never raises."""
    out: list[str] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(template):
        start = match.start()
        if start < pos:  # this '$' closed the placeholder just replaced
            continue
        value = values.get(match[1])
        if value is not None:
            out.append(template[pos:start])
            out.append(value)
            pos = match.end() + 1  # past the closing '$'
    out.append(template[pos:])
    return "".join(out)


def render_header(template: str, values: Mapping[str, str]) -> str:
    """`render`, then each run of control characters (CR, LF, NUL, ...) becomes one space.

    For e-mail subjects and HTTP header values: an inserted value cannot start a new header.
    """
    return _CONTROL.sub(" ", render(template, values))


class _OneLevel(Mapping[str, str]):
    """The values, each checked when `render` inserts it: one topic level, no more."""

    def __init__(self, template: str, values: Mapping[str, str]) -> None:
        self._template, self._values = template, values

    def __getitem__(self, name: str) -> str:
        value = self._values[name]
        bad = next((c for c in _NOT_IN_A_LEVEL if c in value), None)
        if bad is not None or not value:
            what = f"holds {bad!r}" if bad is not None else "is empty"
            raise TemplateError(
                f"topic template {self._template!r}: ${name}$ {what} ({value[:80]!r}), and a "
                "placeholder fills exactly one topic level (no / + # $, not empty), so a device "
                "cannot steer the message to another topic"
            )
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


# '/' would add levels, '+' and '#' are wildcards, '$' would start a reserved topic ($aws/...).
_NOT_IN_A_LEVEL: Final = ("/", "+", "#", "$")


def render_topic(template: str, values: Mapping[str, str]) -> str:
    """`render` where each placeholder fills one level (issue #23: a value holding '/' sent a
    message to another device's command topic), refusing a result that is not a topic name."""
    topic = render(template, _OneLevel(template, values))
    try:
        validate_topic(topic)
    except InvalidTopicError as exc:
        raise TemplateError(
            f"topic template {template!r} rendered to {topic[:200]!r}, which is not a topic "
            f"name: {exc}"
        ) from None
    return topic
