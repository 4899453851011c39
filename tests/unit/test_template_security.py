"""template.yaml keeps least privilege, encryption, failure destinations and spend guards, and
docs/SECURITY.md explains every statement: the doc cannot drift from the template."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions_cli.cfn import load_template, resources

ROOT = Path(__file__).resolve().parents[2]
SECURITY_DOC = (ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
TEMPLATE = load_template()
FUNCTIONS = resources(TEMPLATE, "AWS::Serverless::Function")
NO_VALUE = {"Ref": "AWS::NoValue"}
THING = "${!iot:Connection.Thing.ThingName}"  # as written under !Sub

# Allow statements whose resource holds a `*`, and why that is the narrowest AWS allows.
RESOURCE_WILDCARDS = {
    "SmsToPhoneNumbersOnly": "SMS to a phone number has no ARN; NotResource excludes every topic",
    "MqttPublishUnderDeclaredPrefixes": "topic/<prefix>/* for each ActionPublishPrefixes item; "
    "`*` for partition, region and account (Fn::Join), MqttPublishHereOnly denies the others",
    "PublishProcessedOnly": "the forward analysis republishes under processed/<device>/...",
    "PublishAlertsOnly": "the tagoio_port analysis publishes under alerts/<device>/...",
    "EmailFromTheSenderOnly": "identity/* with ses:FromAddress = EmailSender: the identity used "
    "may be the sender's domain, and in the sandbox SES also checks recipient identities",
}


def _flatten(statements: list[Any]) -> Iterator[dict[str, Any]]:
    """Statements, with both branches of every Fn::If (the widest variant)."""
    for statement in statements:
        if set(statement) == {"Fn::If"}:
            yield from (s for s in statement["Fn::If"][1:] if s != NO_VALUE)
        else:
            yield statement


def iam_statements() -> list[tuple[str, dict[str, Any]]]:
    """(where, statement) for every IAM statement the template writes itself."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name, props in FUNCTIONS.items():
        for policy in props.get("Policies", []):
            found += [(name, s) for s in _flatten(policy.get("Statement", []))]
    for name, props in resources(TEMPLATE, "AWS::IAM::Role").items():
        found += [(f"{name} trust", s) for s in props["AssumeRolePolicyDocument"]["Statement"]]
        for policy in props.get("Policies", []):
            found += [(name, s) for s in _flatten(policy["PolicyDocument"]["Statement"])]
    return found


def iot_statements() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, s)
        for name, props in resources(TEMPLATE, "AWS::IoT::Policy").items()
        for s in _flatten(props["PolicyDocument"]["Statement"])
    ]


def _id(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("Sid") or value.get("id"))
    return str(value)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def text(value: Any) -> str:
    """A resource as written: the string of a !Sub (inside a !Split: the pattern of each item),
    the JSON of anything else."""
    if isinstance(value, dict) and "Fn::Split" in value:
        return text(value["Fn::Split"][1])
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    return value if isinstance(value, str) else json.dumps(value)


def resource_texts(statement: dict[str, Any]) -> list[str]:
    key = "Resource" if "Resource" in statement else "NotResource"
    return [text(r) for r in as_list(statement[key])]


IAM = iam_statements()
IOT = iot_statements()
SIDS = sorted({s["Sid"] for _, s in IAM + IOT})


def test_the_template_has_the_statements_this_test_reads() -> None:
    assert len(IAM) > 20
    assert {name for name, _ in IOT} == {"DevicePolicy"}


@pytest.mark.parametrize(("where", "statement"), IAM + IOT, ids=_id)
def test_every_statement_is_named(where: str, statement: dict[str, Any]) -> None:
    assert statement.get("Sid"), f"{where}: a statement without Sid cannot be documented"


@pytest.mark.parametrize(("where", "statement"), IAM + IOT, ids=_id)
def test_no_statement_allows_every_action_of_a_service(
    where: str, statement: dict[str, Any]
) -> None:
    assert "NotAction" not in statement, f"{where} {statement['Sid']}: NotAction"
    for action in as_list(statement["Action"]):
        assert isinstance(action, str)
        assert action != "*", f"{where} {statement['Sid']}: Action '*'"
        assert not action.endswith(":*"), f"{where} {statement['Sid']}: {action}"


