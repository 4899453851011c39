"""Nasty messages for the router, each with the outcome it must get: a correct result, or a clear
error in the inspector (the action's reason) or the dead-letter queue. Run through the real
handler against moto by tests/integration/test_hostile_corpus.py.

Big payloads are built when a case runs (`payload` may be a function), not stored here. Unless a
case says otherwise, the actions are EVERY: one of each kind whose output a value can reach -
a bucket row, an SMS body, an e-mail subject (a header), a webhook URL and headers, an MQTT topic.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

HOOK = "HOOK_URL"  # replaced by the local receiver's URL when the case runs

EVERY = f"""
actions:
  - {{id: store, topics: ["#", "$aws/things/+/shadow/#"], type: insert_bucket}}
  - {{id: sms, topics: ["#"], type: sms, to: ["+15555550100"],
      message: "$TOPIC$: $VARIABLE$=$VALUE$$UNIT$"}}
  - {{id: mail, topics: ["#"], type: email, to: [ops@example.com],
      subject: "[$DEVICE$] $VARIABLE$ = $VALUE$", message: "$PAYLOAD$"}}
  - {{id: hook, topics: ["#"], type: webhook, url: "{HOOK}?v=$VALUE$", allow_http: true,
      headers: {{X-Value: "$VALUE$", X-Device: "$DEVICE$"}}}}
  - {{id: echo, topics: ["#"], type: mqtt_publish, topic: "ack/$DEVICE$/$VARIABLE$",
      payload: "$VALUE$"}}
