"""Topic names, filters and matching (MQTT 3.1.1 / 5.0 §4.7).

The vectors come from other MQTT implementations' test suites (tests/data). Where a row records
an implementation's answer that the spec contradicts (`disputed`, `implementation_limit`), we
assert the spec's answer: see SPEC_ANSWERS.
"""

import json
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.topics import (
    InvalidFilterError,
    InvalidTopicError,
    TopicIndex,
    topic_matches,
    validate_filter,
    validate_topic,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "mqtt_topic_vectors.json").read_text(encoding="utf-8")
)
DEEP_X = "x/" * 1000 + "topic"  # 1,001 levels

# (section, filter or topic[, topic]) -> (the spec's answer, why the row's answer is not it)
SPEC_ANSWERS: dict[tuple[str, ...], tuple[bool, str]] = {
    ("match", "+/+", "/sport"): (
        True,
        "§4.7.1.3: '+' matches an empty level ('/finance' matches '+/+'); Paho Java disagrees",
    ),
    ("match", "/sport/+", "/sport/"): (
        True,
        "§4.7.1.3: 'sport/+' matches 'sport/'; Paho Java disagrees",
    ),
    ("match", DEEP_X, DEEP_X): (
        True,
        "the spec has no level limit; HiveMQ finds nobody past 1,000 levels",
    ),
    ("filter_valid", "$share/g1/$share/t"): (
        True,
        "§4.8.2: any valid filter may follow the share name; EMQX refuses nesting",
    ),
    ("filter_valid", "+" + "/" * 40): (
        True,
        "the spec has no level limit; VerneMQ refuses it by its topic_max_depth",
    ),
    ("topic_valid", "a/b/b+"): (
        False,
        "[MQTT-4.7.0-1]: no wildcard characters in a topic name; EMQX's trie accepts it",
    ),
    ("topic_valid", "a/b/c#"): (
        False,
        "[MQTT-4.7.0-1]: no wildcard characters in a topic name; EMQX's trie accepts it",
    ),
}

# Rows too big to store hold a placeholder and name their generator.
GENERATED: dict[str, Callable[[], str]] = {
    "long_topic": lambda: "".join(f"{i}/" for i in range(66_667)),
}


def _short(text: str, limit: int = 32) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def _flagged(row: dict[str, Any]) -> bool:
    return bool(row.get("disputed") or row.get("implementation_limit"))


def _spec_key(section: str, row: dict[str, Any]) -> tuple[str, ...]:
    if section == "match":
        return (section, row["filter"], row["topic"])
    return (section, row["filter"] if section == "filter_valid" else row["topic"])


def _expected(section: str, row: dict[str, Any]) -> bool:
    answer = row["expected"] if section == "match" else row["valid"]
    if _flagged(row):
        return SPEC_ANSWERS[_spec_key(section, row)][0]
    return bool(answer)


def _text(row: dict[str, Any], field: str) -> str:
    return GENERATED[row["generated"]]() if row.get("generated") else str(row[field])


def _refused(validate: Callable[[str], None], text: str) -> bool:
    try:
        validate(text)
    except ValueError:
        return True
    return False


def _params(section: str) -> list[Any]:
    params = []
    for row in VECTORS[section]:
        expected = _expected(section, row)
        if section == "match":
            label = f"{_short(row['filter'])} vs {_short(row['topic'])} -> {expected}"
        else:
            field = "filter" if section == "filter_valid" else "topic"
            label = f"{_short(row[field])} {'valid' if expected else 'invalid'}"
        source = row["source"]
        implementation = "spec" if source.startswith("spec:") else source.split("@")[0]
        implementation = implementation.rpartition("/")[2]
        label += f" [spec, not {implementation}]" if _flagged(row) else f" [{implementation}]"
        params.append(pytest.param(row, expected, id=label))
    return params


