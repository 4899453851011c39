"""The IoT policy of one device (pure): connect only as itself, publish and subscribe only where
told. IoT policies match resources with `*` (any characters, across levels), not MQTT
wildcards, so `+` and `#` in the filters given become `*` (documented in `devices create`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mqtt_actions.tokens import DEVICE_NAME, PolicyInputError, policy_patterns

__all__ = ["PolicyInputError", "check_thing_name", "device_policy", "policy_patterns"]


def check_thing_name(name: str) -> None:
    if not DEVICE_NAME.fullmatch(name):
        msg = (
            f"device name {name!r} is not a valid thing name: use 1-128 letters, digits, "
            "':', '_' or '-' (it is also the MQTT client id)"
        )
        raise PolicyInputError(msg)


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
