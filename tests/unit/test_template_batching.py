"""RouterBatching=Kinesis in template.yaml: the route rule's action, the stream, the event source
mapping's failure handling, and what each mode creates (resolved as CloudFormation would)."""

from __future__ import annotations

from typing import Any

import pytest

from mqtt_actions_cli.cfn import ROOT, load_template, resources
from mqtt_actions_cli.local.template import Resolver, TemplateError, load_local_template

TEMPLATE = load_template()
PHYSICAL = {"DeadLetterQueue": "http://127.0.0.1:4566/123456789012/DeadLetterQueue"}


def resolved(mode: str) -> dict[str, Any]:
    """Every resource CloudFormation would create with RouterBatching=`mode`, resolved."""
    resolver = Resolver(TEMPLATE, physical=PHYSICAL, parameters={"RouterBatching": mode})
    return {
        name: resolver.resolve(res.get("Properties", {}), name)
        for name, res in TEMPLATE["Resources"].items()
        if resolver.resource_enabled(name)
    }


def test_disabled_is_the_default_and_creates_no_stream() -> None:
    assert TEMPLATE["Parameters"]["RouterBatching"]["Default"] == "Disabled"
    made = resolved("Disabled")
    assert not {"RouteStream", "RouteStreamRole", "RouteStreamMapping"} & set(made)
    (action,) = made["RouteRule"]["TopicRulePayload"]["Actions"]
    assert list(action) == ["Lambda"]
    assert "RouteRulePermission" in made


def test_kinesis_puts_each_message_on_the_stream_with_the_same_sql() -> None:
    made = resolved("Kinesis")
    payload = made["RouteRule"]["TopicRulePayload"]
    assert payload["Sql"] == resolved("Disabled")["RouteRule"]["TopicRulePayload"]["Sql"]
    (action,) = payload["Actions"]
    assert action["Kinesis"]["PartitionKey"] == "${traceid()}"
    assert action["Kinesis"]["StreamName"] == "RouteStream"
    assert "RouteRulePermission" not in made  # IoT no longer invokes the router


def test_kinesis_mapping_reports_partial_failures_and_dead_letters_the_rest() -> None:
    mapping = resolved("Kinesis")["RouteStreamMapping"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == 2
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"].endswith(":DeadLetterQueue")
    assert mapping["BatchSize"] == 100
    assert mapping["ParallelizationFactor"] == "4"  # RouterStreamParallelization's default


def test_the_stream_is_encrypted_and_kept_a_day() -> None:
    stream = resources(TEMPLATE, "AWS::Kinesis::Stream")["RouteStream"]
    assert stream["StreamEncryption"] == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}
    assert stream["RetentionPeriodHours"] == 24


def test_the_router_may_read_the_stream_only_in_kinesis_mode() -> None:
    def reads(mode: str) -> list[dict[str, Any]]:
        (policy,) = resolved(mode)["RouterFunction"]["Policies"]
        return [s for s in policy["Statement"] if s.get("Sid") == "ReadRouteStream"]

    assert reads("Disabled") == []
    (statement,) = reads("Kinesis")
    assert "kinesis:GetRecords" in statement["Action"]
    assert not any(a.endswith("*") for a in statement["Action"])


def test_the_local_stack_refuses_kinesis_mode_naming_the_action() -> None:
    with pytest.raises(TemplateError, match="action Kinesis is not supported"):
        load_local_template(
            TEMPLATE, root=ROOT, physical=PHYSICAL, parameters={"RouterBatching": "Kinesis"}
        )
