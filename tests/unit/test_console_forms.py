"""The console's action form: to and from an action's configuration, problems by field."""

from __future__ import annotations

import pytest

from mqtt_actions.actions import ActionsFileError, parse_actions
from mqtt_actions_cli.console import forms
from mqtt_actions_cli.errors import UsageError

CONFIGS = [
    {"id": "b", "topics": ["a/#", "b"], "type": "insert_bucket", "device": "$DEVICE$"},
    {
        "id": "s",
        "topics": ["alarm/#"],
        "type": "sms",
        "to": ["+15555550100"],
        "message": "  $VALUE$ ",
        "when": [{"variable": "t", "op": ">", "value": 30}],
        "rate_limit": {"max": 2, "per_seconds": 60},
    },
    {
        "id": "m",
        "topics": ["c/+"],
        "type": "mqtt_publish",
        "topic": "ack",
        "qos": 1,
        "retain": True,
    },
    {
        "id": "w",
        "topics": ["#"],
        "type": "webhook",
        "url": "http://example.com/in",
        "allow_http": True,
        "headers": {"X-Key": "abc: def"},
        "timeout_seconds": 2.5,
        "max_retries": 1,
        "enabled": False,
    },
    {
        "id": "r",
        "topics": ["x"],
        "type": "run_analysis",
        "analyses": ["a", "b"],
        "environment": {"K": "v=1"},
    },
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c["type"])
def test_a_form_round_trip_keeps_the_action(config: dict[str, object]) -> None:
    [action] = parse_actions({"actions": [config]})
    back = forms.to_config(forms.from_config(action.model_dump(mode="json")))
    [again] = parse_actions({"actions": [back]})
    assert again == action


def test_problems_are_placed_next_to_their_field() -> None:
    with pytest.raises(ActionsFileError) as refused:
        parse_actions(
            {
                "actions": [
                    {
                        "id": "x",
                        "topics": ["a/#/b"],
                        "type": "sms",
                        "rate_limit": {"max": "a", "per_seconds": 0},
                    }
                ]
            }
        )
    placed = forms.problems_by_field(refused.value.problems)
    assert set(placed) == {"topics", "to", "message", "rate_max", "rate_per"}
    assert "'#' must be the last level" in placed["topics"][0]


def test_a_header_line_without_a_colon_names_the_line() -> None:
    with pytest.raises(UsageError) as refused:
        forms.to_config({"type": "webhook", "id": "w", "headers": "X-Key: a\nbroken"})
    assert refused.value.problems == ["headers: line 2 'broken' needs NAME: VALUE"]


def test_the_yaml_editor_takes_one_action_or_a_file_of_one() -> None:
    assert forms.from_yaml("id: a\ntype: sms")["id"] == "a"
    assert forms.from_yaml("actions: [{id: b}]")["id"] == "b"
    with pytest.raises(UsageError):
        forms.from_yaml("- 1\n- 2")
