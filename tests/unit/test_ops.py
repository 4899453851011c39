"""The operations layer's pure parts: the apply plan, secrets masked in pages, the topic tree,
the devices seen, and a follow that yields each entry once."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pytest

from mqtt_actions.actions import Action, parse_actions
from mqtt_actions.inspector import EntryType, InspectorEntry
from mqtt_actions_cli.ops import actions as ops_actions
from mqtt_actions_cli.ops import devices, inspector, notifications, topics
from mqtt_actions_cli.target import Target


def acts(*specs: dict[str, Any]) -> list[Action]:
    base = {"topics": ["a/#"], "type": "insert_bucket"}
    return parse_actions({"actions": [base | s for s in specs]})


A, B, C = {"id": "a"}, {"id": "b"}, {"id": "c"}


@pytest.mark.parametrize(
    ("wanted", "stored", "prune", "expected"),
    [
        pytest.param([A, B], [], False, {"created": ["a", "b"]}, id="all new"),
        pytest.param([A], [A], False, {"unchanged": ["a"]}, id="identical"),
        pytest.param(
            [A | {"enabled": False}], [A], False, {"updated": ["a"]}, id="a changed field"
        ),
        pytest.param([A], [A, B], False, {"unchanged": ["a"], "kept": ["b"]}, id="kept"),
        pytest.param([A], [A, B], True, {"unchanged": ["a"], "remove": ["b"]}, id="pruned"),
        pytest.param(
            [C, A], [A, B], True, {"created": ["c"], "unchanged": ["a"], "remove": ["b"]}, id="mix"
        ),
    ],
)
def test_the_apply_plan(
    wanted: list[dict[str, Any]],
    stored: list[dict[str, Any]],
    prune: bool,
    expected: dict[str, list[str]],
) -> None:
    plan = ops_actions.plan(acts(*wanted), acts(*stored), stored_ids=[], prune=prune)
    empty = {
        "created": [],
        "updated": [],
        "unchanged": [],
        "remarked": [],
        "remove": [],
        "kept": [],
    }
    assert plan.model_dump() == empty | expected


def test_unchanged_but_unmarked_actions_are_rewritten() -> None:
    plan = ops_actions.plan(acts(A, B), acts(A, B), unmarked={"b"})
    assert (plan.unchanged, plan.remarked) == (["a", "b"], ["b"])


def test_prune_also_removes_stored_rows_that_no_longer_load() -> None:
    plan = ops_actions.plan(acts(A), acts(A), stored_ids=["a", "broken"], prune=True)
    assert plan.remove == ["broken"]
    assert ops_actions.plan(acts(A), acts(A), stored_ids=["a", "broken"]).remove == []


def test_webhook_header_values_are_masked_to_their_last_four_characters() -> None:
    [hook] = parse_actions(
        {
            "actions": [
                {
                    "id": "h",
                    "topics": ["#"],
                    "type": "webhook",
                    "url": "https://example.com/in",
                    "headers": {"X-Key": "s3cret-value-1234", "X-Short": "abc"},
                }
            ]
        }
    )
    shown = ops_actions.masked_config(hook)["headers"]
    assert shown == {"X-Key": "••••1234", "X-Short": "••••"}
    assert "s3cret" not in str(shown)


def entry(device: str, kind: EntryType, time: int, **details: Any) -> InspectorEntry:
    return InspectorEntry(
        device=device, type=kind, time=time, uid=f"{device}-{time}", details=details
    )


def test_a_dry_run_shows_webhook_secrets_masked_and_the_rest_as_sent() -> None:
    """The console's test panel and `actions test --json` showed the header values and a
    Slack-style URL's secret in clear (issue #23 masked them everywhere else)."""
    secret = "Xy12Zq34Rt56Uv78Wx90Ab12"
    [hook] = acts(
        {
            "id": "hook",
            "type": "webhook",
            "url": f"https://hooks.example/services/T01/B02/{secret}?token=t0k3n-abcdef",
            "headers": {"Authorization": "Bearer s3cret-value-1234", "X-Device": "$DEVICE$"},
        }
    )

    result = ops_actions.dryrun(None, "a/x", b'{"variable":"t","value":1}', actions=[hook])

    [preview] = result.actions
    [(kind, sent)] = preview.effects
    assert kind == "webhook"
    assert sent["url"] == "https://hooks.example/services/T01/B02/••••Ab12?token=••••cdef"
    assert sent["headers"]["Authorization"] == "••••1234"
    assert sent["headers"]["X-Device"] == ops_actions.mask(result.device)  # a secret by rule
    assert sent["headers"]["X-MQTT-Actions-Topic"] == "a/x"  # the stack's own: shown
    assert sent["headers"]["Content-Type"] == "application/json"
    assert preview.would_send == [{"kind": "webhook", **sent}]
    shown = result.model_dump_json()
    assert [s for s in (secret, "s3cret", "t0k3n") if s in shown] == []


