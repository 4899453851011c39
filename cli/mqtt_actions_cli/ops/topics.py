"""The topics seen (MQTT Explorer style): a tree built from the inspector's publish entries, with
message count, last payload and last time per topic, and the actions whose filters match one."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from mqtt_actions.actions import Action
from mqtt_actions.inspector import EntryType, InspectorEntry
from mqtt_actions.topics import topic_matches
from mqtt_actions_cli.ops import inspector
from mqtt_actions_cli.target import Target

SEEN_LIMIT = 5000


class TopicNode(BaseModel):
    """One level of the tree; `topic` set when messages arrived on exactly this name."""

    name: str
    path: str
    topic: bool = False
    count: int = 0  # messages on this exact topic
    total: int = 0  # messages on it and everything below
    last_time: int | None = None
    last_payload: str | None = None
    last_device: str | None = None
    children: list[TopicNode] = Field(default_factory=list)


def tree(entries: Sequence[InspectorEntry]) -> list[TopicNode]:
    """The publish entries (oldest first) as a tree of topic levels, sorted by name (pure)."""
    root = TopicNode(name="", path="")
    index: dict[str, TopicNode] = {"": root}
    for entry in entries:
        if entry.type is not EntryType.PUBLISH:
            continue
        topic = str(entry.details.get("topic", ""))
        if not topic:
            continue
        node, path = root, ""
        node.total += 1
        for level in topic.split("/"):
            path = f"{path}/{level}" if node is not root else level
            child = index.get(path)
            if child is None:
                child = TopicNode(name=level, path=path)
                index[path] = child
                node.children.append(child)
            child.total += 1
            node = child
        node.topic = True
        node.count += 1
        if node.last_time is None or entry.time >= node.last_time:
            node.last_time = entry.time
            node.last_payload = str(entry.details.get("preview", ""))
            node.last_device = entry.device
    for node in index.values():
        node.children.sort(key=lambda n: n.name)
    return root.children


def seen(target: Target, *, since_ms: int) -> list[TopicNode]:
    entries = inspector.query(
        target, types=[EntryType.PUBLISH.value], since_ms=since_ms, limit=SEEN_LIMIT
    )
    return tree(entries)


def messages(target: Target, topic: str, *, since_ms: int, limit: int = 50) -> list[InspectorEntry]:
    """The recent publishes on `topic`, newest first."""
    entries = inspector.query(
        target, types=[EntryType.PUBLISH.value], since_ms=since_ms, limit=SEEN_LIMIT
    )
    return [e for e in reversed(entries) if e.details.get("topic") == topic][:limit]


def matching(actions: Sequence[Action], topic: str) -> list[Action]:
    """The actions with a filter that matches `topic` (enabled or not)."""
    return [a for a in actions if any(topic_matches(f, topic) for f in a.topics)]
