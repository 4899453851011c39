"""publish_problem: what IoT Core refuses in a publish, shared by mqtt_publish and analyses."""

from __future__ import annotations

import pytest

from mqtt_actions.limits import MAX_MQTT_PAYLOAD
from mqtt_actions.publishing import (
    parse_prefixes,
    prefixes_problem,
    publish_problem,
    under_prefixes,
)


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


@pytest.mark.parametrize(
    ("topic", "under"),
    [
        ("ack/sensor-01", True),
        ("ack/$DEVICE$", True),  # a template: the placeholder fills a level below ack/
        ("plant/line-1/$DEVICE$/x", True),
        ("ack", False),  # IoT's topic/ack/* does not match ack itself
        ("acks/x", False),
        ("plant/line-2/x", False),
        ("$DEVICE$/ack", False),  # the first level is the device's to choose
        ("ack$DEVICE$/x", False),
        ("cmd/sensor-02", False),
    ],
)
def test_a_topic_is_under_the_declared_prefixes(topic: str, under: bool) -> None:
    prefixes = parse_prefixes(" ack, plant/line-1/ ,,")
    assert prefixes == ("ack", "plant/line-1")
    assert under_prefixes(topic, prefixes) is under
    assert (prefixes_problem(topic, prefixes) is None) is under


def test_no_prefix_allows_nothing_and_says_so() -> None:
    assert "none (the parameter is empty)" in str(prefixes_problem("ack/x", parse_prefixes("")))