def test_every_flagged_row_has_the_specs_answer_here() -> None:
    flagged = {
        _spec_key(section, row): row
        for section in ("match", "filter_valid", "topic_valid")
        for row in VECTORS[section]
        if _flagged(row)
    }
    assert flagged.keys() == SPEC_ANSWERS.keys()
    for key, row in flagged.items():  # "flagged" means the row disagrees with the spec
        recorded = row["expected"] if key[0] == "match" else row["valid"]
        assert SPEC_ANSWERS[key][0] is not recorded, SPEC_ANSWERS[key][1]


@pytest.mark.parametrize(("row", "expected"), _params("match"))
def test_match_vectors(row: dict[str, Any], expected: bool) -> None:
    assert topic_matches(row["filter"], row["topic"]) is expected


@pytest.mark.parametrize(
    ("row", "expected"), [p for p in _params("match") if not p.values[0].get("invalid_input")]
)
@pytest.mark.parametrize("cache_size", [0, 4])
@pytest.mark.parametrize("tree", [False, True], ids=["shapes", "tree"])
def test_index_agrees_with_topic_matches_on_match_vectors(
    row: dict[str, Any], expected: bool, cache_size: int, tree: bool
) -> None:
    index: TopicIndex[str] = (_TreeIndex if tree else TopicIndex)(cache_size=cache_size)
    index.add(row["filter"], "value")
    assert index.match(row["topic"]) == (["value"] if expected else [])


@pytest.mark.parametrize(
    ("row", "expected"), [p for p in _params("match") if p.values[0].get("invalid_input")]
)
def test_invalid_input_rows_hold_an_invalid_filter_or_topic(
    row: dict[str, Any], expected: bool
) -> None:
    assert expected is False
    assert _refused(validate_filter, row["filter"]) or _refused(validate_topic, row["topic"])


@pytest.mark.parametrize(("row", "valid"), _params("filter_valid"))
def test_filter_vectors(row: dict[str, Any], valid: bool) -> None:
    if valid:
        validate_filter(row["filter"])
    else:
        with pytest.raises(InvalidFilterError):
            validate_filter(row["filter"])


@pytest.mark.parametrize(("row", "valid"), _params("topic_valid"))
def test_topic_vectors(row: dict[str, Any], valid: bool) -> None:
    topic = _text(row, "topic")
    if valid:
        validate_topic(topic)
    else:
        with pytest.raises(InvalidTopicError):
            validate_topic(topic)


# --- Validation messages ---------------------------------------------------------------------

FILTER_ERRORS = [
    ("", "filter must not be empty"),
    ("a/#/b", "'#' must be the last level: 'a/#/b'"),
    ("#/a", "'#' must be the last level: '#/a'"),
    ("a/b#", "'#' must occupy a whole level: 'a/b#'"),
    ("a/#b", "'#' must occupy a whole level: 'a/#b'"),
    ("a/b+", "'+' must occupy a whole level: 'a/b+'"),
    ("+a", "'+' must occupy a whole level: '+a'"),
    ("a/++", "'+' must occupy a whole level: 'a/++'"),
    ("a\0b", "filter must not contain U+0000 (null): 'a\\x00b'"),
    ("a/\udc80", "filter is not valid UTF-8 (lone surrogate U+DC80 at index 2): 'a/\\udc80'"),
    ("$share/", "shared subscription needs a group name after '$share/': '$share/'"),
    ("$share//a", "shared subscription needs a group name after '$share/': '$share//a'"),
    ("$share/g+/a", "shared subscription group must not contain '+' or '#': '$share/g+/a'"),
    ("$share/#/a", "shared subscription group must not contain '+' or '#': '$share/#/a'"),
    ("$share/g", "shared subscription needs a filter after the group: '$share/g'"),
    ("$share/g/", "shared subscription needs a filter after the group: '$share/g/'"),
    ("$share/g/a/#/b", "'#' must be the last level: '$share/g/a/#/b'"),
]

