"""The operations layer against moto: what the CLI and the console both call, without argparse."""

from __future__ import annotations

import json

import pytest
import yaml

from mqtt_actions.adapters.bucket import DynamoBucket
from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions.inspector import EntryType, InspectorEntry
from mqtt_actions_cli.ops import actions as ops_actions
from mqtt_actions_cli.ops import bucket, devices, dlq, inspector, topics
from mqtt_actions_cli.ops.errors import NotFoundError, UsageError
from mqtt_actions_cli.target import Target
from tests.integration.cli_support import moto_target
from tests.integration.conftest import Aws

FILE = """
actions:
  - {id: store, topics: ["home/+/temperature"], type: insert_bucket}
  - id: hook
    topics: ["#"]
    type: webhook
    url: https://example.com/in
    headers: {X-Key: s3cret-value-1234}
"""


@pytest.fixture
def target(aws_env: Aws) -> Target:
    return moto_target(aws_env, InspectorTableName=aws_env.tables["InspectorTable"])


def test_apply_list_remove(target: Target) -> None:
    first = ops_actions.apply(target, ops_actions.parse_file(FILE, "f"), prune=False, source="f")
    assert (first.created, first.updated) == (["store", "hook"], [])
    again = ops_actions.apply(target, ops_actions.parse_file(FILE, "f"), prune=False, source="f")
    assert (again.created, again.unchanged) == ([], ["store", "hook"])
    assert [a.id for a in ops_actions.list_actions(target)] == ["hook", "store"]
    with pytest.raises(NotFoundError, match="nope; nothing was removed"):
        ops_actions.remove(target, ["store", "nope"])
    assert ops_actions.remove(target, ["store"]).removed == ["store"]
    assert sorted(ops_actions.store(target).ids()) == ["hook"]


def test_an_invalid_file_names_the_field_and_stores_nothing(target: Target) -> None:
    with pytest.raises(UsageError) as refused:
        ops_actions.parse_file("actions: [{id: x, topics: ['a/#/b'], type: insert_bucket}]", "f")
    assert any("topics" in p for p in refused.value.problems)
    assert ops_actions.list_actions(target) == []


def test_save_refuses_problems_and_keeps_a_masked_secret(target: Target) -> None:
    ops_actions.apply(target, ops_actions.parse_file(FILE, "f"), prune=False, source="f")
    shown = ops_actions.masked_config(ops_actions.get(target, "hook"))
    assert shown["headers"] == {"X-Key": "••••1234"}
    with pytest.raises(UsageError) as refused:
        ops_actions.save(target, shown | {"url": "ftp://x"}, replaces="hook")
    assert any("url" in p for p in refused.value.problems)
    saved = ops_actions.save(target, shown | {"name": "renamed"}, replaces="hook")
    stored = ops_actions.get(target, "hook")
    assert saved.name == "renamed"
    assert stored.model_dump()["headers"] == {"X-Key": "s3cret-value-1234"}
    replaced = ops_actions.save(target, shown | {"headers": {"X-Key": "new"}}, replaces="hook")
    assert replaced.model_dump()["headers"] == {"X-Key": "new"}


def test_enable_disable_and_export_round_trip(target: Target) -> None:
    ops_actions.apply(target, ops_actions.parse_file(FILE, "f"), prune=False, source="f")
    assert ops_actions.set_enabled(target, "store", False).enabled is False
    text = ops_actions.export(target)
    assert yaml.safe_load(text)["actions"][1]["enabled"] is False
    # the console's download showed header secrets (issue #23): masked, kept on apply
    assert "s3cret-value" not in text
    assert yaml.safe_load(text)["actions"][0]["headers"] == {"X-Key": "••••1234"}
    back = ops_actions.apply(target, ops_actions.parse_file(text, "x"), prune=True, source="x")
    assert (back.created, back.updated, back.removed) == ([], [], [])
    assert sorted(back.unchanged) == ["hook", "store"]
    assert ops_actions.get(target, "hook").model_dump()["headers"] == {"X-Key": "s3cret-value-1234"}


def test_dry_run_with_the_stored_actions(target: Target) -> None:
    ops_actions.apply(target, ops_actions.parse_file(FILE, "f"), prune=False, source="f")
    result = ops_actions.dryrun(target, "home/k/temperature", b'{"variable":"t","value":1}')
    assert {p.action_id: p.outcome for p in result.actions} == {"store": "done", "hook": "done"}
    with pytest.raises(UsageError, match="TOPIC"):
        ops_actions.dryrun(target, "home/#", b"")


def test_bucket_query(aws_env: Aws, target: Target) -> None:
    rows = DynamoBucket(aws_env.tables["BucketTable"], aws_env.dynamodb)
    rows.insert("s1", [{"variable": "t", "value": 1}], traceid="a", timestamp=1_000)
    rows.insert("s1", [{"variable": "t", "value": 2}], traceid="b", timestamp=2_000)
    page = bucket.query(target, "s1", limit=10)
    assert [(p["value"], p["time_ms"]) for p in page.points] == [(2, 2_000), (1, 1_000)]
    assert bucket.query(target, "s1", since_ms=1_500).points[0]["value"] == 2
    with pytest.raises(UsageError):
        bucket.query(target, "s1", since_ms=3, until_ms=2)


