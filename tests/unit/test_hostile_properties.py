"""Hostile input, property-based: every parser and renderer either returns a usable value or raises
its documented error (a ValueError subclass), for any input.

Strings mix arbitrary code points with the troublemakers: NUL, CR/LF, U+2028, lone surrogates,
a byte order mark, wildcards, placeholders. Whatever comes out must be JSON that UTF-8 can carry,
because DynamoDB, SNS, SES and HTTP all need UTF-8. Bounded: at most 200 examples per property.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mqtt_actions.actions import ACTION_TYPES, ActionsFileError, parse_actions
from mqtt_actions.events import RouterEvent
from mqtt_actions.inspector import lifecycle_entry, message_entry, outcome_entries
from mqtt_actions.lifecycle import describe, parse_lifecycle
from mqtt_actions.memory import Memory, memory_deps
from mqtt_actions.payload import (
    RAW_VARIABLE,
    DataPoint,
    check_points,
    check_rows,
    wrap_payload,
)
from mqtt_actions.ports import Outcome
from mqtt_actions.router import route
from mqtt_actions.templating import (
    TemplateContext,
    TemplateError,
    build_values,
    render,
    render_header,
    render_topic,
)
from mqtt_actions.topics import (
    MAX_BYTES,
    InvalidFilterError,
    InvalidTopicError,
    TopicIndex,
    topic_matches,
    validate_filter,
    validate_topic,
)
from mqtt_actions_cli.actions_file import MAX_NESTING, load_actions_file
from tests.support.lambda_env import router_settings

BOUNDED = settings(
    max_examples=min(200, settings.default.max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FEW = settings(
    max_examples=min(50, settings.default.max_examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# ---------------------------------------------------------------- strategies

NASTY = [
    "\x00",
    "\r",
    "\n",
    "\r\nBcc: x@evil.example",
    "\t",
    "\x7f",
    "\x85",
    "\u2028",
    "\ud800",
    "\udfff",
    "\ufeff",
    "$",
    "+",
    "#",
    "/",
    "\\",
    '"',
    "é",
    "温度",
    "😀",
    "$TOPIC$",
    "$VALUE$",
    "$$",
]
any_char = st.characters(exclude_categories=())  # includes lone surrogates (category Cs)
hostile_text = st.lists(st.one_of(any_char, st.sampled_from(NASTY)), max_size=24).map("".join)
clean_text = st.text(max_size=24)  # no surrogates: what a UTF-8 decoder can produce
FIELDS = ["variable", "value", "unit", "time", "group", "location", "metadata", "lat", "lng"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**37, max_value=10**80),  # beyond DynamoDB's 38 digits
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e-200, 1e300, -0.0, 5e-324, 1.7976931348623157e308]),
    hostile_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), hostile_text), inner, max_size=4),
    ),
    max_leaves=16,
)
point_like = st.fixed_dictionaries(
    {"variable": st.one_of(hostile_text, st.sampled_from(["temperature", "v" * 101]))},
    optional={
        "value": json_values,
        "unit": st.one_of(hostile_text, json_values),
        "time": st.one_of(st.sampled_from(["2026-01-01T00:00:00Z", "yesterday"]), json_values),
        "group": json_values,
        "location": st.one_of(
            st.fixed_dictionaries({"lat": scalars, "lng": scalars}),
            st.fixed_dictionaries(
                {"type": st.just("Point"), "coordinates": st.lists(scalars, max_size=4)}
            ),
            json_values,
        ),
        "metadata": json_values,
    },
)


def _json_bytes(value: object, ascii_only: bool) -> bytes:
    # allow_nan: NaN and Infinity tokens are exactly the hostile input we want to send.
    # ascii_only: lone surrogates travel as \ud800 escapes (valid UTF-8); otherwise they become
    # CESU-style bytes that are not UTF-8 at all.
    return json.dumps(value, allow_nan=True, ensure_ascii=ascii_only).encode(
        "utf-8", "surrogatepass"
    )


payloads = st.one_of(
    st.binary(max_size=256),
    st.builds(_json_bytes, json_values, st.booleans()),
    st.builds(_json_bytes, point_like, st.booleans()),
    st.builds(_json_bytes, st.lists(point_like, max_size=4), st.booleans()),
    hostile_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.integers(1, 3000).map(lambda n: ("[" * n + "]" * n).encode()),
    st.integers(1, 3000).map(lambda n: f'{{"variable":"x","value":{"[" * n}{"]" * n}}}'.encode()),
)


def _is_topic_name(text: str) -> bool:
    return bool(text) and "+" not in text and "#" not in text and "\0" not in text


levels = st.sampled_from(["a", "b", "", "$SYS", "é", "温"])
topic_names = (
    st.lists(st.one_of(levels, clean_text.filter(lambda s: "/" not in s)), min_size=1, max_size=5)
    .map("/".join)
    .filter(_is_topic_name)
)


def error_of(call: Callable[[], object], expected: type[Exception]) -> str | None:
    """The message of the `expected` error `call` raised, or None; any other error fails."""
    try:
        call()
    except expected as exc:
        message = str(exc)
    else:
        return None
    assert message, f"{expected.__name__} without a message"
    return message


def utf8_json(value: object) -> bytes:
    """What a boto3 call or an HTTP body needs: strict JSON, encodable as UTF-8."""
    return json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")


# ---------------------------------------------------------------- wrap_payload, check_points


@BOUNDED
@given(payload=payloads, topic=topic_names)
def test_wrap_payload_never_raises_loses_nothing_and_gives_utf8_json(
    payload: bytes, topic: str
) -> None:
    points = wrap_payload(payload, topic)
    assert all(isinstance(p, dict) and p["metadata"]["topic"] == topic for p in points)
    json.dumps(points, allow_nan=False)  # strict JSON: no NaN, no Infinity
    # A lone surrogate escape ("\\ud800") is kept as parsed; insert_bucket refuses that point.
    accepted, _ = check_points(points)
    for point in accepted:
        utf8_json(point.model_dump(mode="json", exclude_none=True))
    raw = points[0] if len(points) == 1 else {}
    if raw.get("variable") == RAW_VARIABLE and raw["metadata"].get("encoding") == "base64":
        assert base64.b64decode(raw["value"]) == payload
    elif raw.get("variable") == RAW_VARIABLE and not payload.lstrip().startswith((b"{", b"[")):
        assert raw["value"].encode() == payload  # raw text: the payload itself, as sent


@BOUNDED
@given(points=st.lists(st.one_of(point_like, json_values), max_size=6))
def test_check_points_refuses_with_reasons_and_accepts_only_storable_points(
    points: list[Any],
) -> None:
    accepted, refused = check_points(points)
    assert len(accepted) + len(refused) == len(points)
    assert [i for i, _ in refused] == sorted(i for i, _ in refused)
    for _, reasons in refused:
        assert reasons
        assert all(isinstance(r, str) and r for r in reasons)
    for point in accepted:
        assert isinstance(point, DataPoint)
        utf8_json(point.model_dump(mode="json", exclude_none=True))


# Mostly storable points, near the limits: what the router sees, checked on its plain path.
plain_points = st.fixed_dictionaries(
    {"variable": st.one_of(clean_text, st.sampled_from(["temperature", "", "v" * 100, "v" * 101]))},
    optional={
        "value": st.one_of(scalars, st.sampled_from(["x" * 6144, "é" * 3073, 10**6143])),
        "unit": st.one_of(st.none(), clean_text, st.sampled_from(["u" * 25, "u" * 26])),
        "time": st.one_of(
            st.none(), st.sampled_from(["2026-01-01T00:00:00Z", "2026-01-01", "yesterday", 5])
        ),
        "group": st.one_of(st.none(), clean_text, hostile_text),
        "metadata": st.one_of(
            st.none(),
            st.dictionaries(clean_text, scalars, max_size=4),
            st.dictionaries(st.integers(), scalars, max_size=2),
            st.just({"big": "m" * 10_241}),
            json_values,
        ),
    },
)


@BOUNDED
@given(points=st.lists(st.one_of(plain_points, point_like, json_values), max_size=6))
def test_check_rows_gives_the_rows_and_reasons_of_the_data_point_model(points: list[Any]) -> None:
    accepted, refused = check_points(points)

    rows, refused_rows = check_rows(points)

    # As JSON text: the same keys in the same order, and 1, 1.0 and true kept apart
    expected = [p.model_dump(mode="json", exclude_none=True) for p in accepted]
    assert json.dumps(rows) == json.dumps(expected)
    assert refused_rows == refused


# ---------------------------------------------------------------- topics


@BOUNDED
@given(text=hostile_text)
def test_topic_validators_raise_only_their_errors(text: str) -> None:
    problem = error_of(lambda: validate_topic(text), InvalidTopicError)
    if problem is None:
        text.encode("utf-8")
        assert _is_topic_name(text)
    error_of(lambda: validate_filter(text), InvalidFilterError)


@BOUNDED
@given(f=st.one_of(hostile_text, topic_names), topic=st.one_of(hostile_text, topic_names))
def test_topic_matching_never_raises_and_agrees_with_the_index(f: str, topic: str) -> None:
    matched = topic_matches(f, topic)
    assert matched in (True, False)
    index: TopicIndex[int] = TopicIndex(cache_size=2)
    try:
        index.add(f, 1)
    except InvalidFilterError:
        assert not matched
        return
    assert index.match(topic) == ([1] if matched else [])


@FEW
@given(size=st.integers(MAX_BYTES - 4, MAX_BYTES + 4), char=st.sampled_from(["a", "é", "温"]))
def test_topics_near_65535_bytes(size: int, char: str) -> None:
    topic = char * (size // len(char.encode()))
    nbytes = len(topic.encode())
    if nbytes <= MAX_BYTES:
        validate_topic(topic)
        assert topic_matches("#", topic)
    else:
        with pytest.raises(InvalidTopicError, match="65,535"):
            validate_topic(topic)
        assert not topic_matches("#", topic)


# ---------------------------------------------------------------- the actions file

VALID = {
    "insert_bucket": {"device": "$DEVICE$"},
    "run_analysis": {"analyses": ["forecast"]},
    "sms": {"to": ["+15555550100"], "message": "$VALUE$"},
    "email": {"to": ["ops@example.com"], "subject": "s", "message": "m"},
    "mqtt_publish": {"topic": "ack/$DEVICE$", "payload": "$PAYLOAD$"},
    "webhook": {"url": "https://example.com/in", "headers": {"X-Key": "abc"}},
}
ACTION_FIELDS = sorted(
    {"id", "name", "topics", "enabled", "when", "rate_limit", "type", "environment", "qos"}
    | {k for v in VALID.values() for k in v}
    | {"html", "retain", "timeout_seconds", "max_retries", "allow_http"}
)


@st.composite
def wrong_actions(draw: st.DrawFn) -> dict[str, Any]:
    """A valid action of some type with a few fields replaced, removed or added at random."""
    type_ = draw(st.sampled_from(ACTION_TYPES))
    action: dict[str, Any] = {"id": "a-1", "topics": ["home/#"], "type": type_, **VALID[type_]}
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from([*ACTION_FIELDS, "unknown"]))
        if draw(st.booleans()):
            action.pop(field, None)
        else:
            action[field] = draw(
                st.one_of(
                    json_values,
                    st.lists(hostile_text, max_size=3),
                    st.fixed_dictionaries({"variable": hostile_text, "op": hostile_text}).map(
                        lambda c: [c]
                    ),
                )
            )
    return action


def parse_or_refuse(load: Callable[[], Sequence[Any]]) -> Sequence[Any] | None:
    loaded: list[Sequence[Any]] = []
    problem = error_of(lambda: loaded.append(load()), ActionsFileError)
    if problem is not None:
        assert problem.startswith("<actions>: ")
        return None
    return loaded[0]


@BOUNDED
@given(text=st.one_of(hostile_text, st.text(max_size=200)))
def test_actions_file_text_is_loaded_or_refused_whole(text: str) -> None:
    parse_or_refuse(lambda: load_actions_file(text))


@BOUNDED
@given(
    actions=st.lists(wrong_actions(), min_size=1, max_size=3),
    as_yaml=st.booleans(),
    extra=st.dictionaries(hostile_text, json_values, max_size=1),
)
def test_structured_but_wrong_files_are_refused_naming_the_action(
    actions: list[dict[str, Any]], as_yaml: bool, extra: dict[str, Any]
) -> None:
    data = {"actions": actions, **extra}
    loaded = parse_or_refuse(lambda: parse_actions(data))
    if loaded is not None:
        # What the store writes (model_dump_json) must load back as the same actions.
        again = parse_actions({"actions": [json.loads(a.model_dump_json()) for a in loaded]})
        assert again == loaded
    try:
        text = (
            yaml.safe_dump(data, allow_unicode=False)
            if as_yaml
            else json.dumps(data, allow_nan=True)
        )
    except (yaml.YAMLError, UnicodeEncodeError):
        return  # not representable as such a file
    parse_or_refuse(lambda: load_actions_file(text))


@FEW
@given(depth=st.integers(1, 20_000), opener=st.sampled_from(["[", "{a: ", '{"a": ']))
@example(depth=MAX_NESTING, opener="{a: ")
@example(depth=MAX_NESTING + 1, opener="[")
@example(depth=20_000, opener='{"a": ')
def test_deeply_nested_actions_files_are_refused(depth: int, opener: str) -> None:
    closer = {"[": "]", "{a: ": "}", '{"a": ': "}"}[opener]
    text = opener * depth + "1" + closer * depth
    with pytest.raises(ActionsFileError) as refused:
        load_actions_file(text)
    # Past the bound: refused for its depth alone, before any parser runs. Within it: parsed,
    # and refused for what it holds (not a mapping with an 'actions:' list), never for depth.
    too_deep = (
        f"the file is nested more than {MAX_NESTING} levels deep; an actions file needs a few"
    )
    if depth > MAX_NESTING:
        assert refused.value.problems == [too_deep]
    else:
        assert refused.value.problems
        assert too_deep not in refused.value.problems
        assert all("nested" not in p for p in refused.value.problems)


# ---------------------------------------------------------------- events


router_event_dicts = st.one_of(
    st.dictionaries(hostile_text, json_values, max_size=6),
    st.fixed_dictionaries(
        {
            "payload": st.one_of(
                st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode()), hostile_text
            ),
            "topic": st.one_of(topic_names, hostile_text),
            "timestamp": st.one_of(st.integers(), json_values),
            "traceid": st.one_of(st.uuids().map(str), hostile_text),
        },
        optional={
            "clientid": st.one_of(hostile_text, json_values),
            "principal": hostile_text,
            "hops": st.one_of(json_values, st.lists(hostile_text, max_size=3)),
            "only_actions": st.one_of(json_values, st.lists(hostile_text, max_size=3)),
        },
    ),
)


@BOUNDED
@given(data=router_event_dicts)
def test_router_events_parse_or_raise_a_value_error(data: dict[str, Any]) -> None:
    parsed: list[RouterEvent] = []

    def parse() -> None:
        parsed.append(RouterEvent.model_validate(data))
        parsed[0].payload_bytes()

    if error_of(parse, ValueError) is not None:  # pydantic's ValidationError is a ValueError
        return
    (event,) = parsed
    assert event.hops >= 0
    utf8_json(event.model_dump(mode="json"))  # what the dead-letter queue would carry


LIFECYCLE_FIELDS = [
    "clientId",
    "timestamp",
    "eventType",
    "sessionIdentifier",
    "principalIdentifier",
    "versionNumber",
    "ipAddress",
    "clientInitiatedDisconnect",
    "disconnectReason",
    "connectFailureReason",
    "topics",
    "thingName",
]
lifecycle_dicts = st.one_of(
    st.dictionaries(st.sampled_from(LIFECYCLE_FIELDS), json_values, max_size=8),
    st.fixed_dictionaries(
        {
            "clientId": st.one_of(hostile_text, st.just("sensor-01")),
            "timestamp": st.one_of(st.integers(), st.just(1_764_072_000_000)),
            "eventType": st.sampled_from(
                ["connected", "disconnected", "connect_failed", "subscribed", "unsubscribed", "?"]
            ),
            "sessionIdentifier": st.one_of(hostile_text, st.just("s-1")),
            "versionNumber": st.one_of(st.integers(), json_values),
        },
        optional={
            "clientInitiatedDisconnect": st.one_of(st.booleans(), json_values),
            "disconnectReason": hostile_text,
            "connectFailureReason": hostile_text,
            "topics": st.one_of(st.lists(hostile_text, max_size=3), json_values),
            "ipAddress": hostile_text,
            "thingName": st.one_of(hostile_text, json_values),
            "principalIdentifier": hostile_text,
        },
    ),
)


@BOUNDED
@given(data=lifecycle_dicts)
def test_lifecycle_events_parse_or_raise_a_validation_error(data: dict[str, Any]) -> None:
    try:
        event = parse_lifecycle(data)
    except ValidationError as exc:
        describe(exc).encode("utf-8")  # the reason that goes to the dead-letter queue
        return
    entry = lifecycle_entry(event)
    entry.model_dump_json().encode("utf-8")


# ---------------------------------------------------------------- templating

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
values_maps = st.dictionaries(
    st.sampled_from(["VALUE", "TOPIC", "DEVICE", "PAYLOAD", "UNIT", "X"]), hostile_text, max_size=5
)


@BOUNDED
@given(template=hostile_text, values=values_maps)
def test_render_never_raises_and_headers_hold_no_line_breaks(
    template: str, values: dict[str, str]
) -> None:
    assert isinstance(render(template, values), str)
    assert not _CONTROL.search(render_header(template, values))


@BOUNDED
@given(value=hostile_text, others=values_maps, before=st.text(), after=st.text())
def test_an_inserted_value_is_never_expanded_again(
    value: str, others: dict[str, str], before: str, after: str
) -> None:
    before, after = before.replace("$", ""), after.replace("$", "")
    assert render(f"{before}$VALUE${after}", {**others, "VALUE": value}) == before + value + after


@BOUNDED
@given(template=st.one_of(hostile_text, st.just("ack/$DEVICE$/$VALUE$")), values=values_maps)
def test_render_topic_gives_a_valid_topic_or_a_template_error(
    template: str, values: dict[str, str]
) -> None:
    rendered: list[str] = []
    if error_of(lambda: rendered.append(render_topic(template, values)), TemplateError) is None:
        validate_topic(rendered[0])


@BOUNDED
@given(
    points=st.lists(st.one_of(point_like, st.dictionaries(hostile_text, json_values)), max_size=3),
    timestamp=st.integers(),
)
def test_placeholder_values_are_text_for_any_points(
    points: list[dict[str, Any]], timestamp: int
) -> None:
    values = build_values(
        TemplateContext(
            points=points,
            device="d",
            topic="t",
            payload_text="p",
            action_id="a",
            timestamp_ms=timestamp,
        )
    )
    assert all(isinstance(v, str) for v in values.values())


# ---------------------------------------------------------------- route() with strict fakes


def strict(method: str, args: tuple[Any, ...]) -> None:
    """A `Memory.check` that refuses what boto3 or http.client would refuse: text that is not
    UTF-8, JSON that is not strict. It never fails otherwise, so no action may end `failed`."""
    if method == "send_email":
        assert not _CONTROL.search(args[1])  # the subject is one header line
    elif method == "publish":
        validate_topic(args[0])
    elif method == "invoke_async":
        json.dumps(args[1], allow_nan=False).encode("utf-8")  # as LambdaInvoker: ASCII JSON
        return
    elif method == "post":
        url, body, headers = args
        url.encode("ascii")  # http.client sends the request line as ASCII
        for name, value in headers.items():
            name.encode("ascii")
            value.encode("latin-1")  # http.client encodes header values as Latin-1
            assert not _CONTROL.search(value)
        body.decode("utf-8")
        args = (url, body)
    elif method == "record_message":
        message_entry(args[0]).model_dump_json().encode("utf-8")
        return
    elif method == "record_outcomes":
        for entry in outcome_entries(*args):
            entry.model_dump_json().encode("utf-8")
        return
    elif method == "send":  # a dead letter: the test asserts there is none
        return
    utf8_json([p.decode("latin-1") if isinstance(p, bytes) else p for p in args])


EVERY_TYPE = """
actions:
  - {id: store, topics: ["#"], type: insert_bucket}
  - {id: store-by-value, topics: ["#"], type: insert_bucket, device: "d-$VALUE$"}
  - {id: sms, topics: ["#"], type: sms, to: ["+15555550100"],
     message: "$TOPIC$ $VARIABLE$=$VALUE$$UNIT$ at $LOCATION$ $TIME$ $GROUP$ $PAYLOAD$"}
  - {id: mail, topics: ["#"], type: email, to: [ops@example.com], subject: "$TOPIC$ $VALUE$",
     message: "$PAYLOAD$", html: "<b>$VALUE$</b>"}
  - {id: echo, topics: ["#"], type: mqtt_publish, topic: "ack/$DEVICE$/$VALUE$",
     payload: "$VALUE$ $PAYLOAD$", qos: 1}
  - {id: forward, topics: ["#"], type: mqtt_publish, topic: "raw/$DEVICE$"}
  - {id: analysis, topics: ["#"], type: run_analysis, analyses: [forecast]}
  - {id: hook, topics: ["#"], type: webhook, url: "https://example.com/$TOPIC$?v=$VALUE$",
     headers: {X-Value: "$VALUE$", X-Device: "$DEVICE$"}}
  - {id: hot, topics: ["#"], type: insert_bucket,
     when: [{variable: temperature, op: ">", value: 30}, {variable: v, op: contains, value: x}]}
