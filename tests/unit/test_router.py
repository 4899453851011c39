"""The routing rules as a table: (topic, payload, actions) -> one outcome per matched action, and
what the adapters were asked to do. Every port is in memory (tests/support/router_fakes.py): no
AWS, no moto, milliseconds. The same rules against moto: tests/integration/test_router.py."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest

from mqtt_actions.actions import WebhookAction, parse_actions
from mqtt_actions.reservations import ReservingRateLimiter
from mqtt_actions.router import route
from tests.support.analysis_fakes import FakeRateLimiter
from tests.support.lambda_env import router_settings
from tests.support.router_fakes import SETTINGS, Memory, event, in_memory_deps

STORE = {"id": "store", "topics": ["home/+/temperature"], "type": "insert_bucket"}
HOT_SMS = {
    "id": "hot",
    "topics": ["home/#"],
    "type": "sms",
    "to": ["+15555550100"],
    "message": "$DEVICE$: $VALUE$",
    "when": [{"variable": "temperature", "op": ">", "value": 30}],
}
ECHO = {"id": "echo", "topics": ["cmd/+"], "type": "mqtt_publish", "topic": "ack/$DEVICE$"}
HOOK = {"id": "hook", "topics": ["#"], "type": "webhook", "url": "https://hooks.example/in"}
OFF = {"id": "off", "topics": ["home/#"], "type": "insert_bucket", "enabled": False}
ANALYSE = {"id": "forecast", "topics": ["home/#"], "type": "run_analysis", "analyses": ["f"]}

HOT = {"variable": "temperature", "value": 31.5}
MILD = {"variable": "temperature", "value": 21}

# (case, topic, payload, actions, extra event fields, expected {action id: outcome})
TABLE: list[tuple[str, str, object, list[dict[str, Any]], dict[str, Any], dict[str, str]]] = [
    ("exact-level-with-plus", "home/kitchen/temperature", HOT, [STORE], {}, {"store": "done"}),
    ("plus-is-one-level-only", "home/a/b/temperature", HOT, [STORE], {}, {}),
    ("hash-matches-the-parent", "home", HOT, [HOT_SMS], {}, {"hot": "done"}),
    ("hash-skips-dollar-topics", "$aws/things/x", HOT, [HOOK], {}, {}),
    ("condition-holds", "home/k/temperature", HOT, [STORE, HOT_SMS], {}, {"store": "done", "hot": "done"}),  # noqa: E501
    ("condition-false", "home/k/temperature", MILD, [HOT_SMS], {}, {"hot": "condition_false"}),
    ("condition-needs-its-variable", "home/k", b"not json", [HOT_SMS], {}, {"hot": "condition_false"}),  # noqa: E501
    ("disabled-action-never-matches", "home/k/temperature", HOT, [OFF, STORE], {}, {"store": "done"}),  # noqa: E501
    ("publish-under-the-hop-limit", "cmd/sensor-01", {}, [ECHO], {"hops": 1}, {"echo": "done"}),
    ("publish-loop-refused", "cmd/sensor-01", {}, [ECHO], {"hops": 2}, {"echo": "loop_refused"}),
    ("analysis-loop-refused", "home/k", HOT, [ANALYSE], {"hops": 2}, {"forecast": "loop_refused"}),
    ("only-the-replayed-action", "home/k/temperature", HOT, [STORE, HOT_SMS], {"only_actions": ["hot"]}, {"hot": "done"}),  # noqa: E501
    ("every-type-at-once", "home/k/temperature", HOT, [STORE, HOT_SMS, HOOK, ANALYSE], {}, {"store": "done", "hot": "done", "hook": "done", "forecast": "done"}),  # noqa: E501
]  # fmt: skip


@pytest.mark.parametrize(
    ("topic", "payload", "actions", "extra", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_routing_table(
    topic: str,
    payload: object,
    actions: list[dict[str, Any]],
    extra: dict[str, Any],
    expected: dict[str, str],
) -> None:
    memory = Memory()
    deps = in_memory_deps(parse_actions({"actions": actions}), memory, clock=lambda: 1000.0)

    summary = route(event(topic, payload, **extra), deps, SETTINGS)

    assert {r.action_id: r.outcome.value for r in summary.results} == expected
    assert [m.matched for m in memory.messages] == [len(expected)]  # one record per message
    assert memory.outcomes == list(summary.results)
    ran = {a for a, o in expected.items() if o == "done"}
    assert bool(memory.rows) == ("store" in ran)
    assert len(memory.sms) == ("hot" in ran)
    assert len(memory.published) == ("echo" in ran)
    assert memory.invoked == (["ForecastFunction"] if "forecast" in ran else [])
    assert memory.posted == (["https://hooks.example/in"] if "hook" in ran else [])
    assert memory.dead_letters == []


def test_what_the_actions_were_given() -> None:
    memory = Memory()
    deps = in_memory_deps(
        parse_actions({"actions": [STORE, HOT_SMS, ECHO]}), memory, clock=lambda: 1000.0
    )
    route(event("home/sensor-01/temperature", HOT), deps, SETTINGS)
    route(event("cmd/sensor-01", b"reboot", traceid="t-2", hops=1), deps, SETTINGS)

    [(device, row)] = memory.rows
    assert (device, row["variable"], row["value"]) == ("sensor-01", "temperature", 31.5)
    assert memory.sms == [("+15555550100", "sensor-01: 31.5")]
    assert memory.published == [("ack/sensor-01", b"reboot", 2)]  # one hop further


def test_a_failed_action_is_dead_lettered_alone_and_the_others_run() -> None:
    memory = Memory(failing_urls={"https://hooks.example/in"})
    deps = in_memory_deps(parse_actions({"actions": [STORE, HOOK]}), memory, clock=lambda: 1.0)

    summary = route(event("home/k/temperature", HOT), deps, SETTINGS)

    assert {r.action_id: r.outcome.value for r in summary.results} == {
        "store": "done",
        "hook": "failed",
    }
    [letter] = memory.dead_letters
    assert (letter["kind"], letter["action_id"]) == ("action_failed", "hook")
    assert letter["reason"] == "HTTP 500 from the receiver"
    assert letter["event"]["traceid"] == "t-1"
    assert "local_qos" not in letter["event"]


def test_a_second_delivery_repeats_no_side_effect_but_rewrites_the_rows() -> None:
    memory = Memory()
    deps = in_memory_deps(parse_actions({"actions": [STORE, HOT_SMS]}), memory, clock=lambda: 1.0)
    first = route(event("home/k/temperature", HOT), deps, SETTINGS)
    again = route(event("home/k/temperature", HOT), deps, SETTINGS)

    assert [r.outcome.value for r in first.results] == ["done", "done"]
    assert [r.outcome.value for r in again.results] == ["done", "duplicate"]
    assert len(memory.sms) == 1
    assert len(memory.rows) == 2  # insert_bucket runs again: same keys, the same rows rewritten


def test_the_rate_limit_throttles_within_its_window_only() -> None:
    limited = HOT_SMS | {"rate_limit": {"max": 1, "per_seconds": 60}}
    now = [1000.0]
    memory = Memory()
    deps = in_memory_deps(parse_actions({"actions": [limited]}), memory, clock=lambda: now[0])

    outcomes = []
    for n, at in enumerate([1000.0, 1030.0, 1061.0]):
        now[0] = at
        summary = route(event("home/k", HOT, traceid=f"t-{n}"), deps, SETTINGS)
        outcomes += [r.outcome.value for r in summary.results]

    assert outcomes == ["done", "throttled", "done"]
    assert len(memory.sms) == 2


# ---------------------------------------------------------------- issue #23: steering attacks


def test_a_device_value_cannot_steer_a_webhook_to_another_host() -> None:
    """An action stored before the apply-time check (`https://hooks.example.com$VALUE$/in`)
    with the value `.attacker.example` would have posted to hooks.example.com.attacker.example."""
    memory = Memory()
    hook = WebhookAction.model_construct(
        id="hook", topics=["#"], type="webhook", url="https://hooks.example.com$VALUE$/in",
        headers={"Authorization": "Bearer s3cret"}, enabled=True, when=[], rate_limit=None,
        allow_http=False, timeout_seconds=5.0, max_retries=0, name=None,
    )  # fmt: skip
    deps = in_memory_deps([hook], memory, clock=lambda: 1.0)

    summary = route(event("a/b", {"variable": "v", "value": ".attacker.example"}), deps, SETTINGS)

    [result] = summary.results
    assert (result.outcome.value, memory.posted) == ("refused", [])
    assert "placeholder in its host" in str(result.reason)


def test_placeholders_in_a_webhook_path_are_percent_encoded() -> None:
    memory = Memory()
    hook = HOOK | {"url": "https://hooks.example/in/$VALUE$?d=$DEVICE$"}
    deps = in_memory_deps(parse_actions({"actions": [hook]}), memory, clock=lambda: 1.0)

    route(event("a/b", {"variable": "v", "value": "x/../@evil.example?#"}), deps, SETTINGS)

    assert memory.posted == ["https://hooks.example/in/x%2F..%2F%40evil.example%3F%23?d=b"]


def test_a_device_value_cannot_steer_an_mqtt_publish_to_another_topic() -> None:
    """Topic `cmd/$VARIABLE$` with variable `sensor-02/reboot` reached another device's command
    topic; a placeholder now fills one level only."""
    memory = Memory()
    relay = {"id": "relay", "topics": ["in/+"], "type": "mqtt_publish", "topic": "cmd/$VARIABLE$"}
    deps = in_memory_deps(parse_actions({"actions": [relay]}), memory, clock=lambda: 1.0)

    summary = route(event("in/sensor-01", {"variable": "sensor-02/reboot"}), deps, SETTINGS)

    [result] = summary.results
    assert (result.outcome.value, memory.published) == ("refused", [])
    assert "$VARIABLE$ holds '/'" in str(result.reason)


@pytest.mark.parametrize(
    ("payload", "preview", "encoding"),
    [
        pytest.param(b'{"t": 21.5}', '{"t": 21.5}', None, id="text"),
        pytest.param("é".encode() * 600, "é" * 512 + "…", None, id="text cut mid-character"),
        pytest.param(b"\x00\xff\x10", "AP8Q", "base64", id="bytes as base64"),
        pytest.param(b"\x01\x02", "AQI=", "base64", id="utf-8 control bytes are bytes"),
        pytest.param(bytes(300), base64.b64encode(bytes(192)).decode(), "base64", id="cut"),
    ],
)
def test_the_inspector_gets_text_or_base64_never_replacement_characters(
    payload: bytes, preview: str, encoding: str | None
) -> None:
    memory = Memory()
    route(event("home/k/raw", payload), in_memory_deps([], memory, clock=lambda: 1000.0), SETTINGS)
    [message] = memory.messages
    assert (message.preview, message.encoding, message.size) == (preview, encoding, len(payload))
    assert "\ufffd" not in message.preview


def test_an_mqtt_publish_outside_the_declared_prefixes_is_refused_at_run_time() -> None:
    """The router's iot:Publish covers ActionPublishPrefixes only: an action stored before the
    parameter changed is refused with the parameter named, not failed by IoT at each message."""
    memory = Memory()
    actions = [
        {"id": "ok", "topics": ["in/+"], "type": "mqtt_publish", "topic": "ack/$DEVICE$"},
        {"id": "out", "topics": ["in/+"], "type": "mqtt_publish", "topic": "cmd/$DEVICE$"},
    ]
    deps = in_memory_deps(parse_actions({"actions": actions}), memory, clock=lambda: 1.0)
    settings = router_settings(ACTION_PUBLISH_PREFIXES="ack,alerts")

    summary = route(event("in/sensor-01", {"variable": "v"}), deps, settings)

    outcomes = {r.action_id: (r.outcome.value, r.reason) for r in summary.results}
    assert outcomes["ok"] == ("done", None)
    assert outcomes["out"][0] == "refused"
    assert "ActionPublishPrefixes: ack/..., alerts/..." in str(outcomes["out"][1])
    assert [topic for topic, *_ in memory.published] == ["ack/sensor-01"]


def test_a_message_the_stack_published_is_attributed_to_who_published_it() -> None:
    # An action's publish goes out through iot-data naming the action; when that message comes
    # back through the rule (clientid() is "n/a"), the inspector files it as the action's.
    memory = Memory()
    deps = in_memory_deps(parse_actions({"actions": [ECHO]}), memory, clock=lambda: 1000.0)
    route(event("cmd/sensor-01", b"reboot"), deps, SETTINGS)
    assert memory.publish_sources == ["action/echo"]

    back = {"clientid": "n/a", "source": ["action/echo"], "hops": ["1"]}
    route(event("ack/sensor-01", b"reboot", traceid="t-2", **back), deps, SETTINGS)
    assert (memory.messages[-1].device, memory.messages[-1].source) == ("n/a", "action/echo")


def test_a_device_cannot_claim_to_be_an_action() -> None:
    memory = Memory()
    deps = in_memory_deps(parse_actions({"actions": [STORE]}), memory, clock=lambda: 1000.0)
    claim = {"source": ["action/store"]}  # an MQTT 5 user property a device may send
    route(event("home/sensor-01/temperature", HOT, **claim), deps, SETTINGS)
    assert (memory.messages[-1].device, memory.messages[-1].source) == ("sensor-01", None)


STORE_ALL = {"id": "store-all", "topics": ["#"], "type": "insert_bucket"}


def _points(count: int) -> list[dict[str, Any]]:
    return [{"variable": f"v{i}", "value": i} for i in range(count)]


def test_a_message_over_the_points_cap_is_stored_not_at_all_and_dead_lettered() -> None:
    """One 119 KB message stored 4,000 bucket rows (issue #23); MaxPointsPerMessage caps it."""
    memory = Memory()
    deps = in_memory_deps(parse_actions({"actions": [STORE_ALL]}), memory, clock=lambda: 1.0)
    settings = router_settings(MAX_POINTS_PER_MESSAGE="500")

    summary = route(event("dev/flood", _points(4000)), deps, settings)

    [result] = summary.results
    assert (result.outcome.value, memory.rows) == ("refused", [])
    assert "4,000 data points" in str(result.reason)
    assert "MaxPointsPerMessage" in str(result.reason)
    assert result.detail == {"cap": "MaxPointsPerMessage", "max": 500, "points": 4000, "stored": 0}
    [letter] = memory.dead_letters
    assert (letter["action_id"], letter["reason"]) == ("store-all", result.reason)
    assert [o.outcome.value for o in memory.outcomes] == ["refused"]  # in the inspector

    route(event("dev/ok", _points(500)), deps, settings)
    assert len(memory.rows) == 500


def test_a_device_over_its_points_a_minute_is_throttled_and_dead_lettered() -> None:
    memory = Memory()
    now = [0.0]
    deps = in_memory_deps(parse_actions({"actions": [STORE_ALL]}), memory, clock=lambda: now[0])
    settings = router_settings(MAX_POINTS_PER_DEVICE_MINUTE="10")

    def send(device: str, count: int, n: int) -> str:
        summary = route(event(f"t/{device}", _points(count), traceid=f"t-{n}"), deps, settings)
        return summary.results[0].outcome.value

    assert [send("dev", 4, 1), send("dev", 4, 2), send("dev", 4, 3)] == [
        "done",
        "done",
        "throttled",
    ]
    assert send("other", 10, 4) == "done"  # per device
    [letter] = memory.dead_letters
    assert "MaxPointsPerDeviceMinute" in letter["reason"]
    assert letter["event"]["traceid"] == "t-3"
    assert len(memory.rows) == 18
    now[0] = 61.0  # the next minute
    assert send("dev", 4, 5) == "done"


def test_the_points_cap_goes_through_the_points_limiter_when_the_router_has_one() -> None:
    """The router gives a ReservingRateLimiter (one shared write a block of points, not one a
    message); the cap it enforces is the same."""
    memory = Memory()
    shared = FakeRateLimiter()
    deps = dataclasses.replace(
        in_memory_deps(parse_actions({"actions": [STORE_ALL]}), memory, clock=lambda: 1.0),
        points_limiter=ReservingRateLimiter(shared),
    )
    settings = router_settings(MAX_POINTS_PER_DEVICE_MINUTE="500")

    outcomes = [
        route(event("t/dev", _points(4), traceid=f"t-{n}"), deps, settings).results[0].outcome.value
        for n in range(130)
    ]

    assert outcomes == ["done"] * 125 + ["throttled"] * 5  # 125 x 4 = 500
    assert len(memory.rows) == 500
    assert len(shared.keys) < 130 // 2  # blocks of 10 points: far fewer shared writes
    assert shared.counts[("points#dev", 0)] == 500


def test_a_capped_replay_keeps_its_dead_letter_and_writes_no_other() -> None:
    """`dlq replay` keeps a record whose replay is throttled or refused again: the router must
    not add a second one for the same message."""
    memory = Memory()
    deps = in_memory_deps(parse_actions({"actions": [STORE_ALL]}), memory, clock=lambda: 1.0)
    settings = router_settings(MAX_POINTS_PER_MESSAGE="10")
    replay = event("t/dev", _points(11), only_actions=["store-all"])

    [result] = route(replay, deps, settings).results

    assert (result.outcome.value, memory.dead_letters) == ("refused", [])


def test_the_inspector_shows_a_webhook_url_without_its_secrets() -> None:
    """A Slack-style URL and a query token were recorded in plain text (issue #23)."""
    memory = Memory()
    url = "https://hooks.example/services/T01/B02/Xy12Zq34Rt56Uv78Wx90Ab12?token=t0k3n-abcdef"
    hook = {"id": "hook", "topics": ["a/+"], "type": "webhook", "url": url}
    deps = in_memory_deps(parse_actions({"actions": [hook]}), memory, clock=lambda: 1.0)

    [result] = route(event("a/b", {"variable": "v"}), deps, SETTINGS).results

    assert memory.posted == [url]
    assert result.detail["url"] == "https://hooks.example/services/T01/B02/••••Ab12?token=••••cdef"
    assert "Xy12Zq34" not in str(memory.outcomes)