"""
ALL = ("store", "sms", "mail", "hook", "echo")
TOPIC = "home/kitchen/temperature"
DEVICE = "sensor-01"


def done(**other: str) -> dict[str, str]:
    """Every EVERY action `done`, except those named."""
    return {action: other.get(action, "done") for action in ALL}


@dataclass
class Observed:
    """What a case left behind, gathered by the test after the handler returned."""

    result: dict[str, Any]
    rows: list[dict[str, Any]]  # the device's bucket rows (data points), first 100
    row_count: int
    sms: list[tuple[str, str]]  # (number, text)
    subjects: list[str]
    mqtt: list[tuple[str, bytes]]
    hooks: list[dict[str, Any]]  # {"path", "headers", "body"} as the local receiver got them
    dead: list[dict[str, Any]]
    outcomes: dict[str, dict[str, Any]]  # action id -> inspector details (outcome, reason, ...)


@dataclass(frozen=True)
class Case:
    id: str
    payload: bytes | Callable[[], bytes]
    outcomes: Mapping[str, str]  # every matched action -> its outcome
    reasons: Mapping[str, str] = field(default_factory=dict)  # action -> words in its reason
    dead: tuple[str, ...] = ()  # actions whose failure is in the dead-letter queue
    topic: str | Callable[[], str] = TOPIC
    clientid: str = DEVICE
    event: Mapping[str, Any] = field(default_factory=dict)  # fields changed in the IoT event
    invalid: str | None = None  # the event is refused: words in the dead letter's reason
    actions: str = EVERY
    private_webhooks: bool = True  # WEBHOOK_ALLOW_PRIVATE: the receiver listens on 127.0.0.1
    then: Callable[[Observed], bool | None] | None = None  # asserts, or False on a mismatch

    def payload_bytes(self) -> bytes:
        return self.payload() if callable(self.payload) else self.payload

    def topic_name(self) -> str:
        return self.topic() if callable(self.topic) else self.topic


def point(variable: str = "t", value: Any = 21.5, **more: Any) -> bytes:
    return json.dumps({"variable": variable, "value": value, **more}).encode()


# ---------------------------------------------------------------- generated payloads


def points_of(size: int) -> bytes:
    """A JSON array of small valid points, as close to `size` bytes as they come."""
    out, total, i = [], 2, 0
    while True:
        item = json.dumps({"variable": "v", "value": i}, separators=(",", ":"))
        if total + len(item) + 1 > size:
            return ("[" + ",".join(out) + "]").encode()
        out.append(item)
        total += len(item) + 1
        i += 1


def nested(depth: int, inside: str = "") -> bytes:
    return ("[" * depth + inside + "]" * depth).encode()


# ---------------------------------------------------------------- checks


def _raw_base64(payload: bytes) -> Callable[[Observed], bool | None]:
    def check(seen: Observed) -> None:
        [row] = seen.rows
        assert row["variable"] == "payload"
        assert row["metadata"] == {"topic": TOPIC, "mqtt_topic": TOPIC, "encoding": "base64"}
        assert base64.b64decode(row["value"]) == payload
        assert seen.mqtt == [(f"ack/{DEVICE}/payload", row["value"].encode())]

    return check


def _raw_text(text: str) -> Callable[[Observed], bool | None]:
    def check(seen: Observed) -> None:
        [row] = seen.rows
        assert (row["variable"], row["value"]) == ("payload", text)

    return check


def _stored(count: int) -> Callable[[Observed], bool | None]:
    def check(seen: Observed) -> None:
        assert seen.row_count == count
        assert seen.outcomes["store"]["detail"]["stored"] == count
        if seen.hooks:
            assert len(json.loads(seen.hooks[0]["body"])) == count

    return check


def _no_injection(seen: Observed) -> None:
    [subject] = seen.subjects
    assert subject == "[sensor-01] t = x Bcc: x@evil.example"
    [hook] = seen.hooks
    assert hook["headers"]["X-Value"] == "x Bcc: x@evil.example"
    assert "Bcc" not in hook["headers"]
    assert hook["path"] == "/in?v=x%0D%0ABcc%3A%20x%40evil.example"
    assert seen.sms == [("+15555550100", f"{TOPIC}: t=x\r\nBcc: x@evil.example")]  # a body


def _device_injection(seen: Observed) -> None:
    [subject] = seen.subjects
    assert subject.startswith("[dev X-Evil: 1] ")
    [hook] = seen.hooks
    assert hook["headers"]["X-Device"] == "dev X-Evil: 1"
    assert "X-Evil" not in hook["headers"]


def _placeholders_stay(seen: Observed) -> None:
    value = "$TOPIC$ $DEVICE$ $PAYLOAD$"
    assert seen.sms == [("+15555550100", f"{TOPIC}: t={value}")]
    assert seen.subjects == [f"[sensor-01] t = {value}"]
    assert seen.mqtt == [(f"ack/{DEVICE}/t", value.encode())]
    assert seen.hooks[0]["headers"]["X-Value"] == value


def _surrogate_value(seen: Observed) -> None:
    assert seen.sms == [("+15555550100", f"{TOPIC}: t=\ufffd")]
    assert seen.mqtt == [(f"ack/{DEVICE}/t", "\ufffd".encode())]
    [hook] = seen.hooks
    assert hook["path"] == "/in?v=%EF%BF%BD"
    assert b'"value":"\\ud800"' in hook["body"]  # the device's escape, passed on as sent


def _non_ascii(seen: Observed) -> None:
    [hook] = seen.hooks
    assert hook["headers"]["X-MQTT-Actions-Topic"] == "casa/%E6%B8%A9%E5%BA%A6"
    assert hook["headers"]["X-Value"] == "21 %C2%B0C %F0%9F%98%80"
    assert seen.sms == [("+15555550100", "casa/温度: t=21 °C 😀")]


def _numbers_exact(seen: Observed) -> None:
    values = {row["variable"]: row["value"] for row in seen.rows}
    assert values == {"big": int("1" * 50), "tiny": 1e-200, "huge": 1e300, "zero": -0.0}


def _refused_listed(seen: Observed) -> None:
    detail = seen.outcomes["store"]["detail"]
    assert detail["refused"] == 10_000
    assert len(detail["refused_points"]) == 20
    assert seen.row_count == 0


def _long_sms_and_subject(seen: Observed) -> None:
    [(_, text)] = seen.sms
    assert len(text) == 1600
    assert text.endswith("…")
    [subject] = seen.subjects
    assert len(subject) == 998


def _hook_path(path: str) -> Callable[[Observed], bool | None]:
    def check(seen: Observed) -> None:
        assert [h["path"] for h in seen.hooks] == [path]

    return check


SSRF = """
actions:
  - {id: hook, topics: ["#"], type: webhook, url: "https://$VALUE$/in"}
"""

CASES: list[Case] = [
    # ------------------------------------------------ bytes that are not text, or not JSON
    Case("invalid-utf8", b"\xff\xfe\xfd\x00", done(), then=_raw_base64(b"\xff\xfe\xfd\x00")),
    Case("utf8-encoded-surrogate", b"\xed\xa0\x80", done(), then=_raw_base64(b"\xed\xa0\x80")),
    Case("overlong-utf8", b"\xc0\xaf", done(), then=_raw_base64(b"\xc0\xaf")),
    Case("empty", b"", done(), then=_raw_text("")),
    Case("json-scalar", b"42", done(), then=_raw_text("42")),
    Case("array-with-a-non-object", b'[{"variable": "a"}, 1]', done(),
         then=_raw_text('[{"variable": "a"}, 1]')),
    # No point: $VARIABLE$ is empty, and an empty topic level is refused (#23).
    Case("empty-array", b"[]", done(echo="refused"), then=_stored(0)),
    Case("bom-then-json", b"\xef\xbb\xbf" + point(), done(), then=_stored(1)),
    Case("nan", b'{"variable": "t", "value": NaN}', done(),
         then=_raw_text('{"variable": "t", "value": NaN}')),
    Case("minus-infinity", b'[{"variable": "t", "value": -Infinity}]', done(),
         then=_raw_text('[{"variable": "t", "value": -Infinity}]')),
    Case("float-overflow", b'{"variable": "t", "value": 1e400}', done(),
         then=_raw_text('{"variable": "t", "value": 1e400}')),
    Case("duplicate-keys", b'{"variable": "a", "variable": "b", "value": 1, "value": 2}', done(),
         then=lambda seen: [(r["variable"], r["value"]) for r in seen.rows] == [("b", 2)]),
    # ------------------------------------------------ size
    Case("128-kb-of-points", lambda: points_of(128 * 1024), done(),
         then=lambda seen: _stored(len(json.loads(points_of(128 * 1024))))(seen)),
    Case("128-kb-of-text", b"a" * 128 * 1024,
         done(store="points_refused", hook="refused"),
         reasons={"store": "value is 131,072 bytes; the limit is 6,144",
                  "hook": "webhook url renders to 131,"},
         then=_long_sms_and_subject),
    Case("1-mb-value", lambda: point("big", "x" * 2**20),
         done(store="points_refused", hook="refused", echo="refused"),
         reasons={"store": "value is 1,048,576 bytes", "hook": "webhook url renders to",
                  "echo": "payload is 1,048,576 bytes; IoT Core accepts at most 131,072"},
         then=_long_sms_and_subject),
    Case("10000-points",
         lambda: json.dumps([{"variable": "v", "value": i} for i in range(10_000)]).encode(),
         done(), then=_stored(10_000)),
    Case("10000-refused-points", json.dumps([{"value": i} for i in range(10_000)]).encode(),
         done(store="points_refused", echo="refused"),
         reasons={"store": "10,000 of 10,000 data points refused; point 0: missing 'variable'"},
         then=_refused_listed),
    # ------------------------------------------------ depth
    Case("array-nested-10000-deep", lambda: nested(10_000),
         done(store="points_refused", hook="refused"),
         reasons={"store": "value is 20,000 bytes", "hook": "webhook url renders to"}),
    Case("value-nested-10000-deep",
         lambda: b'{"variable": "t", "value": ' + nested(10_000) + b"}",
         done(store="points_refused", hook="refused"),
         reasons={"store": "value is 20,028 bytes", "hook": "webhook url renders to"}),
    Case("metadata-nested-500-deep",
         lambda: b'{"variable": "t", "value": 1, "metadata": {"a": ' + nested(500) + b"}}",
         done(store="points_refused"), reasons={"store": "metadata is nested more than 32"}),
    Case("metadata-nested-31-deep",
         lambda: b'{"variable": "t", "value": 1, "metadata": {"a": ' + nested(31) + b"}}",
         done(), then=_stored(1)),
    # ------------------------------------------------ numbers DynamoDB cannot hold as such
    Case("numbers-past-dynamodb",
         json.dumps([{"variable": "big", "value": int("1" * 50)},
                     {"variable": "tiny", "value": 1e-200},
                     {"variable": "huge", "value": 1e300},
                     {"variable": "zero", "value": -0.0}]).encode(),
         done(), then=_numbers_exact),
    # ------------------------------------------------ topics
    Case("dollar-topic-matched", point(), {"store": "done"},
         topic="$aws/things/t1/shadow/update"),
    Case("dollar-topic-unmatched", point(), {}, topic="$SYS/broker/load"),
    Case("topic-65535-bytes", point(), done(store="points_refused", hook="refused"),
         topic=lambda: "a/" + "b" * 65_533,
         reasons={"store": "metadata is 131,0", "hook": "HTTP 431"}),
    Case("topic-65536-bytes", point(), {}, topic=lambda: "a/" + "b" * 65_534),
    Case("non-ascii-topic-and-value", point(value="21 °C 😀"), done(), topic="casa/温度",
         then=_non_ascii),
    # ------------------------------------------------ values that reach headers, bodies, URLs
    Case("crlf-in-value", point(value="x\r\nBcc: x@evil.example"), done(), then=_no_injection),
    Case("crlf-in-client-id", point(), done(), clientid="dev\r\nX-Evil: 1",
         then=_device_injection),
    Case("placeholders-in-value", point(value="$TOPIC$ $DEVICE$ $PAYLOAD$"), done(),
         then=_placeholders_stay),
    Case("nul-in-value", point(value="a\x00b"), done(),
         then=lambda seen: seen.subjects == ["[sensor-01] t = a b"]),
    Case("wildcard-in-variable", point("a+b"), done(echo="refused"),
         reasons={"echo": "$VARIABLE$ holds '+'"}),
    Case("slashes-in-variable", point("../../../../../../x"), done(echo="refused"),
         reasons={"echo": "$VARIABLE$ holds '/'"}),
    Case("path-in-value", point(value="../../admin?x=1#f"), done(),
         then=_hook_path("/in?v=..%2F..%2Fadmin%3Fx%3D1%23f")),
    Case("lone-surrogate-in-value", b'{"variable": "t", "value": "\\ud800"}',
         done(store="points_refused"),
         reasons={"store": "value holds a lone surrogate U+D800"}, then=_surrogate_value),
    Case("lone-surrogate-in-variable", b'{"variable": "t\\udfff", "value": 1}',
         done(store="points_refused"), reasons={"store": "variable holds a lone surrogate"},
         then=lambda seen: seen.mqtt == [(f"ack/{DEVICE}/t\ufffd", b"1")]),
    Case("hops-past-the-limit", point(), done(echo="loop_refused"), event={"hops": ["99"]},
         reasons={"echo": "MAX_HOPS=4"}),
    # ------------------------------------------------ a value as the webhook's host (SSRF)
    # A device's value can no longer choose a webhook's host: a placeholder in the host is refused
    # when the actions file is applied (#23, tests/unit/test_webhook.py and test_actions.py), so
    # the former runtime cases `ssrf-metadata-address` and `ssrf-localhost-name` cannot occur.
    # ------------------------------------------------ events that are not what IoT Core sends
    Case("payload-not-base64", b"", {}, event={"payload": "%%%"}, invalid="not base64"),
    Case("payload-not-text", b"", {}, event={"payload": 42}, invalid="payload"),
    Case("empty-topic", b"", {}, event={"topic": ""}, invalid="topic"),
    Case("negative-timestamp", b"", {}, event={"timestamp": -1}, invalid="timestamp"),
    Case("client-id-over-128", b"", {}, event={"clientid": "c" * 3000}, invalid="clientid"),
    Case("traceid-over-128", b"", {}, event={"traceid": "t" * 3000}, invalid="traceid"),
    Case("lone-surrogate-in-topic", b"", {}, event={"topic": "a/\ud800"}, invalid="topic"),
]  # fmt: skip
