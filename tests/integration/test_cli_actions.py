"""`mqtt-actions actions apply|list|rm|test` against the template's actions table on moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mqtt_actions.adapters.actions_store import DynamoActionsStore
from mqtt_actions_cli.target import Target
from tests.integration.cli_support import moto_target, run
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration

ACTIONS = """\
actions:
  - id: store-temperatures
    topics: ["home/+/temperature"]
    type: insert_bucket
  - id: sms-hot
    topics: ["home/+/temperature"]
    when: [{variable: temperature, op: ">", value: 30}]
    type: sms
    to: ["+15555550100"]
    message: "$DEVICE$: $VARIABLE$ = $VALUE$$UNIT$ on $TOPIC$"
  - id: mail-door
    topics: ["alarm/#"]
    rate_limit: {max: 2, per_seconds: 600}
    type: email
    to: [ops@example.com]
    subject: "Alarm $DEVICE$"
    message: "$PAYLOAD$"
  - id: echo
    topics: ["cmd/+"]
    type: mqtt_publish
    topic: "ack/$DEVICE$"
    payload: '{"got": "$PAYLOAD$"}'
    qos: 1
  - id: hook
    topics: ["home/#"]
    enabled: false
    type: webhook
    url: https://example.com/in
"""

BROKEN = """\
actions:
  - id: store-temperatures
    topics: ["home/+/temperature"]
    type: insert_bucket
  - id: sms-hot
    topics: ["home/#/temperature"]
    type: sms
    to: ["+15555550100"]
    message: hi
  - id: mail
    topics: ["alarm/#"]
    type: email
    to: [ops@example.com]
    message: "$PAYLOAD$"
