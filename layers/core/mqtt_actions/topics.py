"""MQTT topic names and filters (MQTT 3.1.1 / 5.0 §4.7): validation, matching, TopicIndex.

Matching follows the spec, as TagoIO documents it: `a/#` matches `a`, `+` matches an empty
level, and filters starting with a wildcard never match topics starting with `$`.
(AWS IoT Core's broker does not deliver `a` to a subscription `a/#`; actions are not
subscriptions and follow the spec.)
"""

import itertools
from collections.abc import Callable, Hashable
from functools import lru_cache
from operator import itemgetter
from typing import ClassVar, Final

from mqtt_actions.text import first_surrogate

__all__ = [
    "MAX_BYTES",
    "InvalidFilterError",
    "InvalidTopicError",
    "TopicIndex",
    "topic_matches",
    "validate_filter",
    "validate_topic",
]

MAX_BYTES: Final = 65_535
_SHARE: Final = "$share/"
_QUOTE_CHARS: Final = 80


class InvalidTopicError(ValueError):
    """A topic name breaks MQTT §4.7."""


class InvalidFilterError(ValueError):
    """A topic filter breaks MQTT §4.7."""


def _quote(text: str) -> str:
    # Inputs can be 64 KiB: quote the start only, so logs and CLI output stay readable.
    if len(text) > _QUOTE_CHARS:
        return repr(text[:_QUOTE_CHARS] + "…")
    return repr(text)


def _encoding_problem(kind: str, text: str) -> str | None:
    """What makes `text` unusable as a topic name or filter, before any wildcard rule."""
    if not text:
        return f"{kind} must not be empty"
    if "\0" in text:
        return f"{kind} must not contain U+0000 (null): {_quote(text)}"
    if text.isascii():
        size = len(text)
    else:
        if (at := first_surrogate(text)) is not None:
            return (
                f"{kind} is not valid UTF-8 (lone surrogate U+{ord(text[at]):04X} "
                f"at index {at}): {_quote(text)}"
            )
        size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        return f"{kind} is {size:,} UTF-8 bytes; the limit is {MAX_BYTES:,}: {_quote(text)}"
    return None


def validate_topic(topic: str) -> None:
    """Raise InvalidTopicError, saying what is wrong, unless `topic` is a valid topic name."""
    problem = _encoding_problem("topic", topic)
    if problem is None and ("+" in topic or "#" in topic):
        problem = f"topic must not contain wildcards ('+' or '#'): {_quote(topic)}"
    if problem is not None:
        raise InvalidTopicError(problem)


def _filter_body(text: str) -> str:
    """The part of a valid filter that matches topics: `$share/<group>/<f>` -> `f`.

    Raises InvalidFilterError, saying what is wrong, for an invalid filter.
    """
    problem: str | None = None
    # Plain ASCII within the limit is the rule: one cheap test instead of a call.
    if not (text.isascii() and 0 < len(text) <= MAX_BYTES and "\0" not in text):
        problem = _encoding_problem("filter", text)
        if problem is not None:
            raise InvalidFilterError(problem)
    body = text
    if text.startswith(_SHARE):
        group, slash, body = text[len(_SHARE) :].partition("/")
        if not group:
            problem = f"shared subscription needs a group name after '$share/': {_quote(text)}"
        elif "+" in group or "#" in group:
            problem = f"shared subscription group must not contain '+' or '#': {_quote(text)}"
        elif not slash or not body:
            problem = f"shared subscription needs a filter after the group: {_quote(text)}"
        if problem is not None:
            raise InvalidFilterError(problem)
    plus, hashes = body.count("+"), body.count("#")
    if not plus and not hashes:
        return body
    # The common, valid case in string operations; the level-by-level walk below only
    # runs to say what is wrong. Doubled slashes let neighbouring levels both be `+`.
    if plus == f"/{body.replace('/', '//')}/".count("/+/") and (
        not hashes or (hashes == 1 and (body == "#" or body.endswith("/#")))
    ):
        return body
    levels = body.split("/")
    last = len(levels) - 1
    for i, level in enumerate(levels):
        if "#" in level:
            if level != "#":
                problem = f"'#' must occupy a whole level: {_quote(text)}"
            elif i != last:
                problem = f"'#' must be the last level: {_quote(text)}"
        elif "+" in level and level != "+":
            problem = f"'+' must occupy a whole level: {_quote(text)}"
        if problem is not None:
            raise InvalidFilterError(problem)
    return body


