"""TagoIO data points: the payload wrapping rule and the limits a point must keep.

`wrap_payload` turns the bytes of one MQTT message into data points the way TagoIO's broker did.
It runs on every message, so it is plain `json` with no pydantic; it never raises for any bytes.

- A JSON object becomes `[obj]`; a JSON array of objects becomes those objects; `[]` becomes `[]`.
  Each object gets `metadata.topic = topic` and `metadata.mqtt_topic = topic` (the key TagoIO's
  broker and its payload parser examples use, so a parser that looks for it finds it): added to
  an existing `metadata` object (a `topic` or `mqtt_topic` the device sent there is
  overwritten); `metadata: null` counts as absent; any other non-object `metadata` is kept whole
  as `metadata.value`.
- Anything else (not UTF-8, not JSON, a JSON scalar, an array holding anything but objects, empty)
  becomes one point `{"variable": "payload", "value": <the payload text, as sent>, "metadata":
  {"topic": topic, "mqtt_topic": topic}}`. Bytes that are not UTF-8 are kept as base64 text with
  `metadata.encoding = "base64"`. The text is the payload itself, so it always round-trips.
- JSON is read as RFC 8259 has it: `NaN`, `Infinity`, `-Infinity` and numbers too large for a
  float (`1e400`) are not JSON, so such a payload is raw text (DynamoDB cannot store them either).
  A leading UTF-8 byte order mark is ignored while parsing (RFC 8259 §8.1 allows it); if the
  payload then falls back to raw text the mark stays in the value. Nesting deeper than Python's
  recursion limit and integers over 4,300 digits (Python's conversion limit) are raw text.
  Duplicate keys: the last one wins, as in `json`. A lone surrogate escape (`"\\ud800"`) is kept
  as parsed; `insert_bucket` refuses such a point (UTF-8, hence DynamoDB, cannot hold it).
- Numbers stay Python `int`/`float`. DynamoDB takes no `float`: the bucket adapter converts
  (`Decimal(str(x))`); this module does not.

`DataPoint` holds TagoIO's fields and limits; `refusal_reasons` and `check_points` say, per point,
why `insert_bucket` would refuse it, naming the field, the limit and the actual size.
`check_rows` (the router's hot path) gives the accepted points as the rows DataPoint would dump,
checking plain points with the same rule functions and no model; refusals come from DataPoint.
Unknown fields are refused, not ignored as TagoIO does, so a typo (`"unti"`) is never silently
dropped. Variable names are any text of 1 to 100 characters, kept as sent (no lowercasing).
"""

import base64
import json
import math
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    FiniteFloat,
    Tag,
    ValidationError,
)

from mqtt_actions.text import surrogate_problem

__all__ = [
    "MAX_METADATA_BYTES",
    "MAX_METADATA_DEPTH",
    "MAX_UNIT_CHARS",
    "MAX_VALUE_BYTES",
    "MAX_VARIABLE_CHARS",
    "RAW_VARIABLE",
    "DataPoint",
    "GeoJSONPoint",
    "LatLng",
    "check_points",
    "check_rows",
    "refusal_reasons",
    "wrap_payload",
]

RAW_VARIABLE: Final = "payload"
MAX_VARIABLE_CHARS: Final = 100
MAX_VALUE_BYTES: Final = 6_144  # 6 kB, UTF-8 bytes of the value as text
MAX_UNIT_CHARS: Final = 25
MAX_METADATA_BYTES: Final = 10_240  # 10 kB, UTF-8 bytes of the metadata as compact JSON
MAX_METADATA_DEPTH: Final = 32  # levels of objects and lists (pydantic serializes up to ~250)
_UTF8_BOM: Final = "\ufeff"
_SMALL_INT: Final = 10**18


# --- wrapping (hot path: no pydantic) ---------------------------------------------------------


def _reject_constant(name: str) -> float:
    # json calls this for NaN, Infinity and -Infinity, which RFC 8259 does not allow.
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):  # "1e400": valid JSON syntax, but no float holds it
        raise ValueError(f"{text[:20]} is out of range")
    return number


# Built once: json.loads with keyword arguments builds a new decoder on every call.
_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _parse_json(text: str) -> Any:
    """The JSON value in `text`, or None when it is not strict JSON we can hold."""
    try:
        return _DECODER.decode(text.removeprefix(_UTF8_BOM))
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return None