TOPIC_ERRORS = [
    ("", "topic must not be empty"),
    ("a/+", "topic must not contain wildcards ('+' or '#'): 'a/+'"),
    ("a/#", "topic must not contain wildcards ('+' or '#'): 'a/#'"),
    ("a/b+", "topic must not contain wildcards ('+' or '#'): 'a/b+'"),
    ("\0", "topic must not contain U+0000 (null): '\\x00'"),
    ("\ud800x", "topic is not valid UTF-8 (lone surrogate U+D800 at index 0): '\\ud800x'"),
]


@pytest.mark.parametrize(("text", "message"), FILTER_ERRORS, ids=[t for t, _ in FILTER_ERRORS])
def test_invalid_filter_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidFilterError) as raised:
        validate_filter(text)
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(("text", "message"), TOPIC_ERRORS, ids=[t for t, _ in TOPIC_ERRORS])
def test_invalid_topic_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidTopicError) as raised:
        validate_topic(text)
    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)


def test_a_long_input_is_quoted_by_its_start_only() -> None:
    with pytest.raises(InvalidTopicError) as raised:
        validate_topic("a" * 70_000)
    assert str(raised.value) == (f"topic is 70,000 UTF-8 bytes; the limit is 65,535: '{'a' * 80}…'")
    with pytest.raises(InvalidFilterError) as raised_filter:
        validate_filter("b" * 100 + "#")
    assert str(raised_filter.value) == f"'#' must occupy a whole level: '{'b' * 80}…'"


