"""Placeholders: each one, unknown ones kept, no double expansion, safe headers and topics."""

import re
from collections.abc import Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mqtt_actions.templating import (
    PLACEHOLDERS,
    TemplateContext,
    TemplateError,
    build_values,
    render,
    render_header,
    render_topic,
    value_text,
)

POINT = {
    "variable": "temperature",
    "value": 30.5,
    "unit": "°C",
    "time": "2024-05-01T10:00:00Z",
    "location": {"lat": 42.2974279, "lng": -85.628292},
    "group": "g-1",
    "metadata": {"topic": "home/kitchen/temperature"},
}


def context(*points: Mapping[str, object], payload: str = '{"value": 30.5}') -> TemplateContext:
    return TemplateContext(
        points=list(points),
        device="kitchen-sensor",
        topic="home/kitchen/temperature",
        payload_text=payload,
        action_id="store-temperatures",
        timestamp_ms=1_714_557_600_123,
    )


@pytest.mark.parametrize(
    ("placeholder", "expected"),
    [
        pytest.param("VARIABLE", "temperature", id="variable"),
        pytest.param("VALUE", "30.5", id="value"),
        pytest.param("UNIT", "°C", id="unit"),
        pytest.param("TIME", "2024-05-01T10:00:00Z", id="time-as-given"),
        pytest.param("LOCATION", "42.2974279,-85.628292", id="location-lat-lng"),
        pytest.param("GROUP", "g-1", id="group"),
        pytest.param("DEVICE", "kitchen-sensor", id="device"),
        pytest.param("TOPIC", "home/kitchen/temperature", id="topic"),
        pytest.param("PAYLOAD", '{"value": 30.5}', id="payload-raw-text"),
        pytest.param("ACTION", "store-temperatures", id="action"),
        pytest.param("TIMESTAMP", "2024-05-01T10:00:00.123Z", id="timestamp-iso-utc"),
    ],
)
def test_each_placeholder(placeholder: str, expected: str) -> None:
    values = build_values(context(POINT))
    assert render(f"<${placeholder}$>", values) == f"<{expected}>"


def test_every_placeholder_has_a_value() -> None:
    assert set(build_values(context(POINT))) == set(PLACEHOLDERS)


def test_point_placeholders_come_from_the_first_point() -> None:
    values = build_values(context(POINT, {"variable": "humidity", "value": 80}))
    assert render("$VARIABLE$=$VALUE$", values) == "temperature=30.5"


def test_no_points_leaves_point_placeholders_empty() -> None:
    values = build_values(context())
    assert render("[$VARIABLE$|$VALUE$|$UNIT$|$LOCATION$]$DEVICE$", values) == "[|||]kitchen-sensor"


def test_binary_payload_is_its_base64_text() -> None:
    values = build_values(context(payload="AAEC/w=="))
    assert render("$PAYLOAD$", values) == "AAEC/w=="


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, "", id="none-empty"),
        pytest.param(30, "30", id="int"),
        pytest.param(30.5, "30.5", id="float"),
        pytest.param(30.0, "30.0", id="float-whole"),
        pytest.param(True, "true", id="true"),
        pytest.param(False, "false", id="false"),
        pytest.param("on", "on", id="text-as-is"),
        pytest.param("ünï", "ünï", id="unicode-text"),
        pytest.param({"a": [1, "x"]}, '{"a":[1,"x"]}', id="object-as-json"),
        pytest.param([1, 2], "[1,2]", id="list-as-json"),
    ],
)
def test_value_text(value: object, expected: str) -> None:
    assert value_text(value) == expected
    assert render("$VALUE$", build_values(context({"variable": "v", "value": value}))) == expected


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        pytest.param({"lat": 1, "lng": 2.5}, "1,2.5", id="lat-lng"),
        pytest.param({"type": "Point", "coordinates": [2.5, 1]}, "1,2.5", id="geojson-lng-lat"),
        pytest.param(None, "", id="none"),
        pytest.param("somewhere", "somewhere", id="text-as-is"),
    ],
)
def test_location(location: object, expected: str) -> None:
    values = build_values(context({"variable": "v", "location": location}))
    assert values["LOCATION"] == expected


def test_timestamp_out_of_range_is_shown_as_the_number() -> None:
    ctx = TemplateContext(
        points=[], device="d", topic="t", payload_text="", action_id="a", timestamp_ms=10**20
    )
    assert build_values(ctx)["TIMESTAMP"] == str(10**20)


def test_lone_surrogates_in_point_texts_show_as_replacement_characters() -> None:
    # The JSON escape "\\ud800" parses to a lone surrogate: UTF-8 (SNS, SES, HTTP) cannot carry it.
    values = build_values(context({"variable": "t\ud800", "value": ["\udfff"], "unit": "°\ud800"}))
    assert (values["VARIABLE"], values["VALUE"], values["UNIT"]) == (
        "t\ufffd",
        '["\ufffd"]',
        "°\ufffd",
    )


