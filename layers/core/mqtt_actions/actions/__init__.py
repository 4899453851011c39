"""Actions: what a valid action is, how problems are worded, and how an action is stored.

- `model`: the pydantic models of every action type and their field rules
- `wording`: how a user's value is shown in a message
- `problems`: `parse_actions` / `parse_action` and `ActionsFileError` (every problem, named)
- `stored`: the stored form and its fingerprint (the router's cold start)

Reading a YAML or JSON file is the CLI's job (`mqtt_actions_cli.actions_file`): the layer has no
PyYAML.
"""

from __future__ import annotations

from mqtt_actions.actions.model import (
    ACTION_TYPES,
    OPS,
    Action,
    ActionBase,
    Condition,
    ConditionValue,
    EmailAction,
    EmailAddress,
    InsertBucketAction,
    MqttPublishAction,
    Op,
    Phone,
    RateLimit,
    RunAnalysisAction,
    SmsAction,
    WebhookAction,
    effective_rate_limit,
)
from mqtt_actions.actions.problems import ActionsFileError, parse_action, parse_actions
from mqtt_actions.actions.stored import read_stored_action, stored_fingerprint

__all__ = [
    "ACTION_TYPES",
    "OPS",
    "Action",
    "ActionBase",
    "ActionsFileError",
    "Condition",
    "ConditionValue",
    "EmailAction",
    "EmailAddress",
    "InsertBucketAction",
    "MqttPublishAction",
    "Op",
    "Phone",
    "RateLimit",
    "RunAnalysisAction",
    "SmsAction",
    "WebhookAction",
    "effective_rate_limit",
    "parse_action",
    "parse_actions",
    "read_stored_action",
    "stored_fingerprint",
]