@pytest.mark.parametrize(("where", "statement"), IAM, ids=_id)
def test_no_allow_statement_has_an_unexplained_wildcard_resource(
    where: str, statement: dict[str, Any]
) -> None:
    if statement["Effect"] == "Deny" or "Principal" in statement:  # trust policies name a service
        return
    for resource in resource_texts(statement):
        assert resource != "*", f"{where} {statement['Sid']}: Resource '*'"
        if "*" in resource:
            assert statement["Sid"] in RESOURCE_WILDCARDS, (
                f"{where} {statement['Sid']}: {resource} - name the resource, or add the Sid "
                "to RESOURCE_WILDCARDS with the reason and explain it in docs/SECURITY.md"
            )


def test_the_wildcard_allow_list_has_no_stale_entries() -> None:
    assert set(RESOURCE_WILDCARDS) <= set(SIDS)


def test_sms_may_reach_phone_numbers_and_no_topic() -> None:
    sms = [s for _, s in IAM if s["Sid"] == "SmsToPhoneNumbersOnly"]
    assert sms
    for statement in sms:
        assert statement["Action"] == "sns:Publish"
        assert "Resource" not in statement
        assert text(statement["NotResource"]) == "arn:${AWS::Partition}:sns:*:*:*"


def test_the_router_may_not_publish_to_aws_reserved_topics() -> None:
    router = [s for w, s in IAM if w == "RouterFunction"]
    (deny,) = [s for s in router if s["Sid"] == "NoReservedTopics"]
    assert deny["Effect"] == "Deny"
    assert deny["Action"] == ["iot:Publish", "iot:RetainPublish"]
    assert resource_texts(deny) == [
        "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/$aws/*"
    ]


def test_e_mail_is_sent_from_the_configured_sender_only() -> None:
    emails = [s for _, s in IAM if s["Sid"] == "EmailFromTheSenderOnly"]
    assert len(emails) == len([f for f in FUNCTIONS.values() if "EMAIL_SENDER" in str(f)])
    for statement in emails:
        assert statement["Condition"] == {
            "StringEquals": {"ses:FromAddress": {"Ref": "EmailSender"}}
        }


# ---------------------------------------------------------------- device policy


def test_devices_connect_only_as_their_own_thing() -> None:
    connect = [s for _, s in IOT if "iot:Connect" in as_list(s["Action"])]
    assert len(connect) == 1
    (statement,) = connect
    assert statement["Action"] == "iot:Connect"
    assert resource_texts(statement) == [
        f"arn:${{AWS::Partition}}:iot:${{AWS::Region}}:${{AWS::AccountId}}:client/{THING}"
    ]
    assert statement["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}


def test_devices_never_get_iot_star_or_retain_without_publish() -> None:
    for _, statement in IOT:
        actions = as_list(statement["Action"])
        assert all(a.startswith("iot:") and "*" not in a for a in actions)
        assert set(actions) <= {"iot:Connect", "iot:Publish", "iot:RetainPublish"} | {
            "iot:Subscribe",
            "iot:Receive",
        }
        if "iot:RetainPublish" in actions:
            assert "iot:Publish" in actions


@pytest.mark.parametrize(
    ("action", "kind"),
    [("iot:Publish", "topic"), ("iot:Subscribe", "topicfilter"), ("iot:Receive", "topic")],
)
def test_devices_use_topics_under_their_name_or_the_shared_prefixes(action: str, kind: str) -> None:
    own = f"arn:${{AWS::Partition}}:iot:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/{THING}"
    shared = f"arn:*:iot:*:*:{kind}/${{Prefixes}}/*"  # one item per DevicePublish/SubscribePrefixes
    patterns = [r for _, s in IOT if action in as_list(s["Action"]) for r in resource_texts(s)]
    assert sorted(patterns) == sorted([own, f"{own}/*", shared])


@pytest.mark.parametrize("name", ["DevicePublishPrefixes", "DeviceSubscribePrefixes"])
def test_shared_prefixes_hold_no_policy_wildcards_or_variables(name: str) -> None:
    pattern = re.compile(TEMPLATE["Parameters"][name]["AllowedPattern"])
    assert TEMPLATE["Parameters"][name]["Default"] == ""
    for good in ["", "home", "plant/line-1", "a_b/c"]:
        assert pattern.fullmatch(good), good
    for bad in ["*", "home/*", "home/+", "#", "$aws", "${iot:ClientId}", "a//b", "/a", "a/", "a?"]:
        assert not pattern.fullmatch(bad), bad


def test_the_cli_finds_the_device_policy_by_its_output() -> None:
    assert TEMPLATE["Outputs"]["DevicePolicyName"]["Value"] == {"Ref": "DevicePolicy"}


# ---------------------------------------------------------------- data at rest and failures


@pytest.mark.parametrize("name", sorted(resources(TEMPLATE, "AWS::DynamoDB::Table")))
def test_every_table_is_encrypted_and_recoverable(name: str) -> None:
    props = resources(TEMPLATE, "AWS::DynamoDB::Table")[name]
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


@pytest.mark.parametrize("name", sorted(resources(TEMPLATE, "AWS::SQS::Queue")))
def test_every_queue_is_encrypted(name: str) -> None:
    props = resources(TEMPLATE, "AWS::SQS::Queue")[name]
    assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props


# Invoked only synchronously (the caller waits for the answer): no asynchronous failure to keep.
SYNCHRONOUS = {"DeviceAuthorizerFunction": "IoT Core's custom authorizer"}


@pytest.mark.parametrize("name", sorted(set(FUNCTIONS) - set(SYNCHRONOUS)))
def test_every_function_dead_letters_its_failures(name: str) -> None:
    invoke = FUNCTIONS[name]["EventInvokeConfig"]
    assert invoke["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]},
    }


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_logs_to_its_own_group_with_a_retention(name: str) -> None:
    group = FUNCTIONS[name]["LoggingConfig"]["LogGroup"]["Ref"]
    props = resources(TEMPLATE, "AWS::Logs::LogGroup")[group]
    assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}


