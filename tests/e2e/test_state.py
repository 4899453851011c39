"""The local stack remembers: actions, bucket rows, inspector entries, dead letters, the outbox and
retained messages survive a restart (Ctrl-C, and `kill -9` after the save interval); the banner
says what came back; `--fresh` starts empty; an unreadable state file is set aside, never a crash.
Each test runs its own stacks (the shared one starts --fresh in a temporary directory)."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from mqtt_actions_cli.local.state import SAVE_SECONDS, STATE_FILE
from tests.e2e.conftest import LocalStack, running_stack, wait_until
from tests.support.mqtt_clients import stop_loop

pytestmark = pytest.mark.e2e

ACTIONS = """
actions:
  - {id: keep-store, topics: ["keep/+/reading"], type: insert_bucket}
  - id: keep-hook
    topics: ["keep/+/reading"]
    type: webhook
    url: "http://127.0.0.1:9/refused"
    allow_http: true
"""


def _publish(local: LocalStack, topic: str, payload: bytes, *, retain: bool = False) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="keep-device")
    client.connect(local.host, local.mqtt_port, keepalive=30)
    client.loop_start()
    info = client.publish(topic, payload, qos=1, retain=retain)
    info.wait_for_publish(timeout=10)
    assert info.is_published()
    client.disconnect()
    stop_loop(client)


def _retained(local: LocalStack, topic: str) -> bytes | None:
    got: list[bytes] = []
    arrived = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="keep-reader")

    def on_message(_c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        got.append(message.payload)
        arrived.set()

    client.on_message = on_message
    client.connect(local.host, local.mqtt_port, keepalive=30)
    client.loop_start()
    client.subscribe(topic, 1)
    arrived.wait(5)
    client.disconnect()
    stop_loop(client)
    return got[0] if got else None


def _dead_letters(local: LocalStack) -> int:
    """How many messages the dead-letter queue holds (read without receiving them)."""
    attributes = local.client("sqs").get_queue_attributes(
        QueueUrl=local.outputs["DeadLetterQueueUrl"],
        AttributeNames=["ApproximateNumberOfMessages"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def _letters(local: LocalStack) -> list[tuple[str, int]]:
    """(id, time) of each dead letter, as `mqtt-actions dlq list --json` shows them."""
    done = local.cli("dlq", "list", "--json")
    assert done.returncode == 0, done.stderr
    return [(d["message_id"], d["sent_ms"]) for d in json.loads(done.stdout)]


def _console_token(local: LocalStack) -> str:
    line = next(line for line in local.lines if line.startswith("console "))
    return line.rsplit("token=", 1)[1]


def _banner_state(local: LocalStack) -> str:
    return next(line for line in local.lines if line.strip().startswith("state "))


def test_everything_survives_a_ctrl_c_restart_and_the_banner_says_what_came_back(
    tmp_path: Path,
) -> None:
    with running_stack(tmp_path) as first:
        assert "restored nothing (no saved state yet)" in _banner_state(first)
        first.apply(ACTIONS)
        _publish(first, "keep/dev/reading", json.dumps({"variable": "t", "value": 21}).encode())
        _publish(first, "keep/last", b"retained bytes", retain=True)
        wait_until(lambda: first.bucket("keep-device"), "the bucket row")
        wait_until(lambda: first.outbox("webhook"), "the refused webhook in the outbox")
        wait_until(lambda: _dead_letters(first), "the failed webhook's dead letter")
        letters = _letters(first)
        token = _console_token(first)

    assert (tmp_path / STATE_FILE).exists()
    assert (tmp_path / "console-token").stat().st_mode & 0o777 == 0o600
    with running_stack(tmp_path) as second:
        # a dead letter keeps its id and time: a saved `dlq replay --id` still finds it
        assert _letters(second) == letters
        replay = second.cli("dlq", "replay", "--id", letters[0][0], "--dry-run", "--json")
        assert replay.returncode == 0, replay.stderr
        assert [r["message_id"] for r in json.loads(replay.stdout)["replays"]] == [letters[0][0]]
        # the console keeps its token: open tabs keep working
        assert _console_token(second) == token
        line = _banner_state(second)
        assert re.search(r"restored 2 actions, 1 bucket rows, \d+ inspector entries", line), line
        assert re.search(r"\d+ dead letters, \d+ outbox items, 1 retained messages", line), line
        assert [r["value"] for r in second.bucket("keep-device")] == [21]
        assert second.outbox("webhook")
        assert _dead_letters(second) >= 1
        assert _retained(second, "keep/last") == b"retained bytes"
        # the actions came back too: a new message is stored
        _publish(second, "keep/dev/reading", json.dumps({"variable": "t", "value": 22}).encode())
        wait_until(lambda: len(second.bucket("keep-device")) == 2, "the second row")

    with running_stack(tmp_path, "--fresh") as fresh:
        assert "restored nothing (--fresh" in _banner_state(fresh)
        assert fresh.bucket("keep-device") == []
        assert _console_token(fresh) == token  # the token is not data: --fresh keeps it

    with running_stack(tmp_path, "--new-console-token") as rotated:
        assert _console_token(rotated) != token


def test_a_kill_9_loses_at_most_the_last_few_seconds(tmp_path: Path) -> None:
    with running_stack(tmp_path) as first:
        first.apply(ACTIONS)
        _publish(first, "keep/dev/reading", json.dumps({"variable": "t", "value": 1}).encode())
        wait_until(lambda: first.bucket("keep-device"), "the bucket row")
        time.sleep(SAVE_SECONDS * 2 + 1)  # a periodic save has happened since
        first.kill()

    with running_stack(tmp_path) as second:
        assert [r["value"] for r in second.bucket("keep-device")] == [1]


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"format": 99}', b"\xff\xfe"], ids=["json", "format", "bytes"]
)
def test_an_unreadable_state_file_is_set_aside_and_the_stack_starts_empty(
    tmp_path: Path, content: bytes
) -> None:
    (tmp_path / STATE_FILE).write_bytes(content)
    with running_stack(tmp_path) as local:
        line = _banner_state(local)
        assert "restored nothing: the saved state was unreadable" in line, line
        (aside,) = tmp_path.glob(f"{STATE_FILE}.unreadable-*")
        assert aside.read_bytes() == content
        assert str(aside) in line
        assert not local.log_has("Traceback")


def test_an_apply_or_a_remove_takes_effect_at_the_next_message_with_the_actions_cached(
    stack: LocalStack,
) -> None:
    # The stack caches the actions for the template's 30 s; apply and remove mark the change.
    assert "ActionsCacheSeconds" not in " ".join(stack.lines[:20])
    stack.apply("""
