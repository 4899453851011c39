"""publish_problem: what IoT Core refuses in a publish, shared by mqtt_publish and analyses."""

from __future__ import annotations

import pytest

from mqtt_actions.limits import MAX_MQTT_PAYLOAD
from mqtt_actions.publishing import publish_problem


@pytest.mark.parametrize(
    ("topic", "size", "qos", "kind", "words"),
    [
        ("a/b", 0, 0, None, ""),
        ("a/b", MAX_MQTT_PAYLOAD, 1, None, ""),
        ("a/b/c/d/e/f/g/h", 10, 0, None, ""),  # 7 slashes
        ("$aws/rules/r/a/b/c/d/e/f/g/h", 10, 0, None, ""),  # Basic Ingest: 3 more allowed
        ("é" * 128, 10, 0, None, ""),  # 256 UTF-8 bytes
        ("a/b/c/d/e/f/g/h/i", 10, 0, "topic", "has 8 '/'"),
        ("é" * 128 + "x", 10, 0, "topic", "257 bytes"),
        ("a/+", 10, 0, "topic", "'a/+' is not a topic to publish to"),
        ("", 10, 0, "topic", "is not a topic to publish to"),
        ("a/b", 10, 2, "qos", "qos 2 is not supported"),
        ("a/b", 10, False, "qos", "qos must be 0 or 1, got False"),
        ("a/b", 10, "1", "qos", "qos must be 0 or 1, got '1'"),
        ("a/b", MAX_MQTT_PAYLOAD + 1, 0, "size", "131,073 bytes; IoT Core accepts at most 131,072"),
    ],
)
def test_publish_problem(topic: str, size: int, qos: object, kind: str | None, words: str) -> None:
    problem = publish_problem(topic, size, qos)
    if kind is None:
        assert problem is None
    else:
        assert problem is not None
        assert problem.kind == kind
        assert words in problem.message