"""


@pytest.fixture
def target(aws_env: Aws) -> Target:
    return moto_target(aws_env)


@pytest.fixture
def store(aws_env: Aws) -> DynamoActionsStore:
    return DynamoActionsStore(aws_env.tables["ActionsTable"], aws_env.dynamodb)


def write(tmp_path: Path, text: str, name: str = "actions.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def stored_ids(store: DynamoActionsStore) -> list[str]:
    return sorted(a.id for a in store.load())


# ---------------------------------------------------------------------------- apply


def test_apply_stores_every_action_and_counts(
    target: Target, store: DynamoActionsStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["actions", "apply", write(tmp_path, ACTIONS)], target)
    assert ran.code == 0, ran.err
    assert stored_ids(store) == ["echo", "hook", "mail-door", "sms-hot", "store-temperatures"]
    assert "5 created, 0 updated, 0 unchanged, 0 removed" in ran.out


def test_apply_again_tells_created_updated_unchanged(
    target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, ["actions", "apply", write(tmp_path, ACTIONS)], target)
    changed = ACTIONS.replace("value: 30", "value: 35") + (
        "  - {id: new-one, topics: [x], type: insert_bucket}\n"
    )
    ran = run(capsys, ["actions", "apply", write(tmp_path, changed), "--json"], target)
    assert ran.code == 0, ran.err
    data = ran.json()
    assert (data["created"], data["updated"]) == (["new-one"], ["sms-hot"])
    assert sorted(data["unchanged"]) == ["echo", "hook", "mail-door", "store-temperatures"]
    assert data["removed"] == []


def test_apply_marks_unchanged_actions_stored_without_a_fingerprint(
    target: Target,
    store: DynamoActionsStore,
    aws_env: Aws,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given actions stored by an earlier version (no fingerprint on the rows)
    run(capsys, ["actions", "apply", write(tmp_path, ACTIONS)], target)
    table = target.output("ActionsTableName")
    for item in aws_env.dynamodb.scan(TableName=table)["Items"]:
        key = {"pk": item["pk"], "sk": item["sk"]}
        aws_env.dynamodb.update_item(
            TableName=table, Key=key, UpdateExpression="REMOVE fingerprint"
        )
    store.load()
    assert len(store.unmarked) == 5
    # When the same file is applied again
    ran = run(capsys, ["actions", "apply", write(tmp_path, ACTIONS), "--json"], target)
    # Then nothing changed, but every row carries its mark again
    assert ran.code == 0, ran.err
    assert len(ran.json()["unchanged"]) == 5
    assert sorted(ran.json()["remarked"]) == stored_ids(store)
    store.load()
    assert store.unmarked == set()
    again = run(capsys, ["actions", "apply", write(tmp_path, ACTIONS), "--json"], target)
    assert again.json()["remarked"] == []


def test_an_invalid_file_is_refused_whole_naming_each_id_and_field(
    target: Target, store: DynamoActionsStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["actions", "apply", write(tmp_path, BROKEN)], target)
    assert ran.code == 2
    assert stored_ids(store) == []  # not even the valid first action
    assert "refused as a whole and nothing was stored" in ran.err
    problems = [line for line in ran.err.splitlines() if line.startswith("  - ")]
    assert len(problems) == 2
    assert "'sms-hot'" in problems[0]
    assert "topics" in problems[0]
    assert "'mail'" in problems[1]
    assert "subject" in problems[1]


def test_an_invalid_file_with_json_lists_the_problems(
    target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["actions", "apply", write(tmp_path, BROKEN), "--json"], target)
    assert ran.code == 2
    assert len(ran.json()["problems"]) == 2


def test_a_json_file_works_too(
    target: Target, store: DynamoActionsStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps({"actions": [{"id": "a", "topics": ["x/#"], "type": "insert_bucket"}]})
    ran = run(capsys, ["actions", "apply", write(tmp_path, text, "a.json")], target)
    assert ran.code == 0, ran.err
    assert stored_ids(store) == ["a"]


def test_a_missing_file(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, ["actions", "apply", "/nonexistent/actions.yaml"], target)
    assert ran.code == 2
    assert "no file '/nonexistent/actions.yaml'" in ran.err


def test_without_prune_other_actions_are_kept_and_said_so(
    target: Target, store: DynamoActionsStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, ["actions", "apply", write(tmp_path, ACTIONS)], target)
    only_one = "actions:\n  - {id: echo2, topics: [x], type: insert_bucket}\n"
    ran = run(capsys, ["actions", "apply", write(tmp_path, only_one)], target)
    assert ran.code == 0
    assert len(stored_ids(store)) == 6
    assert "--prune removes them" in ran.out


def test_prune_removes_what_the_file_does_not_hold(
    target: Target, store: DynamoActionsStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, ["actions", "apply", write(tmp_path, ACTIONS)], target)
    only_one = "actions:\n  - {id: echo, topics: [x], type: insert_bucket}\n"
    ran = run(capsys, ["actions", "apply", write(tmp_path, only_one), "--prune", "--json"], target)
    assert ran.code == 0, ran.err
    assert ran.json()["updated"] == ["echo"]
    assert sorted(ran.json()["removed"]) == ["hook", "mail-door", "sms-hot", "store-temperatures"]
    assert stored_ids(store) == ["echo"]


# ---------------------------------------------------------------------------- list, rm


def test_list_as_a_table(
    target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, ["actions", "apply", write(tmp_path, ACTIONS)], target)
    ran = run(capsys, ["actions", "list"], target)
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].split() == ["ID", "TYPE", "TOPICS", "ENABLED", "WHEN", "RATE", "LIMIT"]
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert list(rows) == ["echo", "hook", "mail-door", "sms-hot", "store-temperatures"]
    assert "temperature > 30" in rows["sms-hot"]
    assert "10 per 60 s (default)" in rows["sms-hot"]
    assert "2 per 600 s" in rows["mail-door"]
    assert " no " in rows["hook"]
    assert lines[-1] == "5 actions"


def test_list_json_can_be_applied_back(
    target: Target, store: DynamoActionsStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, ["actions", "apply", write(tmp_path, ACTIONS)], target)
    backup = run(capsys, ["actions", "list", "--json"], target).out
    ran = run(
        capsys, ["actions", "apply", write(tmp_path, backup, "backup.json"), "--json"], target
    )
    assert ran.code == 0, ran.err
    assert len(ran.json()["unchanged"]) == 5


def test_rm_removes(
    target: Target, store: DynamoActionsStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, ["actions", "apply", write(tmp_path, ACTIONS)], target)
    ran = run(capsys, ["actions", "rm", "echo", "hook"], target)
    assert ran.code == 0, ran.err
    assert "removed 2 actions" in ran.out
    assert stored_ids(store) == ["mail-door", "sms-hot", "store-temperatures"]


def test_rm_with_an_unknown_id_names_it_and_removes_nothing(
    target: Target, store: DynamoActionsStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, ["actions", "apply", write(tmp_path, ACTIONS)], target)
    ran = run(capsys, ["actions", "rm", "echo", "nope", "nada"], target)
    assert ran.code == 2
    assert "no stored action with id nope, nada; nothing was removed" in ran.err
    assert len(stored_ids(store)) == 5


# ---------------------------------------------------------------------------- test (dry run)


def test_dry_run_shows_what_would_be_sent_and_sends_nothing(
    aws_env: Aws, target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, ["actions", "apply", write(tmp_path, ACTIONS)], target)
    payload = '{"variable": "temperature", "value": 31, "unit": "C"}'
    ran = run(
        capsys,
        ["actions", "test", "home/kitchen/temperature", "--payload", payload, "--device", "s-1"],
        target,
    )
    assert ran.code == 0, ran.err
    assert ran.out.startswith("DRY RUN (nothing is sent)")
    assert "store-temperatures (insert_bucket): WOULD RUN" in ran.out
    assert "would store 1 data point in bucket 's-1'" in ran.out
    assert "sms-hot (sms): WOULD RUN" in ran.out
    assert (
        'would send SMS to +15555550100: "s-1: temperature = 31C on home/kitchen/temperature"'
        in ran.out
    )
    assert "hook" not in ran.out  # disabled
    # Nothing happened anywhere.
    assert aws_env.sms() == []
    assert aws_env.emails() == []
    assert aws_env.mqtt() == []
    assert aws_env.dead_letters() == []
    bucket = aws_env.dynamodb.scan(TableName=aws_env.tables["BucketTable"])
    assert bucket["Items"] == []


def test_dry_run_tells_why_an_action_would_not_run(
    target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = '{"variable": "temperature", "value": 20}'
    ran = run(
        capsys,
        [
            "actions",
            "test",
            "home/kitchen/temperature",
            "--payload",
            payload,
            "--json",
            "--file",
            write(tmp_path, ACTIONS),
        ],
        target,
    )
    assert ran.code == 0, ran.err
    by_id = {a["action_id"]: a for a in ran.json()["actions"]}
    assert by_id["sms-hot"]["outcome"] == "condition_false"
    assert "temperature" in by_id["sms-hot"]["reason"]
    assert by_id["sms-hot"]["would_send"] == []
    assert by_id["store-temperatures"]["would_send"][0]["kind"] == "bucket"


def test_dry_run_renders_email_and_mqtt(
    target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, ACTIONS)
    mail = run(
        capsys,
        [
            "actions",
            "test",
            "alarm/door",
            "--payload",
            "open",
            "--device",
            "door-1",
            "--file",
            path,
            "--json",
        ],
        target,
    )
    [action] = mail.json()["actions"]
    [email] = action["would_send"]
    assert (email["kind"], email["to"], email["subject"], email["text"]) == (
        "email",
        ["ops@example.com"],
        "Alarm door-1",
        "open",
    )
    echo = run(
        capsys,
        ["actions", "test", "cmd/door-1", "--payload", "go", "--device", "door-1", "--file", path],
        target,
    )
    assert 'would publish on ack/door-1 (qos 1): {"got": "go"}' in echo.out


def test_dry_run_from_a_file_needs_no_stack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MQTT_ACTIONS_CONTROL_PORT", "1")  # nothing there: must not be asked
    ran = run(
        capsys,
        ["actions", "test", "cmd/x", "--payload", "hi", "--file", write(tmp_path, ACTIONS)],
    )
    assert ran.code == 0, ran.err
    assert "echo (mqtt_publish): WOULD RUN" in ran.out


def test_dry_run_with_no_match(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, ["actions", "test", "nothing/here"], target)
    assert ran.code == 0
    assert "no action would run for this topic" in ran.out


def test_dry_run_validates_the_topic(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, ["actions", "test", "home/+/temperature"], target)
    assert ran.code == 2
    assert "TOPIC 'home/+/temperature'" in ran.err


def test_dry_run_refuses_a_broken_file(
    target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["actions", "test", "a/b", "--file", write(tmp_path, BROKEN)], target)
    assert ran.code == 2
    assert "sms-hot" in ran.err
