"""TopicIndex vs paho-mqtt's MQTTMatcher (and a linear topic_matches_sub scan).

Run: .venv/bin/python benchmarks/matcher.py [--quick]
Prints a Markdown table of ratios to MQTTMatcher measured in the same run, and the machine.
Every contender is first checked to return the same match sets for every topic.
"""

import argparse
import gc
import math
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path

from paho.mqtt.client import topic_matches_sub
from paho.mqtt.matcher import MQTTMatcher

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layers" / "core"))
from mqtt_actions.topics import TopicIndex

SEED = 20_240_601
METRICS = ("temp", "hum", "co2", "pm25", "lux", "volt", "amp", "rssi", "door", "motion")
DEVICES_PER_SITE = 100
TOPICS = 20_000
HOT_TOPICS = 500
HOT_LOOKUPS = 20_000
CACHE_SIZE = 1024
REPEATS = 7  # at least; short runs repeat until MIN_SECONDS
MIN_SECONDS = 0.3

type Pair = tuple[str, int]
type Match = Callable[[str], list[int]]


def make_filters(n: int, rng: random.Random) -> list[Pair]:
    """n unique filters: 70 % exact, 20 % with '+', 10 % ending in '#'; value = position."""
    sites = max(1, n // 10)
    want = {"exact": n * 7 // 10, "plus": n * 2 // 10}
    want["hash"] = n - want["exact"] - want["plus"]
    made: dict[str, None] = {}
    for kind, count in want.items():
        got = 0
        while got < count:
            s, d, m = rng.randrange(sites), rng.randrange(DEVICES_PER_SITE), rng.choice(METRICS)
            f = {
                "exact": f"site{s}/dev{d}/{m}",
                "plus": f"site{s}/+/{m}",
                "hash": f"site{s}/dev{d}/#",
            }[kind]
            if f not in made:
                made[f] = None
                got += 1
    filters = list(made)
    rng.shuffle(filters)
    return [(f, i) for i, f in enumerate(filters)]


def make_topics(pairs: Sequence[Pair], count: int, rng: random.Random) -> list[str]:
    """Distinct topics: exact filters' topics, and others that hit wildcards only or miss."""
    sites = max(1, len(pairs) // 10)
    exact = [f for f, _ in pairs if "+" not in f and "#" not in f]
    topics: dict[str, None] = {}
    while len(topics) < count:
        roll = rng.random()
        s, d, m = rng.randrange(sites), rng.randrange(DEVICES_PER_SITE), rng.choice(METRICS)
        if roll < 0.5:
            t = rng.choice(exact)  # an exact hit, often with '+'/'#' hits too
        elif roll < 0.7:
            t = f"site{s}/dev{d}/{m}"  # maybe a wildcard hit
        elif roll < 0.8:
            t = f"site{s}/dev{d}/{m}/raw"  # only '#' filters can match
        elif roll < 0.9:
            t = f"zone{s}/dev{d}/{m}"  # a miss at the first level
        else:
            t = f"site{s}"  # a short miss
        topics[t] = None
    return list(topics)


# The wildcard-heavy workload: 5-level topics over small level alphabets, 30 % of the filters
# with `+` or `#` spread over every wildcard shape, so a topic matches about 32 filters at 100,000
# filters. The alphabets hold 81,920 distinct topics: room for 70,000 exact filters (the earlier
# (4, 6, 8, 16, 10) held 30,720, and the 100,000-filter run could never finish).
WILD_LEVELS = (4, 8, 8, 32, 10)  # values per level: region/site/line/device/metric
WILD_SHARE = 0.3


def _wild_level(i: int, value: int) -> str:
    return f"{'rslde'[i]}{value}"


def make_wild_filters(n: int, rng: random.Random) -> list[Pair]:
    """n unique filters: 70 % exact 5-level filters, 30 % with `+` in any levels or a `#`."""
    made: dict[str, None] = {}
    wild_wanted = int(n * WILD_SHARE)
    space = math.prod(WILD_LEVELS)
    if n - wild_wanted > space * 0.9:
        raise ValueError(f"{n - wild_wanted:,} exact filters do not fit {space:,} topics")
    while len(made) < wild_wanted:
        levels = [_wild_level(i, rng.randrange(k)) for i, k in enumerate(WILD_LEVELS)]
        if rng.random() < 0.25:  # `<prefix>/#`, the prefix 0 to 4 levels
            cut = rng.randrange(len(levels))
            levels = [*levels[:cut], "#"]
        else:  # `+` in each level with probability 1/2, at least one
            mask = rng.randrange(1, 2 ** len(levels))
            levels = ["+" if mask >> i & 1 else v for i, v in enumerate(levels)]
        made["/".join(levels)] = None
    while len(made) < n:
        made["/".join(_wild_level(i, rng.randrange(k)) for i, k in enumerate(WILD_LEVELS))] = None
    filters = list(made)
    rng.shuffle(filters)
    return [(f, i) for i, f in enumerate(filters)]


def make_wild_topics(count: int, rng: random.Random) -> list[str]:
    topics: dict[str, None] = {}
    while len(topics) < count:
        topics["/".join(_wild_level(i, rng.randrange(k)) for i, k in enumerate(WILD_LEVELS))] = None
    return list(topics)


def build_index(pairs: Iterable[Pair], cache_size: int = 0) -> TopicIndex[int]:
    index: TopicIndex[int] = TopicIndex(cache_size=cache_size)
    for f, v in pairs:
        index.add(f, v)
    return index


def build_paho(pairs: Iterable[Pair]) -> MQTTMatcher:
    matcher = MQTTMatcher()
    for f, v in pairs:
        matcher[f] = v
    return matcher


def paho_matcher(matcher: MQTTMatcher) -> Match:
    def match(topic: str) -> list[int]:
        return list(matcher.iter_match(topic))

    return match


def linear_scan(pairs: Sequence[Pair]) -> Match:
    def match(topic: str) -> list[int]:
        return [v for f, v in pairs if topic_matches_sub(f, topic)]

    return match


def race(runs: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median time of each run, the runs interleaved round by round so that noise from other
    processes hits every contender alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    while pending := [n for n, t in times.items() if len(t) < REPEATS or sum(t) < MIN_SECONDS]:
        for name in pending:
            gc.collect()
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def stream(match: Match, topics: Sequence[str]) -> Callable[[], None]:
    def run() -> None:
        for t in topics:
            match(t)

    return run


def forgetting(index: TopicIndex[int], topics: Sequence[str]) -> Callable[[], None]:
    """A run over `topics` after a change, which makes the level tree forget its states."""

    def run() -> None:
        index.add("forget/+/#", -1)
        index.remove("forget/+/#", -1)
        for t in topics:
            index.match(t)

    return run


def memory_of(build: Callable[[], Match], topics: Sequence[str]) -> tuple[int, int]:
    """(kept, peak) bytes allocated while building and then matching every topic once, per
    tracemalloc: what a matcher keeps from its lookups (TopicIndex's tree states) counts."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    match = build()
    for t in topics:
        match(t)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del match
    return kept - base, peak - base


def check_same(name: str, ours: Match, theirs: Match, topics: Sequence[str]) -> int:
    """Abort unless both give the same match set (ours without duplicates) for every topic."""
    hits = 0
    for t in topics:
        got, want = ours(t), theirs(t)
        if len(got) != len(set(got)) or set(got) != set(want):
            sys.exit(f"MISMATCH ({name}) on {t!r}: ours={sorted(got)} theirs={sorted(want)}")
        hits += bool(want)
    return hits


def mb(size: int) -> str:
    return f"{size / 1e6:,.1f}"


def bench(n: int, wild: bool = False) -> list[tuple[str, ...]]:
    rng = random.Random(SEED + n + wild)
    pairs = make_wild_filters(n, rng) if wild else make_filters(n, rng)
    topics = make_wild_topics(TOPICS, rng) if wild else make_topics(pairs, TOPICS, rng)
    index = build_index(pairs)
    paho = paho_matcher(build_paho(pairs))
    hits = check_same(f"{n:,} filters", index.match, paho, topics)
    label = f"{n:,}" + (" wildcard-heavy" if wild else "")
    if wild:
        matches = sum(len(index.match(t)) for t in topics) / len(topics)
        workload = f"{len(topics):,} distinct topics, {matches:.0f} matches a topic on average"
    else:
        workload = f"{len(topics):,} distinct topics, {hits / len(topics):.0%} with a match"

    runs: dict[str, Callable[[], object]] = {"paho": stream(paho, topics)}
    runs["ours"] = stream(index.match, topics)
    if wild:
        runs["cold"] = forgetting(index, topics)
    rate = race(runs)
    build = race({"paho": partial(build_paho, pairs), "ours": partial(build_index, pairs)})
    paho_kept, paho_peak = memory_of(lambda: paho_matcher(build_paho(pairs)), topics)
    kept, peak = memory_of(lambda: build_index(pairs).match, topics)
    rows: list[tuple[str, ...]] = [
        (
            label,
            "MQTTMatcher",
            f"{len(topics) / rate['paho']:,.0f}",
            "1.00",
            f"{build['paho']:.3f}",
            "1.00",
            f"{mb(paho_kept)} / {mb(paho_peak)}",
            "1.00",
            workload,
        ),
        (
            label,
            "**TopicIndex**",
            f"{len(topics) / rate['ours']:,.0f}",
            f"**{rate['paho'] / rate['ours']:.2f}**",
            f"{build['ours']:.3f}",
            f"{build['ours'] / build['paho']:.2f}",
            f"{mb(kept)} / {mb(peak)}",
            f"{kept / paho_kept:.2f}",
            "",
        ),
    ]

    if wild:
        rows.append(
            (
                label,
                "**TopicIndex**, each run from forgotten states",
                f"{len(topics) / rate['cold']:,.0f}",
                f"**{rate['paho'] / rate['cold']:.2f}**",
                *["-"] * 4,
                "an add and a remove before each run: the tree's states start again",
            )
        )
        return rows
    # paho's per-pair helper over every filter: O(n) a topic, so on a sample only.
    sample_size = {1_000: 200, 10_000: 20}.get(n)
    if sample_size:
        sample = topics[:sample_size]
        scan = linear_scan(pairs)
        check_same(f"{n:,} filters, linear scan", index.match, scan, sample)
        scan_rate = race({"paho": stream(paho, sample), "scan": stream(scan, sample)})
        rows.append(
            (
                f"{n:,}",
                "linear `topic_matches_sub`",
                f"{sample_size / scan_rate['scan']:,.0f}",
                f"{scan_rate['paho'] / scan_rate['scan']:.4f}",
                *["-"] * 4,
                f"{sample_size} of the topics",
            )
        )

    # Repeating topics: the result cache's case.
    hot = rng.sample(topics, HOT_TOPICS)
    lookups = [rng.choice(hot) for _ in range(HOT_LOOKUPS)]
    cached = build_index(pairs, cache_size=CACHE_SIZE)
    check_same(f"{n:,} filters, cached", cached.match, paho, hot)
    hot_rate = race({"paho": stream(paho, lookups), "ours": stream(cached.match, lookups)})
    rows.append(
        (
            f"{n:,}",
            f"**TopicIndex(cache_size={CACHE_SIZE})**",
            f"{HOT_LOOKUPS / hot_rate['ours']:,.0f}",
            f"**{hot_rate['paho'] / hot_rate['ours']:.2f}**",
            *["-"] * 4,
            f"{HOT_LOOKUPS:,} lookups of {HOT_TOPICS} hot topics "
            f"(MQTTMatcher {HOT_LOOKUPS / hot_rate['paho']:,.0f}/s)",
        )
    )
    return rows


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"Machine: {platform.platform()}, {cpu}, Python {platform.python_version()} "
        f"({platform.python_implementation()}). Median of >= {REPEATS} interleaved runs; "
        "ratios are to MQTTMatcher in the same run (topics/s: higher is better; "
        "build time and memory: lower is better; memory is what building and then matching "
        "every topic once allocated and kept, and its peak)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 filters only")
    sizes = (1_000, 10_000) if parser.parse_args().quick else (1_000, 10_000, 100_000)
    header = (
        "filters",
        "matcher",
        "topics/s",
        "x MQTTMatcher",
        "build s",
        "build x",
        "memory MB kept / peak",
        "memory x",
        "workload",
    )
    rows = [row for n in sizes for row in bench(n)]
    rows += bench(sizes[-1], wild=True)
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(machine())


if __name__ == "__main__":
    main()
