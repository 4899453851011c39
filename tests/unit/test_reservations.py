"""ReservingRateLimiter: blocks of a window's allowance reserved from the shared counter and
spent in memory; never more than the cap across instances, exact for one instance alone."""

from __future__ import annotations

import random

import pytest

from mqtt_actions.reservations import BLOCK_SHARE, ReservingRateLimiter
from tests.support.analysis_fakes import FakeRateLimiter

KEY = "points#dev"


def _spend(limiter: ReservingRateLimiter, counts: list[int], now: float = 1.0) -> list[bool]:
    return [limiter.allow(KEY, 5_000, 60, now, count) for count in counts]


def test_one_instance_lets_through_exactly_what_the_counter_alone_would() -> None:
    shared, alone = FakeRateLimiter(), FakeRateLimiter()
    limiter = ReservingRateLimiter(shared)
    draw = random.Random(7)
    counts = [draw.randint(1, 40) for _ in range(400)]  # ~8,200 points: over the 5,000 cap

    got = _spend(limiter, counts)

    assert got == [alone.allow(KEY, 5_000, 60, 1.0, c) for c in counts]
    assert sum(c for c, ok in zip(counts, got, strict=True) if ok) <= 5_000
    assert got.count(False) > 0  # the case reached the cap


def test_a_steady_device_costs_one_shared_write_a_block_not_one_a_message() -> None:
    shared = FakeRateLimiter()
    limiter = ReservingRateLimiter(shared)

    assert all(_spend(limiter, [1] * 1_000))

    assert len(shared.keys) == 1_000 // (5_000 // BLOCK_SHARE)  # 10 writes of 100 points
    assert shared.counts[(KEY, 0)] == 1_000


def test_instances_together_never_let_more_than_the_cap_through() -> None:
    shared = FakeRateLimiter()
    instances = [ReservingRateLimiter(shared) for _ in range(8)]
    draw = random.Random(11)
    through = 0
    for _ in range(3_000):
        count = draw.randint(1, 9)
        if draw.choice(instances).allow(KEY, 5_000, 60, 1.0, count):
            through += count

    assert through <= 5_000
    assert shared.counts[(KEY, 0)] <= 5_000
    # what the others reserved and did not spend: at most a block each
    assert through >= 5_000 - 8 * (5_000 // BLOCK_SHARE) - 9


def test_a_new_window_starts_from_nothing_reserved() -> None:
    shared = FakeRateLimiter()
    limiter = ReservingRateLimiter(shared)
    assert limiter.allow(KEY, 10, 60, 1.0, 10)
    assert not limiter.allow(KEY, 10, 60, 2.0, 1)

    assert limiter.allow(KEY, 10, 60, 61.0, 10)  # the next minute


def test_a_small_cap_is_checked_one_shared_call_at_a_time() -> None:
    shared = FakeRateLimiter()
    limiter = ReservingRateLimiter(shared)

    assert [limiter.allow(KEY, 10, 60, 1.0, 4) for _ in range(3)] == [True, True, False]
    assert shared.counts[(KEY, 0)] == 8  # nothing reserved beyond what was let through


@pytest.mark.parametrize("count", [5_001, 10_000])
def test_more_than_the_cap_at_once_is_refused_without_asking(count: int) -> None:
    shared = FakeRateLimiter()

    assert not ReservingRateLimiter(shared).allow(KEY, 5_000, 60, 1.0, count)
    assert shared.keys == []


def test_what_an_instance_keeps_is_bounded() -> None:
    shared = FakeRateLimiter()
    limiter = ReservingRateLimiter(shared, max_keys=3)
    for n in range(10):
        assert limiter.allow(f"points#d{n}", 5_000, 60, 1.0, 1)

    assert len(limiter._room) == 3
    # a forgotten reservation is left unspent: the device reserves again
    assert limiter.allow("points#d0", 5_000, 60, 1.0, 1)
    assert shared.counts[("points#d0", 0)] == 200
