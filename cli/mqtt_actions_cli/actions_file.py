"""Reading an actions file, YAML or JSON, into actions (the CLI's job: the layer has no PyYAML).

Hostile input is refused before it costs much: nesting deeper than `MAX_NESTING`, duplicate keys
(plain `safe_load` keeps the last silently), YAML alias cycles and alias bombs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable
from typing import Any, Final

import yaml

from mqtt_actions.actions import Action, ActionsFileError, parse_actions
from mqtt_actions.actions.wording import show

__all__ = ["ALIAS_GROWTH", "ALIAS_MARGIN", "MAX_NESTING", "load_actions_file"]

MAX_NESTING: Final = 64  # [ and { levels; an actions file needs about 4
_BRACKETS: Final = re.compile(r"[\[\]{}]")
_TOO_DEEP: Final = (
    f"the file is nested more than {MAX_NESTING} levels deep; an actions file needs a few"
)


def _nesting(text: str) -> int:
    """The deepest [ / { nesting, counting brackets even inside quotes (an upper bound).
    Checked first: PyYAML's scanner is quadratic in flow nesting, json is recursive."""
    depth = deepest = 0
    for bracket in _BRACKETS.finditer(text):
        depth = depth + 1 if bracket[0] in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


class _AliasError(ValueError):
    pass


def load_actions_file(text: str, *, source: str = "<actions>") -> list[Action]:
    """Parse an actions file, YAML or JSON; ActionsFileError lists every problem."""
    if _nesting(text) > MAX_NESTING:
        raise ActionsFileError([_TOO_DEEP], source=source)
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
        except _DuplicateKeyError as exc:
            raise ActionsFileError([str(exc)], source=source) from None
        except RecursionError:
            raise ActionsFileError([_TOO_DEEP], source=source) from None
        except json.JSONDecodeError:
            pass  # YAML flow style, or broken: the YAML parser reports where
        else:
            return parse_actions(data, source=source)
    try:
        data = yaml.load(text, Loader=_strict_loader())  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise ActionsFileError([_yaml_problem(exc)], source=source) from None
    except yaml.YAMLError as exc:
        raise ActionsFileError([f"YAML error: {exc}"], source=source) from None
    except _AliasError as exc:
        raise ActionsFileError([str(exc)], source=source) from None
    except RecursionError:  # deep block-style nesting (indentation)
        raise ActionsFileError([_TOO_DEEP], source=source) from None
    return parse_actions(data, source=source)


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(
                f"duplicate key {key!r}; each field may appear once per mapping"
            )
        out[key] = value
    return out


def _yaml_problem(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    if isinstance(exc, _DuplicateYamlKeyError):
        return f"{where}{exc.problem}; each field may appear once per mapping"
    context = f" ({exc.context})" if exc.context else ""
    return (
        f"{where}YAML syntax error: {exc.problem}{context}; check the indentation "
        "(spaces, not tabs) and put text containing ': ' or starting with > | * & ! % @ in quotes"
    )


# YAML aliases (*a) repeat a node without repeating its text: nine lines can stand for a billion
# values ("billion laughs"). A document may expand to its own size times this, plus a margin.
ALIAS_GROWTH: Final = 10
ALIAS_MARGIN: Final = 100_000


def _check_aliases(root: yaml.Node) -> None:
    """Refuse a document whose aliases form a cycle or expand it past the bound, before anything
    is built from it. Iterative: deep documents cannot exhaust the stack here."""

    def children(node: yaml.Node) -> list[yaml.Node]:
        if isinstance(node, yaml.MappingNode):
            return [part for pair in node.value for part in pair]
        return list(node.value) if isinstance(node, yaml.SequenceNode) else []

    sizes: dict[int, int] = {}  # node -> how many values it stands for, aliases expanded
    open_: set[int] = set()  # nodes on the current path
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            open_.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children(node))
            continue
        if id(node) in sizes:
            continue
        open_.add(id(node))
        stack.append((node, True))
        for child in children(node):
            if id(child) in open_:
                mark = child.start_mark
                raise _AliasError(
                    f"line {mark.line + 1}, column {mark.column + 1}: an alias refers to a node "
                    "that contains it; an actions file cannot be recursive"
                )
            if id(child) not in sizes:
                stack.append((child, False))
    expanded, bound = sizes[id(root)], ALIAS_MARGIN + ALIAS_GROWTH * len(sizes)
    if expanded > bound:
        raise _AliasError(
            f"aliases (*name) expand the file to {expanded:,} values, more than {bound:,}; "
            "write the repeated parts out or use fewer nested aliases"
        )


class _DuplicateYamlKeyError(yaml.constructor.ConstructorError):
    """A mapping that repeats a key (known by its type, never by its message)."""


def _strict_loader() -> type[yaml.SafeLoader]:
    """yaml.SafeLoader that refuses duplicate keys (plain safe_load keeps the last silently),
    alias cycles and alias bombs."""

    class StrictLoader(yaml.SafeLoader):
        def construct_document(self, node: yaml.Node) -> Any:
            _check_aliases(node)
            return super().construct_document(node)

        def construct_mapping(
            self, node: yaml.MappingNode, deep: bool = False
        ) -> dict[Hashable, Any]:
            seen: set[object] = set()
            for key_node, _ in node.value:
                if (
                    isinstance(key_node, yaml.ScalarNode)
                    and key_node.tag != "tag:yaml.org,2002:merge"
                ):
                    key = self.construct_object(key_node, deep=deep)
                    if key in seen:
                        raise _DuplicateYamlKeyError(
                            "while constructing a mapping",
                            node.start_mark,
                            f"found duplicate key {show(key)}",
                            key_node.start_mark,
                        )
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictLoader
