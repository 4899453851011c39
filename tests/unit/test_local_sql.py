"""The local rules engine's SQL: what template.yaml's rules select, IoT's Undefined semantics, and
clear refusals for what the local engine does not do."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from mqtt_actions_cli.local.sql import (
    MessageContext,
    RuleEvaluationError,
    RuleSqlError,
    parse,
    select,
)

ROUTE_SQL = (
    "SELECT encode(*, 'base64') AS payload, topic() AS topic, clientid() AS clientid, "
    "principal() AS principal, timestamp() AS timestamp, traceid() AS traceid, "
    "get_user_properties('mqtt-actions-hops') AS hops FROM '#'"
)


def message(
    payload: bytes = b'{"temperature": 31, "meta": {"room": "kitchen"}}', **kw: Any
) -> MessageContext:
    fields: dict[str, Any] = {
        "topic": "home/kitchen/temperature",
        "payload": payload,
        "clientid": "dev-1",
        "principal": "anonymous",
        "timestamp": 1_700_000_000_000,
        "traceid": "trace-1",
    }
    return MessageContext(**(fields | kw))


def test_the_route_rule_selects_the_router_event() -> None:
    parsed = parse(ROUTE_SQL)
    ctx = message(b"\x00\xffraw", user_properties=[("mqtt-actions-hops", "2")])
    assert parsed.topic_filter == "#"
    assert select(parsed, ctx) == {
        "payload": base64.b64encode(b"\x00\xffraw").decode(),
        "topic": "home/kitchen/temperature",
        "clientid": "dev-1",
        "principal": "anonymous",
        "timestamp": 1_700_000_000_000,
        "traceid": "trace-1",
        "hops": ["2"],
    }


def test_a_missing_user_property_is_left_out_like_undefined() -> None:
    assert "hops" not in (select(parse(ROUTE_SQL), message()) or {})


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        pytest.param(
            "SELECT * FROM 'a'", {"temperature": 31, "meta": {"room": "kitchen"}}, id="star"
        ),
        pytest.param(
            "SELECT *, topic(2) AS room FROM 'a'",
            {"temperature": 31, "meta": {"room": "kitchen"}, "room": "kitchen"},
            id="star-plus",
        ),
        pytest.param("SELECT temperature FROM 'a'", {"temperature": 31}, id="field"),
        pytest.param(
            "SELECT meta.room AS room_name FROM 'a'", {"room_name": "kitchen"}, id="path-alias"
        ),
        pytest.param(
            "SELECT meta.room FROM 'a'", {"room": "kitchen"}, id="path-named-after-last-part"
        ),
        pytest.param("SELECT humidity FROM 'a'", {}, id="undefined-left-out"),
        pytest.param("SELECT topic(9) AS x FROM 'a'", {}, id="topic-level-out-of-range"),
        pytest.param(
            "SELECT 'v1' AS version, 2 AS n FROM 'a'", {"version": "v1", "n": 2}, id="literals"
        ),
    ],
)
def test_select(sql: str, expected: dict[str, Any]) -> None:
    assert select(parse(sql), message()) == expected


@pytest.mark.parametrize(
    ("where", "holds"),
    [
        ("temperature > 30", True),
        ("temperature >= 32", False),
        ("temperature = 31 AND topic(2) = 'kitchen'", True),
        ("temperature < 0 OR clientid() = 'dev-1'", True),
        ("NOT temperature > 30", False),
        ("(temperature > 40 OR temperature < 35) AND meta.room <> 'garage'", True),
        ("humidity > 1", False),  # undefined: never true
        ("NOT humidity > 1", False),  # nor is its negation
        ("temperature = '31'", False),  # no implicit conversion between string and number
        ("temperature != 'x'", True),
    ],
)
def test_where(where: str, holds: bool) -> None:
    sql = f"SELECT * FROM '#' WHERE {where}"  # noqa: S608 - IoT rule SQL, no database
    result = select(parse(sql), message())
    assert (result is not None) is holds


def test_where_on_a_payload_that_is_not_json_is_false() -> None:
    assert select(parse("SELECT topic() AS t FROM '#' WHERE a = 1"), message(b"\xff")) is None


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b"\x00\xff"])
def test_select_star_needs_a_json_object(payload: bytes) -> None:
    with pytest.raises(RuleEvaluationError, match="encode"):
        select(parse("SELECT * FROM '#'"), message(payload))


@pytest.mark.parametrize(
    ("sql", "version", "complaint"),
    [
        ("SELECT encode(*, 'base64') AS p FROM '#'", "2015-10-08", "2016-03-23"),
        ("SELECT upper(topic()) AS t FROM '#'", "2016-03-23", "found 'topic'"),
        ("SELECT md5(topic) AS t FROM '#'", "2016-03-23", "md5"),
        ("SELECT topic() FROM '#'", "2016-03-23", "AS topic"),
        ("SELECT a FROM '#' GROUP BY a", "2016-03-23", "GROUP"),
        ("SELECT a AS x, b AS x FROM '#'", "2016-03-23", "more than once"),
        ("SELECT a FROM topic", "2016-03-23", "quoted topic filter"),
        ("SELECT a FROM '#'", "2099-01-01", "AwsIotSqlVersion"),
    ],
)
def test_unsupported_sql_is_refused_saying_what(sql: str, version: str, complaint: str) -> None:
    with pytest.raises(RuleSqlError, match=complaint):
        parse(sql, version)


def test_the_payload_is_decoded_once_per_message() -> None:
    ctx = message()
    first = ctx.json()
    ctx.payload = json.dumps({"changed": True}).encode()
    assert ctx.json() is first