VALUES = {"VALUE": "30", "UNIT": "C", "TOPIC": "a/b", "DEVICE": "dev"}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("$VALUE$$UNIT$", "30C", id="adjacent"),
        pytest.param("$TOPIC$ = $VALUE$$UNIT$", "a/b = 30C", id="sms-example"),
        pytest.param("$UNKNOWN$ $VALUE$", "$UNKNOWN$ 30", id="unknown-kept"),
        pytest.param("$value$", "$value$", id="lowercase-is-not-a-placeholder"),
        pytest.param("$VALUE", "$VALUE", id="unclosed-kept"),
        pytest.param("costs $5 $VALUE$", "costs $5 30", id="lone-dollar-kept"),
        pytest.param("$$VALUE$$", "$30$", id="doubled-dollars"),
        pytest.param("$X$VALUE$", "$X30", id="unknown-then-known-share-a-dollar"),
        pytest.param("$VALUE$UNIT$", "30UNIT$", id="known-consumes-its-closing-dollar"),
        pytest.param("", "", id="empty"),
        pytest.param("no placeholders", "no placeholders", id="plain-text"),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template, VALUES) == expected


def test_inserted_values_are_never_expanded_again() -> None:
    values = {"VALUE": "$TOPIC$", "TOPIC": "$VALUE$"}
    assert render("$VALUE$ $TOPIC$", values) == "$TOPIC$ $VALUE$"


def test_inserted_values_are_not_evaluated() -> None:
    values = {"VALUE": "{{7*7}} ${7*7} %(x)s {0}"}
    assert render("$VALUE$", values) == "{{7*7}} ${7*7} %(x)s {0}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("x\r\nBcc: evil@example.com", "Alarm x Bcc: evil@example.com", id="crlf"),
        pytest.param("a\nb", "Alarm a b", id="lf"),
        pytest.param("a\x00b\x7fc", "Alarm a b c", id="nul-and-del"),
        pytest.param("a\u2028b\x85c", "Alarm a b c", id="unicode-line-separators"),
        pytest.param("a\tb", "Alarm a b", id="tab"),
        pytest.param("fine", "Alarm fine", id="clean-value-unchanged"),
    ],
)
def test_render_header_strips_control_characters(value: str, expected: str) -> None:
    assert render_header("Alarm $VALUE$", {"VALUE": value}) == expected


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        pytest.param("ack/$DEVICE$", {"DEVICE": "dev"}, "ack/dev", id="placeholder"),
        pytest.param("ack/$UNKNOWN$", {}, "ack/$UNKNOWN$", id="unknown-kept"),
        pytest.param("$DEVICE$/x", {"DEVICE": "d"}, "d/x", id="leading-placeholder"),
    ],
)
def test_render_topic(template: str, values: dict[str, str], expected: str) -> None:
    assert render_topic(template, values) == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        # issue #23: a value holding '/' steered an mqtt_publish to another device's topic
        pytest.param("sensor-02/cmd", "$DEVICE$ holds '/'", id="slash"),
        pytest.param("a+", "$DEVICE$ holds '+'", id="plus"),
        pytest.param("#", "$DEVICE$ holds '#'", id="hash"),
        pytest.param("$aws", "$DEVICE$ holds '$'", id="dollar"),
        pytest.param("", "$DEVICE$ is empty", id="empty"),
        pytest.param("a\x00b", "which is not a topic name", id="nul"),
        pytest.param("x" * 65_536, "which is not a topic name", id="too-long"),
    ],
)
def test_render_topic_fills_one_level_per_placeholder(value: str, error: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(error)):
        render_topic("ack/$DEVICE$", {"DEVICE": value})


def test_render_topic_checks_only_the_values_it_inserts() -> None:
    values = {"DEVICE": "d", "PAYLOAD": "a/b/#", "TOPIC": "home/k"}
    assert render_topic("ack/$DEVICE$/x", values) == "ack/d/x"
    with pytest.raises(TemplateError, match=re.escape("$TOPIC$ holds '/'")):
        render_topic("copy/$TOPIC$", values)


def test_template_error_is_a_value_error() -> None:
    assert issubclass(TemplateError, ValueError)


LITERAL = st.text().map(lambda s: s.replace("$", ""))
ALL_VALUES = st.fixed_dictionaries({name: st.text() for name in PLACEHOLDERS})


@given(template=st.text(), values=st.dictionaries(st.text(), st.text()))
def test_render_never_raises(template: str, values: dict[str, str]) -> None:
    assert isinstance(render(template, values), str)
    assert isinstance(render_header(template, values), str)


@given(
    parts=st.lists(st.tuples(LITERAL, st.sampled_from(PLACEHOLDERS))),
    tail=LITERAL,
    values=ALL_VALUES,
)
def test_render_inserts_each_value_once_and_never_rescans_it(
    parts: list[tuple[str, str]], tail: str, values: dict[str, str]
) -> None:
    # Given literal text (no '$') between placeholders, and values that may hold anything,
    # including other placeholders: the output is exactly the literal text with each value in place.
    template = "".join(f"{text}${name}$" for text, name in parts) + tail
    expected = "".join(text + values[name] for text, name in parts) + tail
    assert render(template, values) == expected


@given(value=st.text(alphabet="$ABCDEFGHIJKLMNOPQRSTUVWXYZ_ x"), values=ALL_VALUES)
def test_a_value_made_of_placeholders_is_inserted_verbatim(
    value: str, values: dict[str, str]
) -> None:
    assert render("<$VALUE$>", {**values, "VALUE": value}) == f"<{value}>"