def test_the_topic_tree_counts_messages_and_keeps_the_last_payload() -> None:
    entries = [
        entry("s1", EntryType.PUBLISH, 1, topic="home/kitchen/temp", preview="20"),
        entry("s2", EntryType.PUBLISH, 2, topic="home/kitchen/temp", preview="21"),
        entry("s1", EntryType.PUBLISH, 3, topic="home/door", preview="open"),
        entry("s1", EntryType.CONNECT, 4),
    ]
    [home] = topics.tree(entries)
    assert (home.path, home.total, home.topic) == ("home", 3, False)
    door, kitchen = home.children
    assert (door.path, door.count, door.last_payload) == ("home/door", 1, "open")
    [temp] = kitchen.children
    assert (temp.count, temp.last_payload, temp.last_device, temp.last_time) == (2, "21", "s2", 2)


def test_actions_matching_a_topic() -> None:
    found = topics.matching(
        acts({"id": "x", "topics": ["home/+/temp"]}, {"id": "y", "topics": ["b"]}), "home/k/temp"
    )
    assert [a.id for a in found] == ["x"]


def test_devices_seen_connected_now_or_last_seen() -> None:
    entries = [
        entry("s1", EntryType.CONNECT, 1, ip="10.0.0.1"),
        entry("s2", EntryType.CONNECT, 2),
        entry("s1", EntryType.PUBLISH, 3, topic="t"),
        entry("s2", EntryType.DISCONNECT, 4),
    ]
    s2, s1 = devices.pure_seen(entries)
    assert (s1.device, s1.connected, s1.last_seen, s1.messages, s1.ip) == (
        "s1",
        True,
        3,
        1,
        "10.0.0.1",
    )
    assert (s2.device, s2.connected, s2.last_event) == ("s2", False, "disconnect")


class FakeInspector:
    def __init__(self) -> None:
        self.entries: list[InspectorEntry] = []
        self.calls = 0

    def __call__(
        self,
        *,
        device: str | None = None,
        since_ms: int = 0,
        until_ms: int | None = None,
        types: Collection[EntryType | str] | None = None,
        limit: int = 100,
    ) -> list[InspectorEntry]:
        self.calls += 1
        wanted = None if types is None else {str(getattr(t, "value", t)) for t in types}
        return [
            e
            for e in sorted(self.entries, key=lambda e: e.sk)
            if e.time >= since_ms
            and (until_ms is None or e.time <= until_ms)
            and (wanted is None or e.type.value in wanted)
        ][-limit:]


def _outcome(time: int, n: int, kind: str = "notification") -> InspectorEntry:
    return InspectorEntry(
        device="d",
        type=EntryType.ACTION,
        time=time,
        uid=f"t{n}:a{n}",
        traceid=f"t{n}",
        details={"action_type": kind, "action_id": f"an:{kind}:{n}", "detail": {"title": f"n{n}"}},
    )


