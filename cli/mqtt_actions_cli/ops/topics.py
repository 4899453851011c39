"""The topics seen (MQTT Explorer style): a tree built from the inspector's publish entries, with
message count, last payload and last time per topic, and the actions whose filters match one;
the broker's retained messages (iot-data ListRetainedMessages / GetRetainedMessage, answered
locally by the stack's control API), and clearing one (a retained publish of zero bytes)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from mqtt_actions.actions import Action
from mqtt_actions.inspector import EntryType, InspectorEntry
from mqtt_actions.topics import topic_matches
from mqtt_actions_cli.ops import inspector, publish
from mqtt_actions_cli.target import Target

SEEN_LIMIT = 5000
MAX_RETAINED = 5000  # topics listed at most (ListRetainedMessages pages of 200)
RETAINED_PAGE = 200  # ListRetainedMessages' maxResults: 1-200


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


# ---------------------------------------------------------------------------- retained messages


class Retained(BaseModel):
    """A retained message's summary (ListRetainedMessages gives no payload)."""

    topic: str
    size: int
    qos: int
    time: int | None  # when it was retained (ms); None when the broker does not know


def retained(target: Target) -> list[Retained]:
    """Every topic holding a retained message (at most MAX_RETAINED), by topic. On AWS each call
    is billed as messaging (IoT Core pricing), so callers poll it sparingly."""
    client = target.client("iot-data")
    found: list[Retained] = []
    token: str | None = None
    for _ in range(MAX_RETAINED // RETAINED_PAGE):
        page = client.list_retained_messages(
            maxResults=RETAINED_PAGE, **({"nextToken": token} if token else {})
        )
        for item in page.get("retainedTopics", []):
            at = item.get("lastModifiedTime")
            found.append(
                Retained(
                    topic=str(item["topic"]),
                    size=int(item.get("payloadSize") or 0),
                    qos=int(item.get("qos") or 0),
                    time=int(at) if at else None,
                )
            )
        token = page.get("nextToken")
        if not token:
            break
    return sorted(found, key=lambda r: r.topic)


def retained_payload(target: Target, topic: str) -> bytes | None:
    """The retained payload on `topic` (GetRetainedMessage), or None when there is none."""
    client = target.client("iot-data")
    try:
        return bytes(client.get_retained_message(topic=topic)["payload"])
    except client.exceptions.ResourceNotFoundException:
        return None


def clear_retained(target: Target, topic: str) -> publish.PublishResult:
    """Delete the retained message on `topic`: a retained publish of zero bytes (MQTT 3.1.1
    §3.3.1.3, IoT Core alike), sent as the stack's own client (QoS 1: acknowledged)."""
    return publish.publish(target, topic, b"", qos=1, retain=True)