@pytest.mark.parametrize("name", sorted(resources(TEMPLATE, "AWS::Lambda::Permission")))
def test_iot_may_invoke_only_from_this_accounts_rule(name: str) -> None:
    props = resources(TEMPLATE, "AWS::Lambda::Permission")[name]
    assert props["Principal"] == "iot.amazonaws.com"
    assert props["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert "Fn::GetAtt" in props["SourceArn"]


# ---------------------------------------------------------------- spend guards


def test_the_sms_spend_limit_is_a_parameter_with_a_command_and_an_alarm() -> None:
    assert TEMPLATE["Parameters"]["MonthlySmsSpendLimitUSD"]["MinValue"] >= 1
    command = text(TEMPLATE["Outputs"]["SetSmsSpendLimitCommand"]["Value"])
    assert "aws sns set-sms-attributes" in command
    assert "MonthlySpendLimit=${MonthlySmsSpendLimitUSD}" in command
    alarm = resources(TEMPLATE, "AWS::CloudWatch::Alarm")["SmsSpendAlarm"]
    spent, percent = alarm["Metrics"]
    assert spent["MetricStat"]["Metric"]["MetricName"] == "SMSMonthToDateSpentUSD"
    assert text(percent["Expression"]) == "100 * spent / ${MonthlySmsSpendLimitUSD}"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


# ---------------------------------------------------------------- the doc cannot drift


@pytest.mark.parametrize("sid", SIDS)
def test_every_statement_is_explained_in_security_md(sid: str) -> None:
    assert f"`{sid}`" in SECURITY_DOC, f"docs/SECURITY.md does not explain statement {sid}"


def checkov_skips() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, skip)
        for name, res in TEMPLATE["Resources"].items()
        for skip in res.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]


@pytest.mark.parametrize(("resource", "skip"), checkov_skips(), ids=_id)
def test_every_checkov_skip_says_why_here_and_in_security_md(
    resource: str, skip: dict[str, Any]
) -> None:
    assert len(skip.get("comment", "")) > 40, f"{resource} {skip['id']}: say why"
    assert f"`{skip['id']}`" in SECURITY_DOC, f"docs/SECURITY.md does not explain {skip['id']}"


@pytest.mark.parametrize("name", sorted(SYNCHRONOUS))
def test_synchronous_functions_have_no_asynchronous_trigger(name: str) -> None:
    assert "Events" not in FUNCTIONS[name]
    assert "EventInvokeConfig" not in FUNCTIONS[name]
    callers = [
        props["SourceArn"]
        for props in resources(TEMPLATE, "AWS::Lambda::Permission").values()
        if props["FunctionName"] == {"Fn::GetAtt": [name, "Arn"]}
    ]
    assert callers == [{"Fn::GetAtt": ["DeviceAuthorizer", "Arn"]}]


# ---------------------------------------------------------------- issue #23: UpdateItem scoped


