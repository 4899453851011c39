"""The local target through a fake control API: outputs, invoke, outbox, and no stack at all."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mqtt_actions_cli.target import InvokeError, local_target
from tests.integration.cli_support import FakeControl, fake_control, free_port, run

pytestmark = pytest.mark.integration

OUTPUTS: dict[str, Any] = {
    "BucketTableName": "BucketTable",
    "ActionsTableName": "ActionsTable",
    "IdempotencyTableName": "IdempotencyTable",
    "DeadLetterQueueUrl": "http://127.0.0.1:4566/000000000000/DeadLetterQueue",
    "RouterFunctionName": "RouterFunction",
    "AwsEndpoint": "http://127.0.0.1:4566",
    "MqttHost": "127.0.0.1",
    "MqttPort": 1883,
    "Region": "us-east-1",
}

OUTBOX = [
    {
        "kind": "email",
        "time": 1_764_072_002_000,
        "to": ["ops@example.com"],
        "subject": "Alarm",
        "text": "door open",
        "html": None,
    },
    {"kind": "sms", "time": 1_764_072_001_000, "to": "+15555550100", "message": "door = open"},
    {
        "kind": "webhook",
        "time": 1_764_072_003_000,
        "url": "https://example.com/in",
        "status": 200,
        "action_id": "hook",
    },
]


@pytest.fixture
def control(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeControl]:
    with fake_control(OUTPUTS) as state:
        state.outbox.extend(OUTBOX)
        monkeypatch.setenv("MQTT_ACTIONS_CONTROL_PORT", str(state.port))
        yield state


def test_local_target_reads_the_outputs_and_talks_to_moto_with_fake_credentials(
    control: FakeControl,
) -> None:
    target = local_target({"MQTT_ACTIONS_CONTROL_PORT": str(control.port)})
    assert target.is_local
    assert target.output("BucketTableName") == "BucketTable"
    assert (target.mqtt_host, target.mqtt_port) == ("127.0.0.1", 1883)
    client = target.client("dynamodb")
    assert client.meta.endpoint_url == "http://127.0.0.1:4566"
    assert client.meta.region_name == "us-east-1"
    assert client._request_signer._credentials.access_key == "testing"
    assert target.client("dynamodb") is client  # one client per service


def test_invoke_posts_the_event_to_the_logical_id(control: FakeControl) -> None:
    control.invoke_result = {"traceid": "t", "matched": 1, "outcomes": {"hook": "done"}}
    target = local_target({"MQTT_ACTIONS_CONTROL_PORT": str(control.port)})
    assert target.invoke("RouterFunction", {"topic": "a"}) == control.invoke_result
    assert control.invocations == [("RouterFunction", {"topic": "a"})]


def test_a_failing_invoke_is_an_invoke_error(control: FakeControl) -> None:
    control.invoke_status, control.invoke_result = 500, {"errorMessage": "boom"}
    target = local_target({"MQTT_ACTIONS_CONTROL_PORT": str(control.port)})
    with pytest.raises(InvokeError, match="boom"):
        target.invoke("RouterFunction", {})


def test_a_missing_output_is_named_with_the_fix(control: FakeControl) -> None:
    target = local_target({"MQTT_ACTIONS_CONTROL_PORT": str(control.port)})
    with pytest.raises(Exception, match="no output 'InspectorTableName'") as caught:
        target.output("InspectorTableName")
    assert "make run" in getattr(caught.value, "hint", "")


def test_outbox_lists_what_the_local_stack_captured_oldest_first(
    control: FakeControl, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["outbox"])
    assert ran.code == 0, ran.err
    lines = ran.out.splitlines()
    assert lines[0].split() == ["TIME", "KIND", "TO", "SUBJECT/STATUS", "MESSAGE"]
    assert [line.split()[1] for line in lines[1:4]] == ["sms", "email", "webhook"]
    assert "door = open" in lines[1]
    assert "Alarm" in lines[2]
    assert "HTTP 200" in lines[3]
    assert lines[-1] == "3 items"


def test_outbox_filters_and_prints_json(
    control: FakeControl, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["outbox", "--kind", "sms", "--json"])
    assert ran.code == 0
    assert ran.json() == [OUTBOX[1]]
    ran = run(capsys, ["outbox", "--last", "1", "--json"])
    assert [item["kind"] for item in ran.json()] == ["webhook"]


def test_outbox_is_local_only(capsys: pytest.CaptureFixture[str]) -> None:
    ran = run(capsys, ["outbox", "--stack", "prod"])
    assert ran.code == 2
    assert "e-mails and SMS are delivered for real on AWS" in ran.err
    assert "SES" in ran.err
    assert "SNS" in ran.err


@pytest.mark.parametrize(
    "argv",
    [
        ["outbox"],
        ["actions", "list"],
        ["bucket", "query", "sensor-01"],
        ["dlq", "list"],
        ["publish", "a/b", "x"],
    ],
)
def test_no_local_stack_says_how_to_start_it(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    monkeypatch.setenv("MQTT_ACTIONS_CONTROL_PORT", str(port))
    ran = run(capsys, argv)
    assert ran.code == 1
    assert f"no local stack on 127.0.0.1:{port} — start it with `make run`" in ran.err
    assert "mqtt-actions local" in ran.err
    assert ran.out == ""


def test_no_local_stack_with_json_also_answers_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MQTT_ACTIONS_CONTROL_PORT", str(free_port()))
    ran = run(capsys, ["actions", "list", "--json"])
    assert ran.code == 1
    assert ran.json()["error"].startswith("no local stack on 127.0.0.1:")