def validate_filter(filter: str) -> None:
    """Raise InvalidFilterError, saying what is wrong, unless `filter` is a valid filter."""
    _filter_body(filter)


def _is_topic(topic: str) -> bool:
    # validate_topic for hot paths: no message, no exception.
    if not topic or "+" in topic or "#" in topic or "\0" in topic:
        return False
    if topic.isascii():
        return len(topic) <= MAX_BYTES
    try:
        return len(topic.encode("utf-8")) <= MAX_BYTES
    except UnicodeEncodeError:
        return False


def topic_matches(filter: str, topic: str) -> bool:
    """Whether `topic` matches `filter`; False when either is invalid (never raises)."""
    try:
        body = _filter_body(filter)
    except InvalidFilterError:
        return False
    if not _is_topic(topic):
        return False
    if topic[0] == "$" and body[0] in "+#":
        return False
    if "+" not in body and "#" not in body:
        return body == topic
    names = topic.split("/")
    levels = body.split("/")
    for i, level in enumerate(levels):
        if level == "#":  # valid filters have it last; it also matches the parent level
            return True
        if i == len(names) or (level != "+" and level != names[i]):
            return False
    return len(levels) == len(names)


class _Many[V: Hashable](tuple[V, ...]):
    """The values of a filter that holds several, or None.

    A filter with one value holds it bare: no tuple to allocate, or to chase on every hit.
    """

    __slots__ = ()


type _Held[V: Hashable] = V | _Many[V]


def _values[V: Hashable](held: _Held[V]) -> tuple[V, ...]:
    return held if isinstance(held, _Many) else (held,)


def _hold[V: Hashable](values: tuple[V, ...]) -> _Held[V]:
    if len(values) == 1 and values[0] is not None and not isinstance(values[0], _Many):
        return values[0]
    return _Many(values)


def _put[K, V: Hashable](table: dict[K, _Held[V]], key: K, value: V) -> bool:
    """Add `value` under `key`; False if it is there already."""
    held = table.get(key)
    if held is None:
        bare = value is not None and not isinstance(value, _Many)
        table[key] = value if bare else _Many((value,))
        return True
    values = _values(held)
    if value in values:
        return False
    table[key] = _Many((*values, value))
    return True


def _drop[K, V: Hashable](table: dict[K, _Held[V]], key: K, value: V) -> tuple[V, ...] | None:
    """Remove `value` from `key`: the values left there, or None if it was not there."""
    held = table.get(key)
    values = () if held is None else _values(held)
    if value not in values:
        return None
    values = tuple(v for v in values if v != value)
    if values:
        table[key] = _hold(values)
    else:
        del table[key]
    return values


type _KeyFn = Callable[[list[str]], Hashable]


def _no_key(levels: list[str]) -> tuple[()]:
    return ()


class _Shape[V: Hashable]:
    """Wildcard filters with one layout: `a/+/c` and `x/+/z`, or `a/b/#` and `x/y/#`.

    All of a shape's filters are checked with one dict lookup, keyed by their literal
    levels: a topic's key is its levels at the same positions.
    """

    __slots__ = ("depth", "filters", "hash", "key", "literal", "wild_first")

    def __init__(self, levels: list[str], is_hash: bool) -> None:
        literal = tuple(i for i, level in enumerate(levels) if level != "+")
        self.depth = len(levels)  # levels before a trailing `#`
        self.hash = is_hash
        self.literal = literal
        self.key: _KeyFn = itemgetter(*literal) if literal else _no_key
        self.wild_first = not literal or literal[0] != 0  # so it never matches `$` topics
        self.filters: dict[Hashable, _Held[V]] = {}

    def fits(self, depth: int) -> bool:
        """Whether a topic of `depth` levels can match this shape's filters."""
        return depth >= self.depth if self.hash else depth == self.depth

    def levels(self, key: Hashable) -> list[str]:
        """The levels (before a trailing `#`) of the filter stored under `key`."""
        levels = ["+"] * self.depth
        literals = (key,) if len(self.literal) == 1 else key
        assert isinstance(literals, tuple)  # noqa: S101 - itemgetter of 0 or 2+ items
        for i, level in zip(self.literal, literals, strict=True):
            levels[i] = level
        return levels