class _RecordingDynamo:
    """Records update_item calls; stands in for the boto3 client (no I/O)."""

    class exceptions:  # noqa: N801 - boto3's shape
        ConditionalCheckFailedException = RuntimeError

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self.updates.append(kwargs)
        return {}


def _statement(function: str, sid: str) -> dict[str, Any]:
    (found,) = [s for w, s in IAM if w == function and s["Sid"] == sid]
    return found


def _written(update: dict[str, Any]) -> set[str]:
    names = update.get("ExpressionAttributeNames", {})
    words = set(re.findall(r"(?<![:\w])[#A-Za-z_]\w*", update["UpdateExpression"]))
    verbs = {"SET", "ADD", "REMOVE", "DELETE", "if_not_exists"}
    return {names.get(w, w) for w in words - verbs} | set(update["Key"])


def test_the_router_may_update_only_rate_counters_in_the_actions_table() -> None:
    """It could rewrite actions with UpdateItem on the whole table; now only pk RATE#*, which is
    the key the rate limiter writes."""
    from mqtt_actions.adapters.ratelimit import DynamoRateLimiter

    router = [s for w, s in IAM if w == "RouterFunction"]
    updates = [s for s in router if "dynamodb:UpdateItem" in as_list(s["Action"])]
    on_actions = [s for s in updates if "ActionsTable" in json.dumps(s["Resource"])]
    assert [s["Sid"] for s in on_actions] == ["RateCountersOnly"]
    (pattern,) = on_actions[0]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]

    client = _RecordingDynamo()
    DynamoRateLimiter("actions", client).allow("sms-1", 5, 60, now=1000.0)  # type: ignore[arg-type]
    (update,) = client.updates
    key = update["Key"]["pk"]["S"]
    assert re.fullmatch(pattern.replace("*", ".*"), key), (pattern, key)
    assert not re.fullmatch(pattern.replace("*", ".*"), "ACTION")
    # MaxPointsPerDeviceMinute counts a device's points with the same limiter
    from mqtt_actions.router import POINTS_KEY

    DynamoRateLimiter("actions", client).allow(f"{POINTS_KEY}dev", 5, 60, 1.0, count=3)  # type: ignore[arg-type]
    points_key = client.updates[-1]["Key"]["pk"]["S"]
    assert re.fullmatch(pattern.replace("*", ".*"), points_key), (pattern, points_key)


