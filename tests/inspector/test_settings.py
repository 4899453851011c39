"""InspectorSettings from the environment, and template.yaml giving the inspector what it needs."""

from typing import Any

import pytest

from mqtt_actions.settings import InspectorSettings, RouterSettings, SettingsError
from mqtt_actions_cli.cfn import load_template, resources

ENV = {
    "INSPECTOR_TABLE": "inspector",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
}


def test_settings_from_env() -> None:
    cfg = InspectorSettings.from_env(ENV | {"INSPECTOR_RETENTION_DAYS": "30"})
    assert (cfg.inspector_table, cfg.retention_days) == ("inspector", 30)
    assert InspectorSettings.from_env(ENV).retention_days == 7


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DEAD_LETTER_QUEUE_URL": "q"}, "INSPECTOR_TABLE"),
        ({"INSPECTOR_TABLE": "t"}, "DEAD_LETTER_QUEUE_URL"),
        (ENV | {"INSPECTOR_RETENTION_DAYS": "0"}, "INSPECTOR_RETENTION_DAYS"),
        (ENV | {"INSPECTOR_RETENTION_DAYS": "a week"}, "INSPECTOR_RETENTION_DAYS"),
    ],
)
def test_settings_errors_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=f"environment variable {named}"):
        InspectorSettings.from_env(env)


def test_router_settings_know_the_inspector() -> None:
    base = {
        "BUCKET_TABLE": "b",
        "ACTIONS_TABLE": "a",
        "IDEMPOTENCY_TABLE": "i",
        "DEAD_LETTER_QUEUE_URL": "q",
    }
    cfg = RouterSettings.from_env(base | {"INSPECTOR_TABLE": "t", "INSPECTOR_RETENTION_DAYS": "3"})
    assert (cfg.inspector_table, cfg.inspector_retention_days) == ("t", 3)
    assert RouterSettings.from_env(base).inspector_table == ""  # logs only


# --- template.yaml -------------------------------------------------------------------------------

TEMPLATE = load_template()
FUNCTIONS = resources(TEMPLATE, "AWS::Serverless::Function")
RULES = resources(TEMPLATE, "AWS::IoT::TopicRule")


def statements(function: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = FUNCTIONS[function]["Policies"][0]["Statement"]
    return found


def test_inspector_function_gets_every_setting() -> None:
    env = FUNCTIONS["InspectorFunction"]["Environment"]["Variables"]
    aliases = {f.alias for f in InspectorSettings.model_fields.values()}
    # DEVICE_IDENTITY=client-id is the local stack's without token checking; AWS: the default.
    assert aliases - {"DEVICE_IDENTITY"} <= set(env)
    assert env["INSPECTOR_TABLE"] == {"Ref": "InspectorTable"}


def test_router_writes_the_inspector_table() -> None:
    env = FUNCTIONS["RouterFunction"]["Environment"]["Variables"]
    assert env["INSPECTOR_TABLE"] == {"Ref": "InspectorTable"}
    write = next(s for s in statements("RouterFunction") if s.get("Sid") == "InspectorWrite")
    assert write["Resource"] == {"Fn::GetAtt": ["InspectorTable", "Arn"]}


def test_inspector_policy_names_its_resources() -> None:
    for statement in statements("InspectorFunction"):
        assert "*" not in str(statement["Resource"])
        assert "*" not in str(statement["Action"])


@pytest.mark.parametrize(
    ("rule", "sql"),
    [
        ("LifecyclePresenceRule", "SELECT * FROM '$aws/events/presence/+/+'"),
        ("LifecycleSubscriptionsRule", "SELECT * FROM '$aws/events/subscriptions/+/+'"),
    ],
)
def test_lifecycle_rules(rule: str, sql: str) -> None:
    payload = RULES[rule]["TopicRulePayload"]
    assert payload["Sql"] == sql  # SELECT *: the handler gets IoT Core's JSON unchanged
    assert payload["AwsIotSqlVersion"] == "2016-03-23"
    assert payload["Actions"] == [
        {"Lambda": {"FunctionArn": {"Fn::GetAtt": ["InspectorFunction", "Arn"]}}}
    ]
    assert payload["ErrorAction"]["Sqs"]["QueueUrl"] == {"Ref": "DeadLetterQueue"}
    permissions = resources(TEMPLATE, "AWS::Lambda::Permission").values()
    assert any(p["SourceArn"] == {"Fn::GetAtt": [rule, "Arn"]} for p in permissions)


def test_inspector_table_keys_match_the_adapter() -> None:
    table = resources(TEMPLATE, "AWS::DynamoDB::Table")["InspectorTable"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["device", "sk"]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "ByHour"
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["hour_shard", "time_key"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