# Characters of each UTF-8 size: the limit counts bytes, not characters.
@pytest.mark.parametrize("char", ["a", "é", "€", "😀"], ids=["1B", "2B", "3B", "4B"])
@pytest.mark.parametrize(
    ("validate", "error", "kind"),
    [(validate_topic, InvalidTopicError, "topic"), (validate_filter, InvalidFilterError, "filter")],
    ids=["topic", "filter"],
)
def test_the_limit_is_65535_utf8_bytes(
    char: str, validate: Callable[[str], None], error: type[ValueError], kind: str
) -> None:
    width = len(char.encode())
    fits = char * (65_535 // width) + "x" * (65_535 % width)
    assert len(fits.encode()) == 65_535
    validate(fits)
    with pytest.raises(error, match=f"^{kind} is 65,536 UTF-8 bytes; the limit is 65,535: "):
        validate(fits + "x")


@pytest.mark.parametrize(
    "text",
    ["a", "/", "//", " ", "a/b/c", "$SYS/x", "Юникод/åäö", "$share", "$shared/g/a", "a/$share/g"],
)
def test_valid_topic_names_are_valid_filters_too(text: str) -> None:
    validate_topic(text)
    validate_filter(text)


@pytest.mark.parametrize(
    "text", ["#", "+", "+/+", "/+", "+/", "a/+/b", "a/#", "+/#", "$share/g/#", "$share/g/a/+/b"]
)
def test_valid_wildcard_filters(text: str) -> None:
    validate_filter(text)


# --- Matching --------------------------------------------------------------------------------

MATCHES = [
    ("a/#", "a", True, "'#' also matches the parent level"),
    ("a/#", "a/", True, "an empty level"),
    ("a/#", "ab", False, "levels, not prefixes"),
    ("a/+", "a/", True, "'+' matches an empty level"),
    ("+/+", "/", True, "two empty levels"),
    ("+", "", False, "an empty topic is invalid"),
    ("#", "$SYS/x", False, "[MQTT-4.7.2-1]"),
    ("+/x", "$SYS/x", False, "[MQTT-4.7.2-1]"),
    ("$SYS/#", "$SYS/x", True, "a literal `$` level matches"),
    ("$SYS/+", "$SYS/x", True, "a literal `$` level matches"),
    ("a/+/#", "a/$x/y", True, "`$` matters at the first level only"),
    ("$share/g/a/+", "a/b", True, "a shared subscription matches on its filter"),
    ("$share/g/#", "$SYS/x", False, "[MQTT-4.7.2-1] inside $share too"),
    ("$share/g/a", "$share/g/a", False, "the topic is not the shared filter"),
    ("$share", "$share", True, "without a slash, `$share` is a plain level"),
    ("a/+", "a/+", False, "an invalid topic matches nothing"),
    ("a/#", "a/\udc80", False, "an invalid topic matches nothing"),
    ("a/b+", "a/b+", False, "an invalid filter matches nothing"),
    ("a/\0", "a/\0", False, "an invalid filter matches nothing"),
]


@pytest.mark.parametrize(
    ("filter_", "topic", "expected", "why"), MATCHES, ids=[m[3] + f" {m[0]!r}" for m in MATCHES]
)
def test_topic_matches(filter_: str, topic: str, expected: bool, why: str) -> None:
    assert topic_matches(filter_, topic) is expected, why


# --- TopicIndex ------------------------------------------------------------------------------


class _TreeIndex[V: Hashable](TopicIndex[V]):
    """Always walks the level tree, which TopicIndex keeps for many-shaped filter sets."""

    _MAX_PLAN = 0


INDEXES = [
    pytest.param(TopicIndex, id="shapes"),
    pytest.param(_TreeIndex, id="tree"),
]


@pytest.fixture(params=INDEXES)
def make_index(request: pytest.FixtureRequest) -> Callable[..., TopicIndex[Any]]:
    cls: Callable[..., TopicIndex[Any]] = request.param
    return cls


def test_match_returns_each_value_once(make_index: Callable[..., TopicIndex[str]]) -> None:
    index = make_index()
    for f in ("a/b", "a/+", "a/#", "+/b", "#", "$share/g/a/b"):
        index.add(f, "one")
    index.add("a/+", "two")
    assert sorted(index.match("a/b")) == ["one", "two"]
    assert len(index) == 6  # `$share/g/a/b` is `a/b`


def test_values_come_exact_first_then_in_the_order_added(
    make_index: Callable[..., TopicIndex[int]],
) -> None:
    index = make_index()
    index.add("a/+", 3)
    index.add("a/b", 2)
    index.add("a/b", 1)
    index.add("a/+", 4)
    assert index.match("a/b") == [2, 1, 3, 4]


def test_values_may_be_any_hashable_even_none_or_tuples(
    make_index: Callable[..., TopicIndex[object]],
) -> None:
    index = make_index()
    index.add("a", None)
    index.add("a", (3,))
    index.add("a/+", (1, 2))
    index.add("a/+", None)
    assert index.match("a") == [None, (3,)]
    assert index.match("a/b") == [(1, 2), None]
    index.remove("a", (3,))
    index.remove("a/+", (1, 2))
    assert index.match("a") == [None]
    assert index.match("a/b") == [None]
    with pytest.raises(KeyError):
        index.remove("a", (3,))


def test_a_pair_is_stored_once(make_index: Callable[..., TopicIndex[str]]) -> None:
    index = make_index()
    index.add("a/+", "v")
    index.add("a/+", "v")
    index.add("$share/g/a/+", "v")  # the same filter, shared
    assert len(index) == 1
    assert index.match("a/b") == ["v"]


def test_remove(make_index: Callable[..., TopicIndex[str]]) -> None:
    index = make_index()
    index.add("a/b", "x")
    index.add("a/+", "x")
    index.add("a/+", "y")
    index.remove("a/+", "x")
    assert index.match("a/b") == ["x", "y"]
    index.remove("a/b", "x")
    index.remove("$share/g/a/+", "y")
    assert index.match("a/b") == []
    assert len(index) == 0


@pytest.mark.parametrize(
    ("filter_", "value"), [("a/b", "v"), ("a/+", "w"), ("x", "v"), ("#", "v"), ("a/#", "v")]
)
def test_removing_an_absent_pair_raises_key_error(
    make_index: Callable[..., TopicIndex[str]], filter_: str, value: str
) -> None:
    index = make_index()
    index.add("a/+", "v")
    index.add("x", "w")
    with pytest.raises(KeyError):
        index.remove(filter_, value)
    assert len(index) == 2


def test_invalid_filters_raise(make_index: Callable[..., TopicIndex[str]]) -> None:
    index = make_index()
    with pytest.raises(InvalidFilterError, match="must be the last level"):
        index.add("a/#/b", "v")
    with pytest.raises(InvalidFilterError):
        index.remove("a/#/b", "v")
    assert len(index) == 0


@pytest.mark.parametrize(
    "topic", ["", "a/+", "a/#", "+", "#", "a/\0", "a/\udc80", "a/" + "b" * 65_534]
)
def test_an_invalid_topic_matches_nothing(
    make_index: Callable[..., TopicIndex[str]], topic: str
) -> None:
    index = make_index()
    for f in ("#", "+", "+/+", "a/+", "a/#", "a/b"):
        index.add(f, f)
    assert index.match(topic) == []


def test_wildcards_at_the_root_skip_dollar_topics(
    make_index: Callable[..., TopicIndex[str]],
) -> None:
    index = make_index()
    for f in ("#", "+/x", "+/#", "$SYS/#", "$SYS/+", "$SYS/x"):
        index.add(f, f)
    assert sorted(index.match("$SYS/x")) == ["$SYS/#", "$SYS/+", "$SYS/x"]
    assert sorted(index.match("SYS/x")) == ["#", "+/#", "+/x"]


def test_ten_thousand_levels_need_no_recursion(
    make_index: Callable[..., TopicIndex[str]],
) -> None:
    deep = "/".join(["x"] * 10_000)
    index = make_index(cache_size=2)
    index.add(deep, "exact")
    index.add("/".join(["+"] * 9_999 + ["#"]), "plus-hash")
    index.add("/".join(["x"] * 9_999 + ["+"]), "plus")
    index.add("x/#", "hash")
    assert sorted(index.match(deep)) == ["exact", "hash", "plus", "plus-hash"]
    assert sorted(index.match(deep + "/y")) == ["hash", "plus-hash"]
    index.remove("/".join(["x"] * 9_999 + ["+"]), "plus")
    assert sorted(index.match(deep)) == ["exact", "hash", "plus-hash"]


def test_the_cache_is_cleared_by_add_and_remove(
    make_index: Callable[..., TopicIndex[str]],
) -> None:
    index = make_index(cache_size=2)
    assert index.match("a/b") == []
    index.add("a/+", "v")
    assert index.match("a/b") == ["v"]
    index.remove("a/+", "v")
    assert index.match("a/b") == []
    index.add("a/b", "w")
    assert index.match("a/b") == ["w"]


def test_the_cache_hands_out_copies(make_index: Callable[..., TopicIndex[str]]) -> None:
    index = make_index(cache_size=2)
    index.add("a/+", "v")
    index.match("a/b").append("oops")
    assert index.match("a/b") == ["v"]


def test_cache_size_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="cache_size"):
        TopicIndex(cache_size=-1)


