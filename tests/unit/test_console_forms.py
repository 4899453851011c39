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
        "when": [
            {"variable": "t", "op": ">", "value": 30},
            {"variable": "t", "op": "<=", "value": -2.5},
            {"variable": "door", "op": "==", "value": "30"},
            {"variable": "door", "op": "!=", "value": " open "},
            {"variable": "alarm", "op": "==", "value": True},
            {"variable": "note", "op": "contains", "value": 'say "hi"'},
            {"variable": "gps", "op": "exists"},
        ],
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


def test_the_condition_builder_writes_the_when_of_the_file() -> None:
    form = {
        "type": "insert_bucket",
        "when-0-variable": "temperature",
        "when-0-op": ">",
        "when-0-value": "30",
        "when-1-variable": "",  # a row left blank is no condition
        "when-1-op": "==",
        "when-1-value": "",
        "when-7-variable": "mode",  # rows are read in order, whatever their numbers
        "when-7-op": "==",
        "when-7-value": '"30"',
        "when-9-variable": "gps",
        "when-9-op": "exists",
    }
    assert forms.to_config(form)["when"] == [
        {"variable": "temperature", "op": ">", "value": 30},
        {"variable": "mode", "op": "==", "value": "30"},
        {"variable": "gps", "op": "exists"},
    ]
    rows = forms.condition_rows(form)
    assert [r["variable"] for r in rows] == ["temperature", "", "mode", "gps", ""]  # + a blank


@pytest.mark.parametrize(
    ("problem", "field", "words"),
    [
        (
            "actions[0] (id 'Bad Id!'): id: 'Bad Id!' is not a valid id",
            "id",
            "Action 'Bad Id!', field Id: 'Bad Id!' is not a valid id",
        ),
        (
            "actions[0] (id 'x'): to[1]: '123' is not an E.164 phone number",
            "to",
            "Action 'x', field To, line 2: '123' is not an E.164 phone number",
        ),
        (
            "actions[0] (id 'x'): when[0].value: op '>' compares numbers",
            "when",
            "Action 'x', field Conditions (when), row 1, value: op '>' compares numbers",
        ),
        (
            "actions[0] (id 'x'): rate_limit.per_seconds: must be >= 1, got 0",
            "rate_per",
            "Action 'x', field Rate limit (per seconds): must be >= 1, got 0",
        ),
        (
            "actions[0]: missing required field 'id', e.g. id: store-temperatures",
            "id",
            "This action, field Id: missing required field 'id', e.g. id: store-temperatures",
        ),
        (
            'actions[0] (id "it\'s): x"): message: must not be empty',
            "message",
            'Action "it\'s): x", field Message: must not be empty',
        ),
        (
            "actions[0] (id 'a'): type 'emial' is not one of",
            "",
            "Action 'a': type 'emial' is not one of",
        ),
    ],
)
def test_form_problems_name_the_action_and_the_field_in_words(
    problem: str, field: str, words: str
) -> None:
    assert forms.worded(problem, "sms") == (field, words)
