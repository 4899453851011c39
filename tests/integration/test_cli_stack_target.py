"""A deployed stack as the target: found by its CloudFormation outputs (moto), invoked with
Lambda RequestResponse."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mqtt_actions_cli.errors import TargetError
from mqtt_actions_cli.target import InvokeError, lambda_invoke, stack_target
from tests.integration.cli_support import run

pytestmark = pytest.mark.integration

TEMPLATE = {
    "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "dlq"}}},
    "Outputs": {
        "DeadLetterQueueUrl": {"Value": {"Ref": "Queue"}},
        "RouterFunctionName": {"Value": "prod-RouterFunction-AbC123"},
    },
}


@pytest.fixture
def deployed() -> Iterator[None]:
    with mock_aws():
        boto3.client("cloudformation", region_name="eu-west-1").create_stack(
            StackName="mqtt-actions-prod", TemplateBody=json.dumps(TEMPLATE)
        )
        yield


def test_outputs_come_from_the_stack(deployed: None) -> None:
    target = stack_target("mqtt-actions-prod", "eu-west-1")
    assert not target.is_local
    assert target.region == "eu-west-1"
    assert target.output("DeadLetterQueueUrl").endswith("/dlq")
    assert target.function_name("RouterFunction") == "prod-RouterFunction-AbC123"
    assert target.client("sqs").meta.region_name == "eu-west-1"
    assert target.describe() == "stack 'mqtt-actions-prod' (eu-west-1)"


def test_a_missing_stack_names_the_region_and_the_fix(deployed: None) -> None:
    with pytest.raises(TargetError) as caught:
        stack_target("nope", "eu-west-1")
    assert caught.value.message == "no stack named 'nope' in eu-west-1"
    assert "--region" in caught.value.hint


def test_a_missing_stack_from_the_command_line(
    deployed: None, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["actions", "list", "--stack", "nope", "--region", "eu-west-1"])
    assert ran.code == 1
    assert "no stack named 'nope' in eu-west-1" in ran.err


def test_a_missing_output_is_named(deployed: None) -> None:
    target = stack_target("mqtt-actions-prod", "eu-west-1")
    with pytest.raises(TargetError, match="has no output 'BucketTableName'") as caught:
        target.output("BucketTableName")
    assert "sam deploy" in caught.value.hint


class FakeLambda:
    def __init__(self, payload: Any, function_error: str | None = None) -> None:
        self.payload = payload
        self.function_error = function_error
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        response: dict[str, Any] = {
            "StatusCode": 200,
            "Payload": io.BytesIO(json.dumps(self.payload).encode()),
        }
        if self.function_error:
            response["FunctionError"] = self.function_error
        return response


def test_lambda_invoke_is_synchronous_and_returns_the_result() -> None:
    client = FakeLambda({"matched": 1, "outcomes": {"hook": "done"}})
    assert lambda_invoke(client, "fn", {"topic": "a"}) == {
        "matched": 1,
        "outcomes": {"hook": "done"},
    }
    [call] = client.calls
    assert (call["FunctionName"], call["InvocationType"]) == ("fn", "RequestResponse")
    assert json.loads(call["Payload"]) == {"topic": "a"}


def test_a_function_error_is_an_invoke_error_with_its_message() -> None:
    client = FakeLambda({"errorMessage": "Task timed out after 30.0 seconds"}, "Unhandled")
    with pytest.raises(InvokeError, match="fn failed \\(Unhandled\\): Task timed out"):
        lambda_invoke(client, "fn", {})