def test_many_shapes_switch_to_the_tree_and_back() -> None:
    """Over _MAX_PLAN shapes fit a topic: it walks the tree; results never change."""
    index: TopicIndex[str] = TopicIndex()
    filters = ["/".join("+" if bit == "1" else "a" for bit in f"{i:06b}") for i in range(64)]
    filters += [f + "/#" for f in filters]
    for f in filters:
        index.add(f, f)
    assert index._tree is not None  # white-box: the path under test
    topics = ["a/a/a/a/a/a", "a/b/a/b/a/b", "a/a/a/a/a/a/z", "b/b/b/b/b/b", "a", "a/a"]
    for topic in topics:
        assert sorted(index.match(topic)) == sorted(f for f in filters if topic_matches(f, topic))
    for f in filters[2:]:
        index.remove(f, f)
    assert len(index) == 2
    for topic in topics:
        assert sorted(index.match(topic)) == sorted(
            f for f in filters[:2] if topic_matches(f, topic)
        )


def _expected(filters: list[str], topic: str) -> list[str]:
    return sorted(f for f in filters if topic_matches(f, topic))


def test_the_tree_remembers_prefixes_and_forgets_them_at_each_change() -> None:
    """Topics under one parent walk known states to it (white-box: `_Tree.start`); an add or a
    remove between two such topics is seen by the second."""
    index: _TreeIndex[str] = _TreeIndex()
    filters = ["site/+/temp", "site/dev1/#", "+/dev1/+", "#", "site/+/+"]
    for f in filters:
        index.add(f, f)
    assert sorted(index.match("site/dev1/temp")) == _expected(filters, "site/dev1/temp")
    tree = index._tree
    assert tree is not None
    parent = tree.start.next["site"].next["dev1"]
    assert parent.tail is not None  # ready for the next topic under site/dev1/
    assert sorted(index.match("site/dev1/hum")) == _expected(filters, "site/dev1/hum")
    assert tree.start.next["site"].next["dev1"] is parent
    index.add("site/dev1/+", "site/dev1/+")
    assert not tree.start.next
    filters.append("site/dev1/+")
    assert sorted(index.match("site/dev1/hum")) == _expected(filters, "site/dev1/hum")
    index.remove("site/+/+", "site/+/+")
    filters.remove("site/+/+")
    assert sorted(index.match("site/dev1/hum")) == _expected(filters, "site/dev1/hum")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("x", "/x"),  # parents "" and "/": never one key
        ("/x", "//x"),
        ("$SYS/a", "SYS/a"),
        ("a/b", "a/b/"),
    ],
)
def test_parents_that_look_alike_are_kept_apart(first: str, second: str) -> None:
    index: _TreeIndex[str] = _TreeIndex()
    filters = ["+", "/+", "+/+", "//+", "$SYS/+", "+/a", "SYS/#", "a/+/", "a/b/+", "#"]
    for f in filters:
        index.add(f, f)
    for topic in (first, second, first, second):
        assert sorted(index.match(topic)) == _expected(filters, topic), topic