def test_inspector_devices_and_topics(aws_env: Aws, target: Target) -> None:
    log = DynamoInspector(aws_env.tables["InspectorTable"], aws_env.dynamodb, 7)
    now = 1_764_072_000_000
    log.write(
        [
            InspectorEntry(device="s1", type=EntryType.CONNECT, time=now, uid="c1"),
            InspectorEntry(
                device="s1",
                type=EntryType.PUBLISH,
                time=now + 1,
                uid="p1",
                traceid="p1",
                details={"topic": "home/k/temperature", "preview": "20"},
            ),
        ]
    )
    found = inspector.query(target, since_ms=now - 1, until_ms=now + 10)
    assert [e.type for e in found] == [EntryType.CONNECT, EntryType.PUBLISH]
    [seen] = devices.pure_seen(found)
    assert seen.connected
    [home] = topics.tree(found)
    assert home.children[0].children[0].last_payload == "20"
    assert [e.type for e in devices.history(target, "s1", since_ms=now - 1)] == [EntryType.CONNECT]


def test_dead_letters_list_and_replay_unknown_id(aws_env: Aws, target: Target) -> None:
    body = {"kind": "invalid_event", "reason": "bad", "event": {"x": 1}}
    aws_env.sqs.send_message(
        QueueUrl=aws_env.queues["DeadLetterQueue"], MessageBody=json.dumps(body)
    )
    [letter] = dlq.list_letters(target)
    assert (letter.kind, letter.replayable) == ("invalid_event", False)
    with pytest.raises(NotFoundError):
        dlq.replay(target, ["nope"])
    report = dlq.replay(target, None)
    assert [r.status for r in report.replays] == ["skipped"]
    assert len(dlq.list_letters(target)) == 1  # kept


PUBLISHING = """
actions:
  - {id: ack, topics: ["cmd/+"], type: mqtt_publish, topic: "ack/$DEVICE$"}
  - {id: relay, topics: ["in/+"], type: mqtt_publish, topic: "cmd/$DEVICE$/reboot"}
  - {id: near, topics: ["in/+"], type: mqtt_publish, topic: "acks/$DEVICE$"}
"""


@pytest.mark.parametrize("kind", ["local", "stack"])
def test_apply_refuses_a_publish_outside_the_declared_prefixes(aws_env: Aws, kind: str) -> None:
    """The router may publish under ActionPublishPrefixes only (its IAM policy): an action
    whose topic is elsewhere is refused at apply, naming the action, the field and the
    parameter, and nothing of the file is stored. The local stack says the prefixes in its
    outputs, a deployed stack in its parameters."""
    local = moto_target(aws_env, ActionPublishPrefixes="ack,alerts")
    target = Target(
        kind=kind,
        name=local.name if kind == "local" else "test-stack",
        outputs={k: v for k, v in local.outputs.items() if kind == "local" or "Prefix" not in k},
        region=local.region,
        client_factory=local.client,
        parameters=None if kind == "local" else {"ActionPublishPrefixes": "ack,alerts"},
    )
    actions = ops_actions.parse_file(PUBLISHING, "f")
    with pytest.raises(UsageError) as refused:
        ops_actions.apply(target, actions, prune=False, source="f")

    assert [p.split(":")[0] for p in refused.value.problems] == [
        "actions[1] (id 'relay')",
        "actions[2] (id 'near')",
    ]
    assert all("): topic '" in p for p in refused.value.problems)
    assert all("ActionPublishPrefixes: ack/..., alerts/..." in p for p in refused.value.problems)
    fix = "--param ActionPublishPrefixes=" if kind == "local" else "--parameter-overrides"
    assert fix in str(refused.value.hint)
    assert ops_actions.list_actions(target) == []
    with pytest.raises(UsageError, match="1 problem"):
        ops_actions.save(target, ops_actions.config(actions[1]))

    applied = ops_actions.apply(target, actions[:1], prune=False, source="f")
    assert applied.created == ["ack"]


def test_a_stack_from_before_the_prefixes_is_not_checked(aws_env: Aws) -> None:
    target = moto_target(aws_env)  # no ActionPublishPrefixes output: its role has topic/*
    actions = ops_actions.parse_file(PUBLISHING, "f")
    applied = ops_actions.apply(target, actions, prune=False, source="f")
    assert applied.created == ["ack", "relay", "near"]


def test_dead_letters_discard_one_or_all(aws_env: Aws, target: Target) -> None:
    for n in range(3):
        body = {"kind": "invalid_event", "reason": f"bad {n}", "event": {"x": n}}
        aws_env.sqs.send_message(
            QueueUrl=aws_env.queues["DeadLetterQueue"], MessageBody=json.dumps(body)
        )
    first, *_rest = dlq.list_letters(target)
    with pytest.raises(NotFoundError):
        dlq.discard(target, [first.message_id, "nope"])
    with pytest.raises(UsageError):
        dlq.discard(target, [])  # an empty choice is not "all"
    assert len(dlq.list_letters(target)) == 3  # nothing was discarded
    report = dlq.discard(target, [first.message_id])
    assert (report.discarded, report.kept) == ([first.message_id], 2)
    assert first.message_id not in {d.message_id for d in dlq.list_letters(target)}
    report = dlq.discard(target, None)
    assert (len(report.discarded), report.kept) == (2, 0)
    assert dlq.list_letters(target) == []
