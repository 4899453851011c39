"""What AWS IoT Core accepts in one publish: a topic name, QoS 0 or 1, a payload of at most 128 KB.

Shared by the `mqtt_publish` action (executors.py) and the analysis SDK (analysis.py), so both
refuse the same publishes with the same words. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from mqtt_actions.limits import MAX_MQTT_PAYLOAD, MAX_TOPIC_BYTES, MAX_TOPIC_SLASHES
from mqtt_actions.topics import InvalidTopicError, validate_topic

_BASIC_INGEST: Final = "$aws/rules/"  # its 3 slashes do not count (IoT Core quotas)

ProblemKind = Literal["topic", "qos", "size"]


@dataclass(frozen=True)
class PublishProblem:
    """Why IoT Core would refuse a publish: `kind` says which part, `message` what to fix."""

    kind: ProblemKind
    message: str


def publish_problem(topic: str, size: int, qos: object) -> PublishProblem | None:
    """The first reason IoT Core would refuse publishing `size` bytes to `topic` at `qos`."""
    problem = topic_problem(topic)
    if problem is not None:
        return PublishProblem("topic", problem)
    if isinstance(qos, bool) or qos not in (0, 1):
        if qos == 2 and not isinstance(qos, bool):
            why = (
                "qos 2 is not supported: AWS IoT Core has no QoS 2 (it gets no PUBACK); "
                "use 1 for at-least-once or 0 for at-most-once delivery"
            )
        else:
            why = f"qos must be 0 or 1, got {qos!r}"
        return PublishProblem("qos", why)
    if size > MAX_MQTT_PAYLOAD:
        why = f"payload is {size:,} bytes; IoT Core accepts at most {MAX_MQTT_PAYLOAD:,}"
        return PublishProblem("size", why)
    return None


def topic_problem(topic: str) -> str | None:
    """Why `topic` cannot be published to (MQTT rules, then IoT Core's limits), or None."""
    try:
        validate_topic(topic)
    except InvalidTopicError as exc:
        return f"{topic[:200]!r} is not a topic to publish to: {exc}"
    size = len(topic.encode("utf-8", "surrogatepass"))
    if size > MAX_TOPIC_BYTES:
        return f"topic is {size:,} bytes; IoT Core accepts at most {MAX_TOPIC_BYTES} (UTF-8)"
    slashes = topic.count("/") - (3 if topic.startswith(_BASIC_INGEST) else 0)
    if slashes > MAX_TOPIC_SLASHES:
        return (
            f"topic {topic!r} has {slashes} '/'; IoT Core accepts at most {MAX_TOPIC_SLASHES} "
            "in a published topic: use fewer levels"
        )
    return None


# The template parameter that lists where mqtt_publish actions may publish (the router's
# iot:Publish is granted on topic/<prefix>/* for each, and on nothing else).
PREFIXES_PARAMETER: Final = "ActionPublishPrefixes"


def parse_prefixes(text: str) -> tuple[str, ...]:
    """`ack,alerts` (the parameter as the router's environment holds it) -> ("ack", "alerts")."""
    return tuple(p.strip().strip("/") for p in text.split(",") if p.strip().strip("/"))


def under_prefixes(topic: str, prefixes: Sequence[str]) -> bool:
    """Whether `topic` is under one of `prefixes` (`ack/x` is under `ack`; `ack` alone and
    `acks/x` are not), as IoT matches the policy resource `topic/<prefix>/*`.

    Sound for a topic *template* too: a prefix holds no `$`, so no placeholder can be part of
    the `<prefix>/` a template starts with, and each placeholder fills one level."""
    return any(topic.startswith(prefix + "/") for prefix in prefixes)


def prefixes_problem(topic: str, prefixes: Sequence[str]) -> str | None:
    """Why the router may not publish to `topic` (a template or a rendered topic), or None."""
    if under_prefixes(topic, prefixes):
        return None
    allowed = ", ".join(f"{p}/..." for p in prefixes) or "none (the parameter is empty)"
    return (
        f"topic {topic[:200]!r} is not under the prefixes mqtt_publish actions may publish "
        f"under ({PREFIXES_PARAMETER}: {allowed}); publish under one of them, or add the "
        f"topic's first level to the {PREFIXES_PARAMETER} parameter"
    )