"""


@BOUNDED
@given(
    payload=payloads,
    topic=topic_names,
    clientid=st.one_of(st.just("sensor-01"), clean_text.filter(lambda s: 0 < len(s) <= 64)),
)
def test_route_never_fails_an_action_with_healthy_adapters(
    payload: bytes, topic: str, clientid: str
) -> None:
    memory = Memory(check=strict)
    actions = load_actions_file(EVERY_TYPE)
    deps = memory_deps(actions, memory, clock=lambda: 0.0)
    cfg = router_settings()
    event = RouterEvent(
        payload=base64.b64encode(payload).decode(),
        topic=topic,
        clientid=clientid,
        timestamp=1_764_072_000_000,
        traceid="trace-1",
    )
    summary = route(event, deps, cfg)
    expected = len(actions) if not topic.startswith("$") else 0
    assert len(summary.results) == expected
    failed = [r for r in summary.results if r.outcome is Outcome.FAILED]
    assert not failed, failed
    assert memory.dead_letters == []
    for result in summary.results:
        if result.outcome is Outcome.REFUSED:
            assert result.reason


def test_the_strategies_reach_the_hard_cases() -> None:
    # A guard against a strategy edit that silently stops producing what this file is about.
    assert math.isnan(json.loads(_json_bytes(math.nan, True), parse_constant=float))
    assert b"\\ud800" in _json_bytes({"value": "\ud800"}, True)
