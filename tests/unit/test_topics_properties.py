"""Properties: TopicIndex returns exactly the values of the filters topic_matches accepts.

Levels come from a tiny alphabet so that matches, `$` topics, empty levels and shared values
are frequent.
"""

from collections.abc import Hashable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.client import topic_matches_sub

from mqtt_actions.topics import InvalidFilterError, TopicIndex, topic_matches, validate_filter


class _TreeIndex[V: Hashable](TopicIndex[V]):
    """Always walks the level tree, which TopicIndex keeps for many-shaped filter sets."""

    _MAX_PLAN = 0


def _valid(text: str) -> bool:
    try:
        validate_filter(text)
    except InvalidFilterError:
        return False
    return True


topic_levels = st.lists(st.sampled_from(["a", "b", "", "$x"]), min_size=1, max_size=5)
topics = topic_levels.map("/".join).filter(bool)  # valid names: [""] would be the empty topic
filters = (
    st.lists(st.sampled_from(["a", "b", "", "$x", "+", "#"]), min_size=1, max_size=4)
    .map("/".join)
    .filter(_valid)
)
shared = st.sampled_from(["", "$share/g/"])
pairs = st.lists(st.tuples(shared, filters, st.integers(0, 5)), max_size=12)
SETTINGS = settings(deadline=None)  # examples: the profile's (tests/conftest.py)
INDEXES = [
    pytest.param(TopicIndex, 0, id="shapes"),
    pytest.param(TopicIndex, 4, id="shapes-cached"),
    pytest.param(_TreeIndex, 0, id="tree"),
    pytest.param(_TreeIndex, 4, id="tree-cached"),
]


@pytest.mark.parametrize(("cls", "cache_size"), INDEXES)
@SETTINGS
@given(pairs=pairs, topics=st.lists(topics, min_size=1, max_size=8))
def test_index_matches_what_topic_matches_accepts(
    cls: type[TopicIndex[int]],
    cache_size: int,
    pairs: list[tuple[str, str, int]],
    topics: list[str],
) -> None:
    index = cls(cache_size=cache_size)
    for share, f, value in pairs:
        index.add(share + f, value)
    for topic in topics * 2:  # twice: the second time from the cache, if any
        got = index.match(topic)
        assert len(got) == len(set(got))
        assert sorted(got) == sorted({v for _, f, v in pairs if topic_matches(f, topic)})


@pytest.mark.parametrize(("cls", "cache_size"), INDEXES)
@SETTINGS
@given(
    steps=st.lists(st.tuples(st.booleans(), filters, st.integers(0, 3)), max_size=30),
    topics=st.lists(topics, min_size=1, max_size=6),
)
def test_adds_and_removes_keep_the_index_exact(
    cls: type[TopicIndex[int]],
    cache_size: int,
    steps: list[tuple[bool, str, int]],
    topics: list[str],
) -> None:
    index = cls(cache_size=cache_size)
    model: set[tuple[str, int]] = set()
    for adding, f, value in steps:
        if adding:
            index.add(f, value)
            model.add((f, value))
        elif (f, value) in model:
            index.remove(f, value)
            model.remove((f, value))
        else:
            with pytest.raises(KeyError):
                index.remove(f, value)
        assert len(index) == len(model)
        for topic in topics:
            want = {v for g, v in model if topic_matches(g, topic)}
            assert sorted(index.match(topic)) == sorted(want)


@SETTINGS
@given(f=filters, topic=topics)
def test_topic_matches_agrees_with_paho_on_valid_input(f: str, topic: str) -> None:
    # paho's helper follows the spec too (`a/#` matches `a`, the `$` rule); it never validates.
    assert topic_matches(f, topic) is topic_matches_sub(f, topic)


@SETTINGS
@given(f=st.text(max_size=12), topic=st.text(max_size=12))
def test_topic_matches_never_raises(f: str, topic: str) -> None:
    assert topic_matches(f, topic) in (True, False)


def _valid_by_levels(text: str) -> bool:
    """§4.7.1 and §4.8.2 level by level: the rules written out, to check the fast path."""
    body = text
    if text.startswith("$share/"):
        _, group, *rest = text.split("/", 2)
        if not group or "+" in group or "#" in group or not rest or not rest[0]:
            return False
        body = rest[0]
    levels = body.split("/")
    return all(
        (level in ("+", "#") and (level == "+" or i == len(levels) - 1))
        or ("+" not in level and "#" not in level)
        for i, level in enumerate(levels)
    )


@SETTINGS
@given(
    text=st.one_of(
        st.text(alphabet="a+#/", min_size=1, max_size=12),
        st.text(alphabet="a+#/", max_size=12).map("$share/".__add__),
    )
)
def test_validate_filter_follows_the_level_rules(text: str) -> None:
    assert _valid(text) is _valid_by_levels(text)