def _with_topic(point: dict[str, Any], topic: str) -> dict[str, Any]:
    metadata = point.get("metadata")
    if isinstance(metadata, dict):
        metadata["topic"] = topic
        metadata["mqtt_topic"] = topic
    elif metadata is None:
        point["metadata"] = {"topic": topic, "mqtt_topic": topic}
    else:  # a string, number or list the device sent: kept whole, never dropped
        point["metadata"] = {"value": metadata, "topic": topic, "mqtt_topic": topic}
    return point


def wrap_payload(payload: bytes | bytearray | memoryview, topic: str) -> list[dict[str, Any]]:
    """The data points of one MQTT message, by TagoIO's rule (see the module docstring)."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise TypeError(f"payload must be bytes, not {type(payload).__name__}")
    raw = bytes(payload)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return [
            {
                "variable": RAW_VARIABLE,
                "value": base64.b64encode(raw).decode("ascii"),
                "metadata": {"topic": topic, "mqtt_topic": topic, "encoding": "base64"},
            }
        ]
    parsed = _parse_json(text) if text else None
    if isinstance(parsed, dict):
        return [_with_topic(parsed, topic)]
    if isinstance(parsed, list) and all(isinstance(item, dict) for item in parsed):
        return [_with_topic(item, topic) for item in parsed]
    return [
        {"variable": RAW_VARIABLE, "value": text, "metadata": {"topic": topic, "mqtt_topic": topic}}
    ]


# --- data points and their limits ---------------------------------------------------------------


def _kind(value: object) -> str:
    """How a JSON reader would name the type of `value`, for messages."""
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
        case list() | tuple():
            return "a list"
        case _:
            return type(value).__name__


def _utf8_len(text: str) -> int:
    # surrogatepass: a lone surrogate ("\ud800" in JSON) is measured, not a crash.
    return len(text.encode("utf-8", "surrogatepass"))


def _unicode(field: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        if (problem := surrogate_problem(text)) is not None:
            raise ValueError(f"{field} {problem}; it cannot be stored")
        return text

    return check


def _check_variable(name: str) -> str:
    if not name:
        raise ValueError(f"variable is empty; it needs 1 to {MAX_VARIABLE_CHARS} characters")
    if len(name) > MAX_VARIABLE_CHARS:
        raise ValueError(f"variable is {len(name):,} characters; the limit is {MAX_VARIABLE_CHARS}")
    return name


def _check_value_type(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"value is {value}; NaN and Infinity cannot be stored")
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return value
    raise ValueError(f"value must be text, a number, true/false or null; got {_kind(value)}")


def _check_value_size(value: str | int | float | bool | None) -> str | int | float | bool | None:
    if isinstance(value, str):
        _unicode("value")(value)
    elif value is None or isinstance(value, float) or -_SMALL_INT < value < _SMALL_INT:
        return value  # at most 25 characters as JSON: no need to write it out
    try:
        size = _utf8_len(value) if isinstance(value, str) else len(json.dumps(value))
    except ValueError:  # an int past Python's 4,300-digit conversion limit
        raise ValueError(
            f"value is a number over 4,300 digits; the limit is {MAX_VALUE_BYTES:,} bytes (6 kB)"
        ) from None
    if size > MAX_VALUE_BYTES:
        raise ValueError(f"value is {size:,} bytes; the limit is {MAX_VALUE_BYTES:,} (6 kB)")
    return value


def _check_unit(unit: str) -> str:
    if len(unit) > MAX_UNIT_CHARS:
        raise ValueError(f"unit is {len(unit):,} characters; the limit is {MAX_UNIT_CHARS}")
    return unit


def _check_time(time: str) -> str:
    try:
        datetime.fromisoformat(time)
    except ValueError:
        shown = time if len(time) <= 40 else time[:40] + "…"
        raise ValueError(
            f"time {shown!r} is not ISO 8601; write e.g. 2024-05-01T12:00:00Z"
        ) from None
    return time


def _deeper_than(value: dict[str, Any], limit: int) -> bool:
    """Whether objects and lists nest more than `limit` levels in `value` (no recursion)."""
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                if depth == limit:
                    return True
                stack.append((child, depth + 1))
    return False


# Built once: json.dumps with keyword arguments builds a new encoder on every call.
_METADATA_JSON: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _check_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    try:
        encoded = _METADATA_JSON.encode(metadata)
    except (TypeError, ValueError):
        raise ValueError(
            "metadata cannot be written as JSON: it holds NaN, Infinity or a non-JSON value"
        ) from None
    except RecursionError:
        raise ValueError("metadata is nested too deeply to be written as JSON") from None
    _unicode("metadata")(encoded)
    size = _utf8_len(encoded)
    if size > MAX_METADATA_BYTES:
        raise ValueError(
            f"metadata is {size:,} bytes as JSON; the limit is {MAX_METADATA_BYTES:,} (10 kB)"
        )
    if _deeper_than(metadata, MAX_METADATA_DEPTH):
        raise ValueError(f"metadata is nested more than {MAX_METADATA_DEPTH} levels deep")
    return metadata


Variable = Annotated[str, AfterValidator(_unicode("variable")), AfterValidator(_check_variable)]
Value = Annotated[
    str | int | float | bool | None,
    BeforeValidator(_check_value_type),
    AfterValidator(_check_value_size),
]
Unit = Annotated[str, AfterValidator(_unicode("unit")), AfterValidator(_check_unit)]
Time = Annotated[str, AfterValidator(_unicode("time")), AfterValidator(_check_time)]
Group = Annotated[str, AfterValidator(_unicode("group"))]
Metadata = Annotated[dict[str, Any], AfterValidator(_check_metadata)]


# defer_build: validators are built on first use, not at import; the router checks plain points
# without them (check_rows) and builds them only for a point it cannot judge so.
_CONFIG: Final = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


def _check_latitude(lat: float, where: str = "location.lat") -> float:
    if not -90 <= lat <= 90:
        raise ValueError(f"{where} is {lat:g}; it must be between -90 and 90")
    return lat


def _check_longitude(lng: float, where: str = "location.lng") -> float:
    if not -180 <= lng <= 180:
        raise ValueError(f"{where} is {lng:g}; it must be between -180 and 180")
    return lng


def _check_position(position: list[float]) -> list[float]:
    if len(position) not in {2, 3}:
        raise ValueError(
            f"location.coordinates has {len(position)} numbers; "
            "a GeoJSON position is [lng, lat] or [lng, lat, altitude]"
        )
    _check_longitude(position[0], "location.coordinates longitude")
    _check_latitude(position[1], "location.coordinates latitude")
    return position


_LATLNG_TAG: Final = "latlng"
_GEOJSON_TAG: Final = "geojson"


class LatLng(BaseModel):
    """TagoIO's own location shape: `{"lat": 42.29, "lng": -85.62}`."""

    model_config = _CONFIG

    lat: Annotated[FiniteFloat, AfterValidator(_check_latitude)]
    lng: Annotated[FiniteFloat, AfterValidator(_check_longitude)]