def test_notifications_are_found_behind_any_number_of_other_outcomes() -> None:
    """The page read the newest 5,000 action outcomes once: on a busy stack an older notification
    in the range was not shown, and nothing said so."""
    fake = FakeInspector()
    fake.entries += [_outcome(1_000, 0), _outcome(1_000, 1)]  # the two oldest, same millisecond
    fake.entries += [_outcome(2_000 + n // 3, n, "insert_bucket") for n in range(2, 50)]
    fake.entries += [_outcome(1_000, n, "insert_bucket") for n in range(50, 60)]  # ties with them

    found = notifications.recent(fake, since_ms=0, page=7)

    assert [n["title"] for n in found.found] == ["n1", "n0"]
    assert (found.complete, found.searched_to_ms) == (True, 0)
    assert fake.calls > 60 // 7  # it paged


def test_notifications_stop_at_the_limit_or_say_how_far_they_searched() -> None:
    fake = FakeInspector()
    fake.entries += [_outcome(n, n, "insert_bucket") for n in range(100)]
    fake.entries += [_outcome(100 + n, 100 + n) for n in range(5)]

    assert [n["title"] for n in notifications.recent(fake, since_ms=0, limit=2).found] == [
        "n104",
        "n103",
    ]
    partial = notifications.recent(fake, since_ms=0, page=10, max_pages=3)
    assert [n["title"] for n in partial.found] == [f"n{n}" for n in range(104, 99, -1)]
    assert not partial.complete
    assert 0 < partial.searched_to_ms <= 100


def test_follow_yields_every_entry_once_and_empty_polls() -> None:
    fake = FakeInspector()
    fake.entries.append(entry("s1", EntryType.CONNECT, 1_000))
    now = [2.0]
    arrivals = iter(
        [[entry("s1", EntryType.PUBLISH, 1_500)], [], [entry("s2", EntryType.CONNECT, 2_500)]]
    )

    def sleep(_seconds: float) -> None:
        fake.entries.extend(next(arrivals))
        now[0] += 1

    batches = list(
        inspector.follow(fake, since_ms=0, clock=lambda: now[0], sleep=sleep, max_polls=3)
    )
    assert [[e.time for e in b] for b in batches] == [[1_000], [1_500], [], [2_500]]


def test_follow_reaches_further_back_when_entries_arrive_late() -> None:
    """A writer falling behind stores entries later and later: the window follows it."""
    fake = FakeInspector()
    now = [10.0]
    stored_late = iter([800, 1_500, 2_900])  # how late each poll's new entry is stored, ms

    def sleep(_seconds: float) -> None:
        now[0] += 1
        late = next(stored_late)
        fake.entries.append(entry("s1", EntryType.PUBLISH, int(now[0] * 1000) - late))

    batches = list(
        inspector.follow(
            fake, since_ms=0, lookback_ms=1_000, clock=lambda: now[0], sleep=sleep, max_polls=3
        )
    )
    assert [len(b) for b in batches] == [0, 1, 1, 1]


def fast_follow(read: Any, now: list[float], sleep: Any, **kw: Any) -> list[list[InspectorEntry]]:
    """A console's follower (6 s look-back, the last second on most polls) on a fake clock."""
    return list(
        inspector.follow(
            read,
            since_ms=0,
            lookback_ms=6_000,
            recent_ms=1_000,
            clock=lambda: now[0],
            sleep=sleep,
            **kw,
        )
    )


def test_a_fast_follower_reads_the_recent_window_and_sweeps_the_whole_one() -> None:
    """Most polls read the last second; every 3rd the whole look-back, so an entry stored very
    late (a retry) still comes, once."""
    fake = FakeInspector()
    asked: list[int] = []

    def read(**kw: Any) -> list[InspectorEntry]:
        asked.append(kw["since_ms"])
        return fake(**kw)

    now = [100.0]

    def sleep(_seconds: float) -> None:
        now[0] += 1
        if now[0] == 101:  # stored 4 s late: outside the recent second
            fake.entries.append(entry("s1", EntryType.ACTION, 97_000))

    batches = fast_follow(read, now, sleep, sweep_polls=3, max_polls=4)
    assert [len(b) for b in batches] == [0, 0, 0, 1, 0]
    # polls 1-2 read the last second (from when the read before began), poll 3 sweeps 6 s and
    # finds the entry 6 s late: poll 4 then reaches back twice that.
    assert asked[1:] == [99_000, 100_000, 96_000, 91_000]


def test_what_is_stored_while_a_slow_read_runs_still_comes() -> None:
    """A console's first read can take seconds on a busy machine: an entry stored meanwhile is
    older than the next poll's recent second, and must not be left behind."""
    fake = FakeInspector()
    now = [100.0]
    reads = [0]

    def read(**kw: Any) -> list[InspectorEntry]:
        found = fake(**kw)
        reads[0] += 1
        if reads[0] == 1:  # the first read takes 5 s; a publish of 100.5 s is stored meanwhile
            now[0] += 5
            fake.entries.append(entry("s1", EntryType.PUBLISH, 100_500))
        return found

    def sleep(seconds: float) -> None:
        now[0] += seconds

    batches = fast_follow(read, now, sleep, sweep_polls=10, poll_seconds=0.2, max_polls=2)
    assert [[e.time for e in b] for b in batches] == [[], [100_500], []]


class FakeIotData:
    """iot-data's ListRetainedMessages in pages of two, and GetRetainedMessage."""

    class exceptions:  # noqa: N801 - as boto3 names it
        class ResourceNotFoundException(Exception):  # noqa: N818 - as boto3 names it
            pass

    def __init__(self, topics: list[str]) -> None:
        self.topics = topics
        self.asked: list[dict[str, Any]] = []

    def list_retained_messages(self, **kw: Any) -> dict[str, Any]:
        self.asked.append(kw)
        start = int(kw.get("nextToken", "0"))
        page = [
            {"topic": t, "payloadSize": len(t), "qos": 1, "lastModifiedTime": 0}
            for t in self.topics[start : start + 2]
        ]
        more = start + 2 < len(self.topics)
        return {"retainedTopics": page} | ({"nextToken": str(start + 2)} if more else {})

    def get_retained_message(self, *, topic: str) -> dict[str, Any]:
        if topic not in self.topics:
            raise self.exceptions.ResourceNotFoundException(topic)
        return {"topic": topic, "payload": b"\x00kept"}


def test_retained_messages_are_listed_page_by_page() -> None:
    fake = FakeIotData(["z/1", "a/2", "m/3"])
    target = Target(
        kind="local", name="local", outputs={}, region="us-east-1", client_factory=lambda _s: fake
    )
    found = topics.retained(target)
    assert [(r.topic, r.size, r.qos, r.time) for r in found] == [
        ("a/2", 3, 1, None),  # a time of 0 is not known
        ("m/3", 3, 1, None),
        ("z/1", 3, 1, None),
    ]
    assert fake.asked == [{"maxResults": 200}, {"maxResults": 200, "nextToken": "2"}]
    assert topics.retained_payload(target, "a/2") == b"\x00kept"
    assert topics.retained_payload(target, "nope") is None


def test_the_devices_page_lists_devices_refusals_and_stack_publishers_apart() -> None:
    entries = [
        entry("s1", EntryType.CONNECT, 1, ip="10.0.0.1"),
        entry("s1", EntryType.PUBLISH, 2, topic="cmd/s1"),
        entry("ESP32", EntryType.CONNECT_FAILED, 3, reason="AUTHORIZATION_FAILURE", ip="10.0.0.9"),
        entry("ESP32", EntryType.CONNECT_FAILED, 5, reason="AUTHORIZATION_FAILURE"),
        entry("n/a", EntryType.PUBLISH, 4, topic="ack/s1", by="action/echo"),
        entry("n/a", EntryType.PUBLISH, 6, topic="ack/s1", by="action/echo"),
        entry("n/a", EntryType.PUBLISH, 7, topic="out/x", by="analysis/forecast"),
        entry("(unknown)", EntryType.PUBLISH, 8, topic="t"),
    ]
    found = devices.pure_overview(entries)
    assert [d.device for d in found.devices] == ["s1"]
    assert [(r.client_id, r.attempts, r.last_time, r.ip) for r in found.refused] == [
        ("(no binding)", 1, 8, None),
        ("ESP32", 2, 5, "10.0.0.9"),
    ]
    assert found.refused[1].reason == "AUTHORIZATION_FAILURE"
    assert [(s.kind, s.name, s.messages) for s in found.published_by_stack] == [
        ("analysis", "forecast", 1),
        ("action", "echo", 2),
    ]