class _Node[V: Hashable]:
    """A level of the wildcard tree; absent parts stay None / () to keep big trees small."""

    __slots__ = ("children", "ends", "found", "hash", "plus", "values")

    def __init__(self) -> None:
        self.children: dict[str, _Node[V]] | None = None
        self.plus: _Node[V] | None = None
        self.hash: tuple[V, ...] = ()  # values of `<this path>/#`
        self.values: tuple[V, ...] = ()  # values of the filter ending here
        self.ends: tuple[V, ...] = ()  # what a topic ending here gets: values, then hash
        self.found = 0  # how many filters give `ends`

    def empty(self) -> bool:
        return not (self.children or self.plus or self.hash or self.values)


class _State[V: Hashable]:
    """Where a topic prefix leads in the tree: the nodes reached (its frontier) and the values
    of the `#` filters met so far, which match every topic going at least a level deeper.

    `next` keeps the states one level down, by level, as they are first needed; `tail` and
    `exact` are what a topic's last level needs, made the first time a topic ends one level
    below this prefix: the `#` values and the `+` children's values, and the dicts to look the
    last level up in.
    """

    __slots__ = ("exact", "found", "frontier", "next", "spare", "spare_found", "tail")

    def __init__(self, frontier: tuple[_Node[V], ...], spare: tuple[V, ...], found: int) -> None:
        self.frontier = frontier
        self.spare = spare
        self.spare_found = found
        self.next: dict[str, _State[V]] = {}
        self.tail: tuple[V, ...] | None = None
        self.found = 0  # how many filters give `tail`
        self.exact: tuple[dict[str, _Node[V]], ...] = ()

    def step(self, level: str) -> "_State[V]":
        """The state one level down, through `level`."""
        frontier: list[_Node[V]] = []
        for node in self.frontier:
            if node.children is not None and (child := node.children.get(level)):
                frontier.append(child)
            if node.plus is not None:
                frontier.append(node.plus)
        spare, found = self.spare, self.spare_found
        hashes = [node.hash for node in frontier if node.hash]
        if hashes:
            spare = tuple(itertools.chain(spare, *hashes))
            found += len(hashes)
        return _State(tuple(frontier), spare, found)

    def finish(self) -> tuple[V, ...]:
        """Make `tail`, `found` and `exact` (see the class) and return `tail`."""
        tail = [self.spare]
        found = self.spare_found
        exact: list[dict[str, _Node[V]]] = []
        for node in self.frontier:
            if node.plus is not None and node.plus.ends:
                tail.append(node.plus.ends)
                found += node.plus.found
            if node.children:
                exact.append(node.children)
        self.tail = tuple(itertools.chain(*tail))
        self.found = found
        self.exact = tuple(exact)
        return self.tail


class _Tree[V: Hashable]:
    """Wildcard filters as a level tree: dict children, a `+` child, `#` values per node.

    Walked level by level, never recursively: a topic can have 32,768 levels. Topics share
    their prefixes (`site/dev7/temp`, `site/dev7/hum`), so the walk goes from state to state
    (see _State): each state keeps the next ones by level, and a topic under a known parent
    costs a dict lookup per level, then one per frontier node that has children. At most
    STATES_KEPT states are kept (then they start again), only through levels of at most
    LEVEL_CHARS characters and to frontiers of at most FRONTIER_KEPT nodes; every change
    starts them again.
    """

    STATES_KEPT: ClassVar[int] = 16_384
    LEVEL_CHARS: ClassVar[int] = 64
    FRONTIER_KEPT: ClassVar[int] = 64

    __slots__ = ("dollar_root", "dollar_start", "kept", "root", "start")

    def __init__(self) -> None:
        self.root: _Node[V] = _Node()
        self.root.children = {}
        # The root as `$` topics see it: the same children, no `+` or `#` [MQTT-4.7.2-1].
        self.dollar_root: _Node[V] = _Node()
        self.dollar_root.children = self.root.children
        self.start: _State[V]
        self.dollar_start: _State[V]
        self.kept = 0
        self._restart()

    def _restart(self) -> None:
        """Forget every state but the two the walk starts from."""
        root = self.root
        self.start = _State((root,), root.hash, 1 if root.hash else 0)
        self.dollar_start = _State((self.dollar_root,), (), 0)
        self.kept = 0

    def set(self, levels: list[str], is_hash: bool, values: tuple[V, ...]) -> None:
        """Set the values of a filter (its levels before a trailing `#`); () removes it."""
        path: list[tuple[_Node[V], str]] = []
        node = self.root
        for level in levels:
            path.append((node, level))
            if level == "+":
                if node.plus is None:
                    node.plus = _Node()
                node = node.plus
            else:
                if node.children is None:
                    node.children = {}
                child = node.children.get(level)
                if child is None:
                    child = node.children[level] = _Node()
                node = child
        if is_hash:
            node.hash = values
        else:
            node.values = values
        node.ends = node.values + node.hash
        node.found = bool(node.values) + bool(node.hash)
        self._restart()
        for parent, level in reversed(path):  # drop nodes left empty, deepest first
            if not node.empty():
                return
            if level == "+":
                parent.plus = None
            else:
                assert parent.children is not None  # noqa: S101 - node is its child
                del parent.children[level]
                if not parent.children and parent is not self.root:
                    parent.children = None
            node = parent

    def match(self, levels: list[str], dollar: bool, result: list[V]) -> int:
        """Append the values of filters matching the topic `levels`; return how many filters."""
        state = self.dollar_start if dollar else self.start
        for level in levels[:-1]:
            known = state.next.get(level)
            if known is None:
                if not state.frontier:
                    break  # nothing deeper: the `#` values met are all there is
                known = state.step(level)
                if len(level) <= self.LEVEL_CHARS and len(known.frontier) <= self.FRONTIER_KEPT:
                    if self.kept >= self.STATES_KEPT:
                        self._restart()
                    state.next[level] = known
                    self.kept += 1
            state = known
        tail = state.tail
        if tail is None:
            tail = state.finish()
        if tail:
            result += tail
        found = state.found
        if state.exact:
            last = levels[-1]
            for children in state.exact:
                child = children.get(last)
                if child is not None and child.ends:
                    result += child.ends
                    found += child.found
        return found


