"""Keys and reading order: deterministic ids, hour shards, time then type, version numbers."""

from __future__ import annotations

from collections import Counter

from mqtt_actions.inspector import (
    SHARDS,
    EntryType,
    hour_of,
    hour_shard,
    hours_newest_first,
    order_entries,
    shard_of,
    time_key,
)
from tests.inspector.support import (
    T0,
    entry,
)

# --- keys ----------------------------------------------------------------------------------------


def test_sort_key_is_time_then_type_then_uid() -> None:
    e = entry("d", EntryType.PUBLISH, 42, "abc")
    assert e.sk == "0000000000042#publish#abc"
    assert time_key(e) == "0000000000042#d#publish#abc"


def test_hours() -> None:
    assert hour_of(T0) == "2025-11-25T12"
    assert hours_newest_first(T0 - 1, T0 + 3_600_000) == [
        "2025-11-25T13",
        "2025-11-25T12",
        "2025-11-25T11",
    ]
    assert hours_newest_first(T0, T0) == ["2025-11-25T12"]
    assert hours_newest_first(T0, T0 - 1) == []


def test_hour_shard_is_stable_and_spreads_one_hour_over_every_shard() -> None:
    entries = [entry(f"dev-{i}", EntryType.PUBLISH, T0 + i, f"t{i}") for i in range(800)]
    shards = Counter(hour_shard(e) for e in entries)
    assert set(shards) == {f"2025-11-25T12#{n}" for n in range(SHARDS)}
    assert max(shards.values()) < 2 * 800 / SHARDS  # no shard takes twice its share
    assert shard_of("dev-1", "x") == shard_of("dev-1", "x")


def test_one_busy_device_also_spreads_over_the_shards() -> None:
    entries = [entry("busy", EntryType.PUBLISH, T0 + i, f"t{i}") for i in range(400)]
    assert len({hour_shard(e) for e in entries}) == SHARDS


# --- reading order -------------------------------------------------------------------------------


def test_order_is_by_time_and_publish_before_its_actions() -> None:
    action = entry("d", EntryType.ACTION, T0, "t#a#done")
    publish = entry("d", EntryType.PUBLISH, T0, "t")
    earlier = entry("e", EntryType.CONNECT, T0 - 5, "c", version=1)
    assert order_entries([action, publish, earlier]) == [earlier, publish, action]


def test_connects_and_disconnects_follow_version_number_when_clocks_disagree() -> None:
    # Session 2's connect is stamped before session 1's disconnect (another broker node's clock).
    c1 = entry("d", EntryType.CONNECT, T0, "c1", version=1)
    pub = entry("d", EntryType.PUBLISH, T0 + 10, "p")
    c2 = entry("d", EntryType.CONNECT, T0 + 20, "c2", version=2)
    d1 = entry("d", EntryType.DISCONNECT, T0 + 25, "d1", version=1)
    other = entry("x", EntryType.CONNECT, T0 + 22, "x", version=9)
    got = order_entries([c2, other, d1, pub, c1])
    assert [e.uid for e in got] == ["c1", "p", "d1", "x", "c2"]


def test_a_disconnect_stamped_at_the_same_ms_follows_its_connect() -> None:
    d = entry("d", EntryType.DISCONNECT, T0, "zz", version=4)
    c = entry("d", EntryType.CONNECT, T0, "aa", version=4)
    assert order_entries([d, c]) == [c, d]


def test_duplicates_are_read_once() -> None:
    e = entry("d", EntryType.PUBLISH, T0, "t")
    assert order_entries([e, e, e]) == [e]