class GeoJSONPoint(BaseModel):
    """A GeoJSON Point (RFC 7946): `{"type": "Point", "coordinates": [lng, lat, alt?]}`."""

    model_config = _CONFIG

    type: Literal["Point"]
    coordinates: Annotated[list[FiniteFloat], AfterValidator(_check_position)]


def _location_shape(value: object) -> str:
    if isinstance(value, GeoJSONPoint) or (isinstance(value, dict) and "type" in value):
        return _GEOJSON_TAG
    return _LATLNG_TAG


Location = Annotated[
    Annotated[LatLng, Tag(_LATLNG_TAG)] | Annotated[GeoJSONPoint, Tag(_GEOJSON_TAG)],
    Discriminator(_location_shape),
]


class DataPoint(BaseModel):
    """One TagoIO data point as `insert_bucket` accepts it. Pure: validation only, no I/O."""

    model_config = _CONFIG

    variable: Variable
    value: Value = None
    unit: Unit | None = None
    time: Time | None = None
    group: Group | None = None
    location: Location | None = None
    metadata: Metadata | None = None


_FIELDS: Final = ", ".join(DataPoint.model_fields)
_TAGS: Final = frozenset({_LATLNG_TAG, _GEOJSON_TAG})


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc if part not in _TAGS) or "data point"


