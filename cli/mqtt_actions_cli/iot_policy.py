"""The IoT policy of one device (pure): connect only as itself, publish and subscribe only where
told. IoT policies match resources with `*` (any characters, across levels), not MQTT
wildcards, so `+` and `#` in the filters given become `*` (documented in `devices create`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mqtt_actions.topics import InvalidFilterError, validate_filter

THING_NAME = re.compile(r"[a-zA-Z0-9:_-]{1,128}", re.ASCII)
# `*` and `?` are policy wildcards and `${...}` a policy variable: in a filter they would widen it.
_POLICY_SPECIAL = re.compile(r"[*?]|\$\{")


class PolicyInputError(ValueError):
    """A device name or topic filter that cannot go into a policy; the message says why."""


def check_thing_name(name: str) -> None:
    if not THING_NAME.fullmatch(name):
        msg = (
            f"device name {name!r} is not a valid thing name: use 1-128 letters, digits, "
            "':', '_' or '-' (it is also the MQTT client id)"
        )
        raise PolicyInputError(msg)


def policy_patterns(topic_filter: str, *, option: str) -> list[str]:
    """The policy resource patterns (after `topic/` or `topicfilter/`) that cover an MQTT filter."""
    try:
        validate_filter(topic_filter)
    except InvalidFilterError as exc:
        raise PolicyInputError(f"{option} {topic_filter!r}: {exc}") from None
    if topic_filter.startswith("$"):
        msg = f"{option} {topic_filter!r}: topics starting with '$' are reserved by AWS IoT"
        raise PolicyInputError(msg)
    if _POLICY_SPECIAL.search(topic_filter):
        msg = (
            f"{option} {topic_filter!r} holds '*', '?' or '${{', which IoT policies read as "
            "wildcards or variables; use MQTT's + and # instead"
        )
        raise PolicyInputError(msg)
    if topic_filter == "#":
        return ["*"]
    widened = "/".join("*" if level == "+" else level for level in topic_filter.split("/"))
    if widened.endswith("/#"):
        parent = widened[:-2]
        return [parent, f"{parent}/*"]  # MQTT's `a/#` matches `a` itself too
    return [widened]


def device_policy(
    *,
    partition: str,
    region: str,
    account: str,
    publish: Sequence[str],
    subscribe: Sequence[str],
) -> dict[str, Any]:
    """The policy document: Connect as its own thing only; Publish/RetainPublish on `publish`;
    Subscribe on `subscribe` and Receive what arrives there."""
    arn = f"arn:{partition}:iot:{region}:{account}"

    def resources(kind: str, filters: Sequence[str], option: str) -> list[str]:
        patterns: list[str] = []
        for topic_filter in filters:
            patterns += policy_patterns(topic_filter, option=option)
        return [f"{arn}:{kind}/{p}" for p in dict.fromkeys(patterns)]

    statements: list[dict[str, Any]] = [
        {
            "Sid": "ConnectAsItsOwnThingOnly",
            "Effect": "Allow",
            "Action": "iot:Connect",
            "Resource": f"{arn}:client/${{iot:Connection.Thing.ThingName}}",
            "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
        }
    ]
    if publish:
        statements.append(
            {
                "Sid": "Publish",
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:RetainPublish"],
                "Resource": resources("topic", publish, "--publish"),
            }
        )
    if subscribe:
        statements += [
            {
                "Sid": "Subscribe",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": resources("topicfilter", subscribe, "--subscribe"),
            },
            {
                "Sid": "Receive",
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": resources("topic", subscribe, "--subscribe"),
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}