def _kept(state: Any) -> int:
    """States reachable from `state`, itself excluded (white-box: `_State.next`)."""
    count, todo = 0, [state]
    while todo:
        found = list(todo.pop().next.values())
        count += len(found)
        todo += found
    return count


def test_the_states_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from mqtt_actions import topics

    monkeypatch.setattr(topics._Tree, "STATES_KEPT", 3)
    monkeypatch.setattr(topics._Tree, "LEVEL_CHARS", 8)
    monkeypatch.setattr(topics._Tree, "FRONTIER_KEPT", 2)
    index: _TreeIndex[str] = _TreeIndex()
    filters = ["+/+", "+/+/+/+", "+/x/+/+", "x/+/+/+", "x/x/+/+"]
    for f in filters:
        index.add(f, f)
    tree = index._tree
    assert tree is not None
    for topic in ("x/x/x/x", "x/x/x/x"):  # x/x reaches 4 nodes: kept up to x only
        assert sorted(index.match(topic)) == _expected(filters, topic)
    assert "x" in tree.start.next
    assert not tree.start.next["x"].next
    for i in range(10):
        assert index.match(f"p{i}/t") == ["+/+"]
        assert _kept(tree.start) <= 3
    assert index.match("a-long-level/t") == ["+/+"]
    assert "a-long-level" not in tree.start.next  # long levels are not kept


def test_a_dead_end_keeps_the_hash_filters_met_before_it() -> None:
    index: _TreeIndex[str] = _TreeIndex()
    filters = ["a/#", "a/b/#", "a/b/c/d", "+/b/+/e/#", "#"]
    for f in filters:
        index.add(f, f)
    for topic in ("a/b/z/z/z/z", "a/b/z/z/z/z", "a/b/c/e/f", "a/b/c/e", "a/b/c/d", "a/x/y", "b"):
        assert sorted(index.match(topic)) == _expected(filters, topic), topic


def test_the_index_is_generic() -> None:
    index = TopicIndex[tuple[str, int]]()
    index.add("a", ("action", 1))
    assert index.match("a") == [("action", 1)]