actions:
  - {id: marker-a, topics: ["marker/+"], type: insert_bucket}
""")
    _publish(stack, "marker/one", json.dumps({"variable": "a", "value": 1}).encode())
    wait_until(lambda: stack.bucket("keep-device", variable="a"), "the row stored by marker-a")
    store = stack.client("dynamodb")
    store.delete_item(
        TableName=stack.outputs["ActionsTableName"],
        Key={"pk": {"S": "ACTION"}, "sk": {"S": "marker-a"}},
    )
    stack.apply("""
actions:
  - {id: marker-b, topics: ["marker/+"], type: mqtt_publish, topic: "out/marker-b", payload: "b"}
""")
    _publish(stack, "marker/two", json.dumps({"variable": "a", "value": 2}).encode())
    wait_until(lambda: stack.log_has(r"act  marker/two: marker-b=done"), "marker-b at once")
    assert not stack.log_has(r"act  marker/two: .*marker-a"), "the removed action still ran"


def test_a_state_moto_refuses_is_set_aside_and_the_stack_still_starts(tmp_path: Path) -> None:
    # Readable, but not restorable: a bucket row without its key (say the template changed).
    bad = {"format": 1, "tables": {"BucketTable": [{"not_the_key": {"S": "x"}}]}}
    (tmp_path / STATE_FILE).write_text(json.dumps(bad))
    with running_stack(tmp_path) as local:
        line = _banner_state(local)
        assert "part of the saved state only: restoring it failed" in line, line
        (aside,) = tmp_path.glob(f"{STATE_FILE}.unreadable-*")
        assert json.loads(aside.read_text()) == bad
        assert not local.log_has("Traceback")
