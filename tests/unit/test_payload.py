"""The TagoIO wrapping rule (`wrap_payload`) and the data point limits (`DataPoint`)."""

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mqtt_actions.payload import (
    MAX_METADATA_BYTES,
    MAX_VALUE_BYTES,
    DataPoint,
    check_points,
    refusal_reasons,
    wrap_payload,
)

TOPIC = "home/kitchen/temperature"
KB128 = 128 * 1024
BOM = "\ufeff".encode()
JSON_WHITESPACE = " \t\n\r"


def raw(text: str) -> list[dict[str, Any]]:
    """What a payload that is not wrapped as JSON becomes."""
    return [
        {"variable": "payload", "value": text, "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC}}
    ]


def original_bytes(point: dict[str, Any]) -> bytes:
    """The payload a raw point was made from."""
    if point["metadata"].get("encoding") == "base64":
        return base64.b64decode(point["value"], validate=True)
    return str(point["value"]).encode("utf-8")


def nested(opening: str, closing: str, depth: int) -> bytes:
    return (opening * depth + "1" + closing * depth).encode()


def metadata_of(size: int) -> dict[str, Any]:
    """Metadata whose compact UTF-8 JSON is exactly `size` bytes, multibyte characters included."""
    metadata = {"topic": TOPIC, "note": "é" * 100}
    overhead = len(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode())
    metadata["pad"] = "x" * (size - overhead - len(',"pad":""'))
    encoded = json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(encoded) == size
    return metadata


# --- wrap_payload: JSON objects and arrays of objects ------------------------------------------

JSON_CASES = [
    pytest.param(
        b'{"variable": "temperature", "value": 21.5, "unit": "C"}',
        [
            {
                "variable": "temperature",
                "value": 21.5,
                "unit": "C",
                "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC},
            }
        ],
        id="object",
    ),
    pytest.param(
        b'[{"variable": "t", "value": 1}, {"variable": "h", "value": 40}]',
        [
            {"variable": "t", "value": 1, "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC}},
            {"variable": "h", "value": 40, "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC}},
        ],
        id="array-of-objects",
    ),
    pytest.param(
        b'{"variable": "t", "metadata": {"sensor": "a1", "battery": 3.1}}',
        [
            {
                "variable": "t",
                "metadata": {"sensor": "a1", "battery": 3.1, "topic": TOPIC, "mqtt_topic": TOPIC},
            }
        ],
        id="metadata-keys-kept-topic-added",
    ),
    pytest.param(
        b'{"variable": "t", "metadata": {"topic": "spoofed", "x": 1}}',
        [{"variable": "t", "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC, "x": 1}}],
        id="metadata-topic-overwritten",
    ),
    pytest.param(
        b'{"variable": "t", "metadata": null}',
        [{"variable": "t", "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC}}],
        id="metadata-null-is-absent",
    ),
    pytest.param(
        b'{"variable": "t", "metadata": "calibrated"}',
        [
            {
                "variable": "t",
                "metadata": {"value": "calibrated", "topic": TOPIC, "mqtt_topic": TOPIC},
            }
        ],
        id="metadata-text-kept-as-value",
    ),
    pytest.param(
        b'{"variable": "t", "metadata": [1, {"a": 2}]}',
        [
            {
                "variable": "t",
                "metadata": {"value": [1, {"a": 2}], "topic": TOPIC, "mqtt_topic": TOPIC},
            }
        ],
        id="metadata-list-kept-as-value",
    ),
    pytest.param(
        b'{"variable": "t", "metadata": 0}',
        [{"variable": "t", "metadata": {"value": 0, "topic": TOPIC, "mqtt_topic": TOPIC}}],
        id="metadata-number-kept-as-value",
    ),
    pytest.param(b"{}", [{"metadata": {"topic": TOPIC, "mqtt_topic": TOPIC}}], id="empty-object"),
    pytest.param(b"[]", [], id="empty-array"),
    pytest.param(b" \r\n[ ]\t", [], id="empty-array-with-whitespace"),
    pytest.param(BOM + b"[]", [], id="bom-empty-array"),
    pytest.param(
        BOM + b'{"variable": "t"}',
        [{"variable": "t", "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC}}],
        id="bom-stripped-before-json",
    ),
    pytest.param(
        b'{"variable": "a", "variable": "b"}',
        [{"variable": "b", "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC}}],
        id="duplicate-keys-last-wins",
    ),
    pytest.param(
        b'{"variable": "n", "value": 123456789012345678901234567890}',
        [
            {
                "variable": "n",
                "value": 123456789012345678901234567890,
                "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC},
            }
        ],
        id="big-int-exact",
    ),
    pytest.param(
        b'{"variable": "n", "value": 1e308, "tiny": 1e-400}',
        [
            {
                "variable": "n",
                "value": 1e308,
                "tiny": 0.0,
                "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC},
            }
        ],
        id="floats-in-range",
    ),
    pytest.param(
        '{"variable": "température", "value": "21 °C"}'.encode(),
        [
            {
                "variable": "température",
                "value": "21 °C",
                "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC},
            }
        ],
        id="utf8-text",
    ),
    pytest.param(
        b'{"variable": "s", "value": "\\ud800"}',
        [{"variable": "s", "value": "\ud800", "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC}}],
        id="lone-surrogate-escape",
    ),
    pytest.param(
        b"[" + b",".join(b'{"variable": "v", "value": %d}' % i for i in range(3)) + b"]",
        [
            {"variable": "v", "value": i, "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC}}
            for i in range(3)
        ],
        id="order-kept",
    ),
]


@pytest.mark.parametrize(("payload", "expected"), JSON_CASES)
def test_json_objects_become_points_with_the_topic(
    payload: bytes, expected: list[dict[str, Any]]
) -> None:
    assert wrap_payload(payload, TOPIC) == expected


def test_floats_and_ints_keep_their_python_types() -> None:
    # DynamoDB takes no float: the bucket adapter converts; wrap_payload does not.
    [point] = wrap_payload(b'{"a": 1, "b": 1.0, "c": true, "d": "1"}', TOPIC)
    assert [type(point[k]) for k in "abcd"] == [int, float, bool, str]


def test_json_of_128_kb_is_wrapped_whole() -> None:
    item = b'{"variable": "reading", "value": 12.5, "unit": "C"}'
    count = KB128 // (len(item) + 1)
    payload = b"[" + b",".join([item] * count) + b"]"
    assert len(payload) <= KB128

    points = wrap_payload(payload, TOPIC)

    assert len(points) == count
    assert all(
        p == {**json.loads(item), "metadata": {"topic": TOPIC, "mqtt_topic": TOPIC}} for p in points
    )


# --- wrap_payload: everything else is one raw text point ----------------------------------------

RAW_CASES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"hello", id="plain-text"),
    pytest.param(b"temp=21.5;hum=40", id="key-value-text"),
    pytest.param(b"42", id="json-number"),
    pytest.param(b"-0.5e3", id="json-float"),
    pytest.param(b'"on"', id="json-string-keeps-quotes"),
    pytest.param(b"true", id="json-true"),
    pytest.param(b"false", id="json-false"),
    pytest.param(b"null", id="json-null"),
    pytest.param(b" 7 \n", id="json-number-with-whitespace"),
    pytest.param(b"[1, 2, 3]", id="array-of-numbers"),
    pytest.param(b'[{"variable": "t"}, 2]', id="array-object-then-number"),
    pytest.param(b'[1, {"variable": "t"}]', id="array-number-then-object"),
    pytest.param(b'[{"variable": "t"}, null]', id="array-object-and-null"),
    pytest.param(b'[{"variable": "t"}, []]', id="array-object-and-array"),
    pytest.param(b"[[]]", id="array-of-empty-array"),
    pytest.param(b'{"variable": "t"', id="truncated-json"),
    pytest.param(b'{"variable": "t"} {"variable": "u"}', id="two-json-documents"),
    pytest.param(b"{'variable': 't'}", id="single-quotes"),
    pytest.param(b"NaN", id="nan"),
    pytest.param(b"Infinity", id="infinity"),
    pytest.param(b'{"variable": "t", "value": NaN}', id="nan-in-object"),
    pytest.param(b'[{"variable": "t", "value": -Infinity}]', id="minus-infinity-in-array"),
    pytest.param(b'{"variable": "t", "value": 1e400}', id="float-overflows-to-infinity"),
    pytest.param(b'{"variable": "t", "value": -1e400}', id="float-overflows-to-minus-infinity"),
    pytest.param(b'{"value": ' + b"9" * 5000 + b"}", id="int-over-4300-digits"),
    pytest.param(nested("[", "]", 10_000), id="arrays-10000-deep"),
    pytest.param(nested('{"a":', "}", 10_000), id="objects-10000-deep"),
    pytest.param(nested('[{"a":', "}]", 10_000), id="mixed-10000-deep"),
    pytest.param(nested("[", "]", KB128 // 2 - 1), id="arrays-128-kb-deep"),
    pytest.param(BOM + b"hello", id="bom-kept-in-raw-text"),
    pytest.param(BOM + b"42", id="bom-json-scalar"),
    pytest.param(BOM + BOM + b"{}", id="double-bom"),
    pytest.param(b"x" * KB128, id="raw-text-128-kb"),
    pytest.param("€".encode() * (KB128 // 3), id="multibyte-text-128-kb"),
    pytest.param(b"\x00\x01\x02", id="control-characters"),
]


@pytest.mark.parametrize("payload", RAW_CASES)
def test_other_payloads_become_one_raw_text_point(payload: bytes) -> None:
    assert wrap_payload(payload, TOPIC) == raw(payload.decode("utf-8"))


BINARY_CASES = [
    pytest.param(b"\xff", id="single-invalid-byte"),
    pytest.param(b'{"variable": "t", "value": "\xff"}', id="invalid-utf8-in-the-middle-of-json"),
    pytest.param("temp=21°C".encode("latin-1"), id="latin-1-text"),
    pytest.param('{"variable": "t"}'.encode("utf-16"), id="utf-16-json"),
    pytest.param(b"\xed\xa0\x80", id="utf8-encoded-surrogate"),
    pytest.param("€".encode()[:2], id="truncated-multibyte"),
    pytest.param(bytes(range(256)) * (KB128 // 256), id="binary-128-kb"),
]


@pytest.mark.parametrize("payload", BINARY_CASES)
def test_payloads_that_are_not_utf8_are_kept_as_base64(payload: bytes) -> None:
    [point] = wrap_payload(payload, TOPIC)

    assert point["variable"] == "payload"
    assert point["metadata"] == {"topic": TOPIC, "mqtt_topic": TOPIC, "encoding": "base64"}
    assert base64.b64decode(point["value"], validate=True) == payload


@pytest.mark.parametrize(
    "make", [bytes, bytearray, memoryview], ids=["bytes", "bytearray", "memoryview"]
)
@pytest.mark.parametrize(
    "payload", [b'{"variable": "t"}', b"hi", b"\xff"], ids=["json", "text", "binary"]
)
def test_bytes_like_payloads_are_accepted(make: type[Any], payload: bytes) -> None:
    assert wrap_payload(make(payload), TOPIC) == wrap_payload(payload, TOPIC)


@pytest.mark.parametrize("payload", ['{"variable": "t"}', None, 42], ids=["str", "none", "int"])
def test_a_payload_that_is_not_bytes_is_a_type_error(payload: Any) -> None:
    with pytest.raises(TypeError, match="payload must be bytes"):
        wrap_payload(payload, TOPIC)


def test_raw_text_over_the_value_limit_is_refused_with_its_size() -> None:
    points = wrap_payload(b"x" * KB128, TOPIC)

    assert refusal_reasons(points[0]) == ["value is 131,072 bytes; the limit is 6,144 (6 kB)"]


# --- wrap_payload: properties ------------------------------------------------------------------

payloads = st.one_of(
    st.binary(max_size=512),
    st.text(max_size=256).map(str.encode),
    st.sampled_from(["{", "[", "[{", "\ufeff", " ", '{"a":', "NaN", "1e400"]).flatmap(
        lambda prefix: st.binary(max_size=64).map(lambda tail: prefix.encode() + tail)
    ),
)


def starts_like_json_container(payload: bytes) -> bool:
    text = payload.decode("utf-8").removeprefix("\ufeff").lstrip(JSON_WHITESPACE)
    return text.startswith(("{", "["))


@settings(deadline=None)
@given(payload=payloads, topic=st.text(min_size=1, max_size=64))
def test_any_bytes_give_points_with_the_topic_and_lose_nothing(payload: bytes, topic: str) -> None:
    points = wrap_payload(payload, topic)

    assert isinstance(points, list)
    for point in points:
        assert isinstance(point, dict)
        assert isinstance(point["metadata"], dict)
        assert point["metadata"]["topic"] == topic
    try:
        container = starts_like_json_container(payload)
    except UnicodeDecodeError:
        assert points == [
            {
                "variable": "payload",
                "value": base64.b64encode(payload).decode(),
                "metadata": {"topic": topic, "mqtt_topic": topic, "encoding": "base64"},
            }
        ]
        return
    if not container:  # cannot be an object or an array: always the raw text, as sent
        [point] = points
        assert point["variable"] == "payload"
        assert original_bytes(point) == payload


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(deadline=None)
@given(value=json_values)
def test_json_values_follow_the_tagoio_rule(value: Any) -> None:
    payload = json.dumps(value).encode()

    points = wrap_payload(payload, TOPIC)

    if isinstance(value, dict):
        objects = [value]
    elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
        objects = value
    else:
        assert points == raw(payload.decode())
        return
    assert len(points) == len(objects)
    for point, sent in zip(points, objects, strict=True):
        assert {k: v for k, v in point.items() if k != "metadata"} == {
            k: v for k, v in sent.items() if k != "metadata"
        }
        kept = sent.get("metadata")
        if isinstance(kept, dict):
            assert point["metadata"] == {**kept, "topic": TOPIC, "mqtt_topic": TOPIC}
        elif kept is None:
            assert point["metadata"] == {"topic": TOPIC, "mqtt_topic": TOPIC}
        else:
            assert point["metadata"] == {"value": kept, "topic": TOPIC, "mqtt_topic": TOPIC}


# --- DataPoint: accepted at the limits ----------------------------------------------------------

ACCEPTED = [
    pytest.param({"variable": "t"}, id="variable-only"),
    pytest.param({"variable": "v" * 100}, id="variable-100-chars"),
    pytest.param({"variable": "é" * 100}, id="variable-100-multibyte-chars"),
    pytest.param({"variable": "Temperature Sensor 1"}, id="variable-case-and-spaces-kept"),
    pytest.param(
        {"variable": "t", "value": "é" * (MAX_VALUE_BYTES // 2)}, id="value-6144-bytes-2-byte-chars"
    ),
    pytest.param(
        {"variable": "t", "value": "€" * (MAX_VALUE_BYTES // 3)}, id="value-6144-bytes-3-byte-chars"
    ),
    pytest.param({"variable": "t", "value": 21.5}, id="value-float"),
    pytest.param({"variable": "t", "value": -3}, id="value-int"),
    pytest.param({"variable": "t", "value": False}, id="value-bool"),
    pytest.param({"variable": "t", "value": None}, id="value-null"),
    pytest.param({"variable": "t", "unit": "u" * 25}, id="unit-25-chars"),
    pytest.param({"variable": "t", "time": "2024-05-01T12:00:00Z"}, id="time-utc"),
    pytest.param({"variable": "t", "time": "2024-05-01T12:00:00.123+02:00"}, id="time-offset"),
    pytest.param({"variable": "t", "time": "2024-05-01"}, id="time-date"),
    pytest.param({"variable": "t", "group": "batch-7"}, id="group"),
    pytest.param(
        {"variable": "t", "location": {"lat": 42.29, "lng": -85.62}}, id="location-lat-lng"
    ),
    pytest.param(
        {"variable": "t", "location": {"lat": -90, "lng": 180}}, id="location-at-the-edges"
    ),
    pytest.param(
        {"variable": "t", "location": {"type": "Point", "coordinates": [-85.62, 42.29]}},
        id="location-geojson",
    ),
    pytest.param(
        {"variable": "t", "location": {"type": "Point", "coordinates": [-85.62, 42.29, 250]}},
        id="location-geojson-altitude",
    ),
    pytest.param(
        {"variable": "t", "metadata": metadata_of(MAX_METADATA_BYTES)}, id="metadata-10240-bytes"
    ),
]


@pytest.mark.parametrize("point", ACCEPTED)
def test_points_within_the_limits_are_accepted(point: dict[str, Any]) -> None:
    assert refusal_reasons(point) == []
    assert DataPoint.model_validate(point).variable == point["variable"]


@pytest.mark.parametrize(
    ("value", "kind"),
    [(True, bool), (1, int), (1.0, float), ("1", str)],
    ids=["bool", "int", "float", "str"],
)
def test_value_keeps_its_type(value: Any, kind: type) -> None:
    assert type(DataPoint(variable="t", value=value).value) is kind


# --- DataPoint: refused, with the reason --------------------------------------------------------

REFUSED = [
    pytest.param({}, ["missing 'variable'"], id="missing-variable"),
    pytest.param({"value": 1}, ["missing 'variable'"], id="value-without-variable"),
    pytest.param(
        {"variable": ""}, ["variable is empty; it needs 1 to 100 characters"], id="variable-empty"
    ),
    pytest.param(
        {"variable": "v" * 101},
        ["variable is 101 characters; the limit is 100"],
        id="variable-101-chars",
    ),
    pytest.param(
        {"variable": "v" * 140},
        ["variable is 140 characters; the limit is 100"],
        id="variable-140-chars",
    ),
    pytest.param({"variable": 5}, ["variable must be text; got a number"], id="variable-number"),
    pytest.param(
        {"variable": "t", "value": "é" * (MAX_VALUE_BYTES // 2) + "x"},
        ["value is 6,145 bytes; the limit is 6,144 (6 kB)"],
        id="value-6145-bytes",
    ),
    pytest.param(
        {"variable": "t", "value": "€" * 2400},
        ["value is 7,200 bytes; the limit is 6,144 (6 kB)"],
        id="value-7200-bytes",
    ),
    pytest.param(
        {"variable": "t", "value": {"a": 1}},
        ["value must be text, a number, true/false or null; got an object"],
        id="value-object",
    ),
    pytest.param(
        {"variable": "t", "value": [1, 2]},
        ["value must be text, a number, true/false or null; got a list"],
        id="value-list",
    ),
    pytest.param(
        {"variable": "t", "value": float("nan")},
        ["value is nan; NaN and Infinity cannot be stored"],
        id="value-nan",
    ),
    pytest.param(
        {"variable": "t", "value": float("-inf")},
        ["value is -inf; NaN and Infinity cannot be stored"],
        id="value-minus-infinity",
    ),
    pytest.param(
        {"variable": "t", "unit": "u" * 26},
        ["unit is 26 characters; the limit is 25"],
        id="unit-26-chars",
    ),
    pytest.param(
        {"variable": "t", "unit": 5}, ["unit must be text; got a number"], id="unit-number"
    ),
    pytest.param(
        {"variable": "t", "time": "yesterday"},
        ["time 'yesterday' is not ISO 8601; write e.g. 2024-05-01T12:00:00Z"],
        id="time-not-iso",
    ),
    pytest.param(
        {"variable": "t", "time": 1714564800000},
        ["time must be text; got a number"],
        id="time-epoch-number",
    ),
    pytest.param(
        {"variable": "t", "group": ["a"]}, ["group must be text; got a list"], id="group-list"
    ),
    pytest.param(
        {"variable": "t", "location": {"lat": 91, "lng": 0}},
        ["location.lat is 91; it must be between -90 and 90"],
        id="location-lat-91",
    ),
    pytest.param(
        {"variable": "t", "location": {"lat": 0, "lng": -180.5}},
        ["location.lng is -180.5; it must be between -180 and 180"],
        id="location-lng-out-of-range",
    ),
    pytest.param(
        {"variable": "t", "location": {"lat": 1}},
        ["missing 'location.lng'"],
        id="location-missing-lng",
    ),
    pytest.param(
        {"variable": "t", "location": {"lat": "1", "lng": 2}},
        ["location.lat must be a number; got text"],
        id="location-lat-text",
    ),
    pytest.param(
        {"variable": "t", "location": {"type": "Point", "coordinates": [10, 95]}},
        ["location.coordinates latitude is 95; it must be between -90 and 90"],
        id="location-geojson-lat-out-of-range",
    ),
    pytest.param(
        {"variable": "t", "location": {"type": "Point", "coordinates": [10]}},
        [
            "location.coordinates has 1 numbers; "
            "a GeoJSON position is [lng, lat] or [lng, lat, altitude]"
        ],
        id="location-geojson-one-number",
    ),
    pytest.param(
        {"variable": "t", "location": {"type": "LineString", "coordinates": [1, 2]}},
        ["location.type must be 'Point'; got 'LineString'"],
        id="location-geojson-not-a-point",
    ),
    pytest.param(
        {"variable": "t", "location": "Kalamazoo"},
        ["location must be an object; got text"],
        id="location-text",
    ),
    pytest.param(
        {"variable": "t", "metadata": metadata_of(MAX_METADATA_BYTES + 1)},
        ["metadata is 10,241 bytes as JSON; the limit is 10,240 (10 kB)"],
        id="metadata-10241-bytes",
    ),
    pytest.param(
        {"variable": "t", "metadata": "x"},
        ["metadata must be an object; got text"],
        id="metadata-text",
    ),
    pytest.param(
        {"variable": "t", "metadata": {"a": float("nan")}},
        ["metadata cannot be written as JSON: it holds NaN, Infinity or a non-JSON value"],
        id="metadata-nan",
    ),
    pytest.param(
        {"variable": "t", "unti": "C"},
        [
            "unknown field 'unti'; a data point has only "
            "variable, value, unit, time, group, location, metadata"
        ],
        id="unknown-field",
    ),
    pytest.param(
        {"variable": "v" * 101, "value": "€" * 2400, "unit": "u" * 26},
        [
            "variable is 101 characters; the limit is 100",
            "value is 7,200 bytes; the limit is 6,144 (6 kB)",
            "unit is 26 characters; the limit is 25",
        ],
        id="every-reason-at-once",
    ),
    pytest.param(["t", 1], ["a data point must be an object; got a list"], id="not-an-object"),
    *[
        pytest.param(
            {"variable": "t", field: text} if field != "variable" else {"variable": text},
            [
                f"{field} holds a lone surrogate U+D800 at index {at}, which is not Unicode text "
                "(UTF-8 cannot encode it); it cannot be stored"
            ],
            id=f"lone-surrogate-in-{field}",
        )
        for field, text, at in [
            ("variable", "t\ud800", 1),
            ("value", "\ud800", 0),
            ("unit", "\ud800C", 0),
            ("time", "\ud800", 0),
            ("group", "g\ud800", 1),
        ]
    ],
    pytest.param(
        {"variable": "t", "metadata": {"a": json.loads("[" * 32 + "]" * 32)}},
        ["metadata is nested more than 32 levels deep"],
        id="metadata-too-deep",
    ),
    pytest.param(
        {"variable": "t", "metadata": {"k": "\ud800"}},
        [
            "metadata holds a lone surrogate U+D800 at index 6, which is not Unicode text "
            "(UTF-8 cannot encode it); it cannot be stored"
        ],
        id="lone-surrogate-in-metadata",
    ),
]


@pytest.mark.parametrize(("point", "reasons"), REFUSED)
def test_points_over_the_limits_are_refused_with_the_reason(point: Any, reasons: list[str]) -> None:
    assert refusal_reasons(point) == reasons


def test_the_model_itself_refuses_with_the_same_reason() -> None:
    with pytest.raises(ValidationError, match="variable is 101 characters; the limit is 100"):
        DataPoint(variable="v" * 101)


def test_check_points_splits_accepted_from_refused_by_index() -> None:
    points = wrap_payload(
        b'[{"variable": "t", "value": 21.5}, {"value": 1}, {"variable": "h", "unit": "%"}]', TOPIC
    )

    accepted, refused = check_points(points)

    assert [(p.variable, p.value, p.unit, p.metadata) for p in accepted] == [
        ("t", 21.5, None, {"topic": TOPIC, "mqtt_topic": TOPIC}),
        ("h", None, "%", {"topic": TOPIC, "mqtt_topic": TOPIC}),
    ]
    assert refused == [(1, ["missing 'variable'"])]


@pytest.mark.parametrize(
    "payload", [b"hello", b"\xff\xfe", b"", b"42"], ids=["text", "binary", "empty", "scalar"]
)
def test_small_raw_payloads_are_acceptable_points(payload: bytes) -> None:
    accepted, refused = check_points(wrap_payload(payload, TOPIC))

    assert refused == []
    assert [p.variable for p in accepted] == ["payload"]