# For each shape a topic fits: the shape's key function and its filters' lookup.
type _Plan[V: Hashable] = tuple[tuple[_KeyFn, Callable[[Hashable], _Held[V] | None]], ...]


def _wildcard_levels(body: str) -> tuple[list[str], bool]:
    """A wildcard filter's levels before a trailing `#`, and whether it has one."""
    levels = body.split("/")
    is_hash = levels[-1] == "#"
    if is_hash:
        levels.pop()
    return levels, is_hash


class TopicIndex[V: Hashable]:
    """Filters with values; `match(topic)` gives the values of every filter matching a topic.

    Wildcard-free filters sit in a dict. Wildcard filters are grouped by shape (`?/+/?`,
    `?/?/#`, ...) so a topic costs one dict lookup per shape that fits its depth: in Python
    that beats walking a tree while shapes are few, as they are in real action sets. Topics
    that more than `_MAX_PLAN` shapes fit walk a level tree instead, kept from the moment
    shapes first outnumber `_MAX_PLAN` until no wildcard filter is left.

    A `$share/<group>/` prefix is stripped: `$share/g/a` and `a` are the same filter here.
    Values must be hashable; a (filter, value) pair is stored once. `cache_size > 0` keeps
    an LRU of that many topics' results, cleared by every add and remove.

    One thread at a time: `match` writes too (the LRU, the level tree's states). The router
    has one per warm handler, and the local stack runs a function's invocations one at a time.
    """

    _MAX_PLAN: ClassVar[int] = 16

    __slots__ = (
        "_cached",
        "_count",
        "_dollar_matters",
        "_exact",
        "_plans",
        "_refs",
        "_shapes",
        "_shared",
        "_tree",
        "match",
    )

    match: Callable[[str], list[V]]
    """`match(topic)`: values of every filter matching `topic`, each once; [] if it is invalid.

    The order is deterministic: exact filters' values first, each filter's values in the
    order they were added. An attribute bound in __init__ (to the cached or the direct
    lookup) rather than a method: that saves a call on the hot path.
    """

    def __init__(self, cache_size: int = 0) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        self._exact: dict[str, _Held[V]] = {}
        self._shapes: dict[tuple[bool, ...], _Shape[V]] = {}  # by (is_hash, *is_plus)
        # Per topic depth (negated for `$` topics): the shapes to look up, or None: use the tree.
        self._plans: dict[int, _Plan[V] | None] = {}
        self._dollar_matters = False  # some shape starts with a wildcard
        self._tree: _Tree[V] | None = None
        self._count = 0
        # Filters per value: a result needs de-duplicating only once some value is shared.
        self._refs: dict[V, int] = {}
        self._shared = 0
        self._cached = lru_cache(maxsize=cache_size)(self._lookup) if cache_size else None
        self.match = self._match_cached if cache_size else self._lookup

    def __len__(self) -> int:
        """The number of (filter, value) pairs."""
        return self._count

    def add(self, filter: str, value: V) -> None:
        """Add a pair; a no-op if present. Raises InvalidFilterError for an invalid filter."""
        body = _filter_body(filter)
        if "+" not in body and "#" not in body:
            if not _put(self._exact, body, value):
                return
        else:
            levels, is_hash = _wildcard_levels(body)
            shape_id = (is_hash, *[level == "+" for level in levels])
            shape = self._shapes.get(shape_id)
            if shape is None:
                shape = self._shapes[shape_id] = _Shape(levels, is_hash)
                self._plans.clear()
                self._dollar_matters |= shape.wild_first
            key = shape.key(levels)
            if not _put(shape.filters, key, value):
                return
            if self._tree is not None:
                self._tree.set(levels, is_hash, _values(shape.filters[key]))
            elif len(self._shapes) > self._MAX_PLAN:
                self._tree = self._build_tree()
        self._count += 1
        refs = self._refs[value] = self._refs.get(value, 0) + 1
        if refs == 2:
            self._shared += 1
        if self._cached is not None:
            self._cached.cache_clear()

    def remove(self, filter: str, value: V) -> None:
        """Remove a pair. Raises KeyError if absent, InvalidFilterError for an invalid filter."""
        body = _filter_body(filter)
        if "+" not in body and "#" not in body:
            if _drop(self._exact, body, value) is None:
                raise KeyError((filter, value))
        else:
            levels, is_hash = _wildcard_levels(body)
            shape_id = (is_hash, *[level == "+" for level in levels])
            shape = self._shapes.get(shape_id)
            values = None if shape is None else _drop(shape.filters, shape.key(levels), value)
            if shape is None or values is None:
                raise KeyError((filter, value))
            if not shape.filters:
                del self._shapes[shape_id]
                self._plans.clear()
                self._dollar_matters = any(s.wild_first for s in self._shapes.values())
            if not self._shapes:
                self._tree = None
            elif self._tree is not None:
                self._tree.set(levels, is_hash, values)
        self._count -= 1
        refs = self._refs.pop(value) - 1
        if refs:
            self._refs[value] = refs
            if refs == 1:
                self._shared -= 1
        if self._cached is not None:
            self._cached.cache_clear()

    def _build_tree(self) -> _Tree[V]:
        tree: _Tree[V] = _Tree()
        for shape in self._shapes.values():
            for key, held in shape.filters.items():
                tree.set(shape.levels(key), shape.hash, _values(held))
        return tree

    def _plan(self, depth: int) -> _Plan[V] | None:
        """The lookups for a topic of `depth` levels (negative: a `$` topic); None: the tree."""
        dollar, depth_ = depth < 0, abs(depth)
        fit = [s for s in self._shapes.values() if s.fits(depth_) and not (dollar and s.wild_first)]
        plan = None if len(fit) > self._MAX_PLAN else tuple((s.key, s.filters.get) for s in fit)
        self._plans[depth] = plan
        return plan

    def _match_cached(self, topic: str) -> list[V]:
        assert self._cached is not None  # noqa: S101 - bound only with a cache
        return self._cached(topic).copy()  # the cached list itself is never handed out

    def _lookup(self, topic: str) -> list[V]:
        found = self._exact.get(topic)
        result: list[V]
        if found is None:
            result = []
        elif isinstance(found, _Many):
            result = list(found)
        else:
            result = [found]
        if not self._shapes:
            return result  # an exact filter is a valid topic: no need to validate it
        levels = topic.split("/")
        depth = len(levels)
        if self._dollar_matters and topic[:1] == "$":
            depth = -depth
        try:
            plan = self._plans[depth]
        except KeyError:
            plan = self._plan(depth)
        sources = 0
        if plan is None:
            assert self._tree is not None  # noqa: S101 - plans are None only with a tree
            sources = self._tree.match(levels, depth < 0, result)
        else:
            for key, get in plan:
                hit = get(key(levels))
                if hit is not None:
                    if isinstance(hit, _Many):
                        result += hit
                    else:
                        result.append(hit)
                    sources += 1
        if not sources:
            return result
        # Validated only now: most topics match no wildcard filter, and only a wildcard
        # filter can match an invalid topic (`a/+` matches `a/+`).
        if not _is_topic(topic):
            return []
        if self._shared and sources + (found is not None) > 1:
            return list(dict.fromkeys(result))
        return result