def test_the_inspector_may_only_mark_a_binding_ended() -> None:
    """It could rebind a client id to another device (SET device) with UpdateItem on any
    attribute; it only marks a binding ended (issue #21: kept for the last messages)."""
    from mqtt_actions.adapters.binding_store import DynamoBindingStore

    statement = _statement("InspectorFunction", "BindingEndedAtOnly")
    allowed = set(statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"])
    assert "device" not in allowed
    client = _RecordingDynamo()
    assert DynamoBindingStore("bindings", client).end("ESP32", bound_at_most_ms=5)  # type: ignore[arg-type]
    (update,) = client.updates
    assert _written(update) <= allowed, _written(update) - allowed
    read = set(re.findall(r"(?<![:\w])[A-Za-z_]\w*", update["ConditionExpression"]))
    read -= {"AND", "OR", "NOT", "attribute_exists", "attribute_not_exists"}
    assert read <= allowed, read - allowed  # whether IAM counts them is not documented
    on_bindings = [
        s
        for w, s in IAM
        if w == "InspectorFunction" and "DeviceBindingsTable" in json.dumps(s["Resource"])
    ]
    unconditional = {a for s in on_bindings if "Condition" not in s for a in as_list(s["Action"])}
    assert unconditional == {"dynamodb:GetItem"}


def test_the_authorizer_may_update_only_the_attributes_it_writes() -> None:
    """It could un-revoke a token (SET revokedAt) with UpdateItem on any attribute."""
    from mqtt_actions.adapters.token_store import DynamoTokenStore

    statement = _statement("DeviceAuthorizerFunction", "LastSeenOnly")
    allowed = set(statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"])
    assert "revokedAt" not in allowed
    assert "device" not in allowed
    client = _RecordingDynamo()
    DynamoTokenStore("tokens", client).touch("ab" * 32, 1, "client-1")  # type: ignore[arg-type]
    (update,) = client.updates
    assert _written(update) <= allowed, _written(update) - allowed
    others = [s for w, s in IAM if w == "DeviceAuthorizerFunction" and "Condition" not in s]
    assert all("dynamodb:UpdateItem" not in as_list(s["Action"]) for s in others)


# ---------------------------------------------------------------- issue #23: iot:Publish scoped


def _router_policy(**parameters: str) -> list[dict[str, Any]]:
    """The router's statements as CloudFormation renders them with `parameters`."""
    from mqtt_actions_cli.cfn import Resolver

    resolver = Resolver(TEMPLATE, physical={}, parameters=parameters)
    (policy,) = FUNCTIONS["RouterFunction"]["Policies"]
    rendered = resolver.resolve(policy, "RouterFunction.Policies")
    return list(rendered["Statement"])


def _publish_resources(statements: list[dict[str, Any]], effect: str) -> list[str]:
    return [
        resource
        for s in statements
        if s["Effect"] == effect and "iot:Publish" in as_list(s["Action"])
        for resource in as_list(s.get("Resource", []))
    ]


@pytest.mark.parametrize(
    ("parameters", "allowed"),
    [
        pytest.param({}, ["ack", "alerts", "out", "processed"], id="default"),
        pytest.param({"ActionPublishPrefixes": "cmd,plant/line-1"}, ["cmd", "plant/line-1"]),
        pytest.param({"ActionPublishPrefixes": ""}, [], id="empty: no publish at all"),
    ],
)
def test_the_router_publishes_only_under_the_declared_prefixes(
    parameters: dict[str, str], allowed: list[str]
) -> None:
    """It could publish to topic/* (every device's command topic); now topic/<prefix>/* for
    each ActionPublishPrefixes item, in this account and region only."""
    statements = _router_policy(**parameters)
    assert _publish_resources(statements, "Allow") == [
        f"arn:*:iot:*:*:topic/{prefix}/*" for prefix in allowed
    ]
    here = [s for s in statements if s["Sid"] == "MqttPublishHereOnly"]
    assert [(s["Effect"], s["NotResource"]) for s in here] == [
        ("Deny", "arn:aws:iot:us-east-1:123456789012:topic/*")
    ]
    assert _publish_resources(statements, "Deny") == [
        "arn:aws:iot:us-east-1:123456789012:topic/$aws/*"
    ]
    environment = FUNCTIONS["RouterFunction"]["Environment"]["Variables"]
    assert environment["ACTION_PUBLISH_PREFIXES"] == {
        "Fn::Join": [",", {"Ref": "ActionPublishPrefixes"}]
    }


def test_the_action_prefixes_hold_no_policy_wildcards_and_cover_the_examples() -> None:
    from mqtt_actions.actions import MqttPublishAction
    from mqtt_actions.publishing import parse_prefixes, under_prefixes
    from mqtt_actions_cli.actions_file import load_actions_file

    spec = TEMPLATE["Parameters"]["ActionPublishPrefixes"]
    pattern = re.compile(spec["AllowedPattern"])
    for bad in ["*", "ack/*", "ack/+", "#", "$aws", "${iot:ClientId}", "a//b", "/a", "a/"]:
        assert not pattern.fullmatch(bad), bad
    default = parse_prefixes(spec["Default"])
    assert default
    assert all(pattern.fullmatch(p) for p in default)
    example = (ROOT / "examples" / "actions.yaml").read_text(encoding="utf-8")
    topics = [
        a.topic for a in load_actions_file(example, source="x") if isinstance(a, MqttPublishAction)
    ]
    assert topics
    assert all(under_prefixes(t, default) for t in topics), topics


def test_the_points_caps_default_to_tagoios_free_plan() -> None:
    """help.tago.io usage policy: 5,000 data inputs an hour (500 a minute) on a free account."""
    from mqtt_actions.limits import TAGOIO_FREE_INPUTS_PER_HOUR, TAGOIO_FREE_INPUTS_PER_MINUTE

    parameters = TEMPLATE["Parameters"]
    assert parameters["MaxPointsPerMessage"]["Default"] == TAGOIO_FREE_INPUTS_PER_MINUTE
    assert parameters["MaxPointsPerDeviceMinute"]["Default"] == TAGOIO_FREE_INPUTS_PER_HOUR
    environment = FUNCTIONS["RouterFunction"]["Environment"]["Variables"]
    assert environment["MAX_POINTS_PER_MESSAGE"] == {"Ref": "MaxPointsPerMessage"}
    assert environment["MAX_POINTS_PER_DEVICE_MINUTE"] == {"Ref": "MaxPointsPerDeviceMinute"}