_EXPECTED: Final = {
    "string_type": "text",
    "dict_type": "an object",
    "list_type": "a list",
    "float_type": "a number",
    "finite_number": "a finite number",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


def _reason(error: Any) -> str:
    """One pydantic error as a sentence that names the field and what is wrong."""
    kind: str = error["type"]
    where = _where(error["loc"])
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "missing":
        return f"missing {where!r}"
    if kind == "extra_forbidden":
        return f"unknown field {where!r}; a data point has only {_FIELDS}"
    if kind in _EXPECTED:
        return f"{where} must be {_EXPECTED[kind]}; got {_kind(error['input'])}"
    if kind == "literal_error":
        return f"{where} must be {error['ctx']['expected']}; got {error['input']!r}"
    return f"{where}: {error['msg']}"


def _validate(point: object) -> DataPoint | list[str]:
    if not isinstance(point, dict):
        return [f"a data point must be an object; got {_kind(point)}"]
    try:
        return DataPoint.model_validate(point)
    except ValidationError as exc:
        return [_reason(error) for error in exc.errors(include_url=False)]


def refusal_reasons(point: dict[str, Any]) -> list[str]:
    """Why `insert_bucket` would refuse `point`, one sentence each; empty when it is accepted."""
    result = _validate(point)
    return result if isinstance(result, list) else []


def check_points(
    points: Iterable[dict[str, Any]],
) -> tuple[list[DataPoint], list[tuple[int, list[str]]]]:
    """The accepted points as models, and (index, reasons) for every refused one, in order."""
    accepted: list[DataPoint] = []
    refused: list[tuple[int, list[str]]] = []
    for index, point in enumerate(points):
        result = _validate(point)
        if isinstance(result, list):
            refused.append((index, result))
        else:
            accepted.append(result)
    return accepted, refused


# --- the router's path: rows without pydantic ---------------------------------------------------

# Fields a point may have on the plain path; a point with `location` (or anything else) goes to
# DataPoint. Values of these exact types are kept as they are by DataPoint's JSON dump.
_PLAIN_FIELDS: Final = frozenset({"variable", "value", "unit", "time", "group", "metadata"})
_PLAIN_VALUES: Final = frozenset({str, int, float, bool, type(None)})
_TEXT_FIELDS: Final = (
    ("unit", _unicode("unit"), _check_unit),
    ("time", _unicode("time"), _check_time),
    ("group", _unicode("group"), None),
)
_VARIABLE_TEXT: Final = _unicode("variable")


def _plain_row(point: dict[str, Any]) -> dict[str, Any] | None:
    """`point` as DataPoint's `model_dump(mode="json", exclude_none=True)` gives it, when the
    point plainly keeps every limit (checked by the same rule functions); None when it might
    not, so that DataPoint decides and words the reasons. Never accepts what DataPoint refuses."""
    if not point.keys() <= _PLAIN_FIELDS:
        return None
    variable = point.get("variable")
    value = point.get("value")
    if type(variable) is not str or type(value) not in _PLAIN_VALUES:
        return None
    try:
        _VARIABLE_TEXT(variable)
        _check_variable(variable)
        _check_value_type(value)
        _check_value_size(value)
        row: dict[str, Any] = {"variable": variable}
        if value is not None:
            row["value"] = value
        for name, unicode, check in _TEXT_FIELDS:
            text = point.get(name)
            if text is None:
                continue
            if type(text) is not str:
                return None
            unicode(text)
            if check is not None:
                check(text)
            row[name] = text
        metadata = point.get("metadata")
        if metadata is not None:
            # Flat metadata of plain values only: nested values are DataPoint's to copy.
            if type(metadata) is not dict or not all(
                type(key) is str and type(item) in _PLAIN_VALUES for key, item in metadata.items()
            ):
                return None
            row["metadata"] = dict(_check_metadata(metadata))
    except ValueError:
        return None
    return row


def check_rows(
    points: Iterable[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[tuple[int, list[str]]]]:
    """`check_points`, with the accepted points as JSON rows (what `insert_bucket` stores):
    plain points are checked without building a model; the others, and every refusal, by
    DataPoint, so the reasons are the same."""
    rows: list[dict[str, Any]] = []
    refused: list[tuple[int, list[str]]] = []
    for index, point in enumerate(points):
        row = _plain_row(point) if type(point) is dict else None
        if row is None:
            result = _validate(point)
            if isinstance(result, list):
                refused.append((index, result))
                continue
            row = result.model_dump(mode="json", exclude_none=True)
        rows.append(row)
    return rows, refused
