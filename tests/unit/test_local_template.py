"""template.yaml resolved for the local stack: intrinsics to local names, each function's
environment, the rules and whom they invoke, and clear refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mqtt_actions_cli.cfn import ROOT, load_template
from mqtt_actions_cli.local.sql import parse
from mqtt_actions_cli.local.template import (
    Resolver,
    TemplateError,
    load_local_template,
)

QUEUE_URL = "http://127.0.0.1:4566/123456789012/DeadLetterQueue"
PHYSICAL = {
    "BucketTable": "BucketTable",
    "ActionsTable": "ActionsTable",
    "IdempotencyTable": "IdempotencyTable",
    "InspectorTable": "InspectorTable",
    "DeadLetterQueue": QUEUE_URL,
}


def test_the_router_gets_the_environment_the_template_gives_it() -> None:
    local = load_local_template(
        load_template(), root=ROOT, physical=PHYSICAL, parameters={"EmailSender": "a@b.test"}
    )
    router = local.functions["RouterFunction"]
    assert router.module_path == ROOT / "functions" / "router" / "app.py"
    assert router.environment["BUCKET_TABLE"] == "BucketTable"
    assert router.environment["DEAD_LETTER_QUEUE_URL"] == QUEUE_URL
    assert router.environment["EMAIL_SENDER"] == "a@b.test"
    assert router.environment["ACTIONS_CACHE_SECONDS"] == "30"  # the parameter's default
    assert router.environment["POWERTOOLS_SERVICE_NAME"] == "mqtt-actions"  # from Globals
    assert (router.max_retries, router.on_failure_queue_url) == (2, QUEUE_URL)
    assert router.timeout_seconds == 30


def test_every_rule_parses_and_invokes_a_function_of_the_template() -> None:
    local = load_local_template(load_template(), root=ROOT, physical=PHYSICAL)
    route = next(r for r in local.rules if r.source == "RouteRule")
    assert (route.name, route.functions, route.error_queue_url) == (
        "mqtt_actions_route",
        ("RouterFunction",),
        QUEUE_URL,
    )
    for rule in local.rules:
        parse(rule.sql, rule.sql_version)
        assert set(rule.functions) <= set(local.functions)


def test_outputs_resolve_to_local_names() -> None:
    outputs = load_local_template(load_template(), root=ROOT, physical=PHYSICAL).outputs
    assert outputs["BucketTableName"] == "BucketTable"
    assert outputs["DeadLetterQueueUrl"] == QUEUE_URL
    assert outputs["RouterFunctionArn"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:RouterFunction"
    )


def template(**resources: Any) -> dict[str, Any]:
    return {
        "Parameters": {"Prefix": {"Type": "String", "Default": "p"}},
        "Conditions": {"IsP": {"Fn::Equals": [{"Ref": "Prefix"}, "p"]}},
        "Resources": {"Q": {"Type": "AWS::SQS::Queue"}, **resources},
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"Ref": "Prefix"}, "p"),
        ({"Ref": "AWS::Region"}, "us-east-1"),
        ({"Ref": "Q"}, "http://q"),
        ({"Fn::GetAtt": ["Q", "Arn"]}, "arn:aws:sqs:us-east-1:123456789012:Q"),
        ({"Fn::GetAtt": ["Q", "QueueName"]}, "Q"),
        (
            {"Fn::Sub": "${Prefix}-${AWS::AccountId}-${Q.QueueName}-${!Literal}"},
            "p-123456789012-Q-${Literal}",
        ),
        ({"Fn::Sub": ["${X}/${Prefix}", {"X": {"Ref": "AWS::Partition"}}]}, "aws/p"),
        ({"Fn::If": ["IsP", "yes", "no"]}, "yes"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Prefix"}]]}, "a-p"),
        ({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]}, "b"),
        ([1, {"Ref": "AWS::NoValue"}, 2], [1, 2]),
        ({"Fn::ToJsonString": {"q": {"Ref": "Q"}}}, '{"q":"http://q"}'),
    ],
)
def test_intrinsics_resolve_locally(value: Any, expected: Any) -> None:
    resolver = Resolver(template(), physical={"Q": "http://q"})
    assert resolver.resolve(value, "test") == expected


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ({"Fn::ImportValue": "x"}, "Fn::ImportValue is not supported"),
        ({"Ref": "Nope"}, "no such parameter or resource"),
        ({"Fn::GetAtt": ["Q", "Nope"]}, "Q.Nope is not supported"),
    ],
)
def test_unsupported_intrinsics_are_refused_saying_where(value: Any, complaint: str) -> None:
    with pytest.raises(TemplateError, match=complaint):
        Resolver(template(), physical={}).resolve(value, "Somewhere.Key")


def test_a_rule_with_an_action_other_than_lambda_is_refused_naming_it(tmp_path: Path) -> None:
    rule = {
        "Type": "AWS::IoT::TopicRule",
        "Properties": {
            "RuleName": "r1",
            "TopicRulePayload": {"Sql": "SELECT * FROM '#'", "Actions": [{"Republish": {}}]},
        },
    }
    with pytest.raises(TemplateError, match=r"rule r1 \(R\): action Republish"):
        load_local_template(template(R=rule), root=tmp_path, physical={})
