"""The actions file: every field rule and every error message a user can meet."""

import ast
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

import mqtt_actions
from mqtt_actions.actions import (
    ACTION_TYPES,
    Action,
    ActionsFileError,
    Condition,
    EmailAction,
    InsertBucketAction,
    MqttPublishAction,
    RateLimit,
    RunAnalysisAction,
    SmsAction,
    WebhookAction,
    effective_rate_limit,
    parse_action,
    parse_actions,
    read_stored_action,
    stored_fingerprint,
)
from mqtt_actions.actions.stored import RULE_MODULES
from mqtt_actions_cli.actions_file import load_actions_file

EXAMPLE = """\
actions:
  - id: store-temperatures
    name: Store temperatures
    topics: ["home/+/temperature"]
    enabled: true
    when: [{variable: temperature, op: ">", value: 30}]
    rate_limit: {max: 5, per_seconds: 60}
    type: insert_bucket
    device: "$DEVICE$"
  - {id: forecast, topics: ["home/#"], type: run_analysis, analyses: [forecast]}
  - {id: sms, topics: ["alarm/#"], type: sms, to: ["+15555550100"], message: "$TOPIC$ = $VALUE$$UNIT$"}
  - {id: mail, topics: ["alarm/#"], type: email, to: [ops@example.com], subject: "Alarm $DEVICE$", message: "$PAYLOAD$"}
  - {id: echo, topics: ["cmd/+"], type: mqtt_publish, topic: "ack/$DEVICE$", payload: "$PAYLOAD$", qos: 1, retain: false}
  - {id: hook, topics: ["#"], type: webhook, url: "https://example.com/in", headers: {X-Key: abc}}
"""  # noqa: E501 - the README's example, verbatim

# One valid action of each type; cases below change one field at a time.
BASE: dict[str, dict[str, Any]] = {
    "insert_bucket": {"id": "a", "topics": ["t/#"], "type": "insert_bucket"},
    "run_analysis": {"id": "a", "topics": ["t/#"], "type": "run_analysis", "analyses": ["f"]},
    "sms": {"id": "a", "topics": ["t/#"], "type": "sms", "to": ["+15555550100"], "message": "m"},
    "email": {
        "id": "a",
        "topics": ["t/#"],
        "type": "email",
        "to": ["ops@example.com"],
        "subject": "s",
        "message": "m",
    },
    "mqtt_publish": {"id": "a", "topics": ["t/#"], "type": "mqtt_publish", "topic": "ack/x"},
    "webhook": {"id": "a", "topics": ["t/#"], "type": "webhook", "url": "https://example.com/in"},
}
DROP = object()
P = "actions[0] (id 'a'): "


def entry(type_: str, **changes: object) -> dict[str, Any]:
    data = dict(BASE[type_])
    for key, value in changes.items():
        if value is DROP:
            del data[key]
        else:
            data[key] = value
    return data


def problems_of(data: object) -> list[str]:
    with pytest.raises(ActionsFileError) as info:
        parse_actions(data)
    return info.value.problems


# --- the example file -------------------------------------------------------------------------


def test_the_example_file_loads() -> None:
    actions = load_actions_file(EXAMPLE)
    assert [type(a) for a in actions] == [
        InsertBucketAction,
        RunAnalysisAction,
        SmsAction,
        EmailAction,
        MqttPublishAction,
        WebhookAction,
    ]
    store = actions[0]
    assert store.when[0].variable == "temperature"
    assert store.when[0].value == 30
    assert store.rate_limit == RateLimit(max=5, per_seconds=60)
    assert [a.type for a in actions] == list(ACTION_TYPES)


def test_dump_round_trips_through_parse() -> None:
    actions = load_actions_file(EXAMPLE)
    dumped = {"actions": [a.model_dump(mode="json", exclude_defaults=False) for a in actions]}
    assert parse_actions(dumped) == actions
    assert load_actions_file(json.dumps(dumped)) == actions
    assert load_actions_file(yaml.safe_dump(dumped)) == actions


def test_json_input_even_with_tab_indentation() -> None:
    text = json.dumps({"actions": [BASE["sms"]]}, indent="\t")
    assert load_actions_file(text) == [SmsAction.model_validate(BASE["sms"])]


def test_yaml_flow_style_that_is_not_json() -> None:
    assert load_actions_file("{actions: []}") == []


def test_models_are_frozen() -> None:
    action = parse_action(BASE["sms"])
    with pytest.raises(ValidationError):
        action.id = "b"  # type: ignore[misc]


def test_parse_action_reads_one_stored_action() -> None:
    assert parse_action(BASE["webhook"]) == WebhookAction.model_validate(BASE["webhook"])
    with pytest.raises(ActionsFileError) as info:
        parse_action({**BASE["webhook"], "url": "ftp://x"}, index=3, source="store")
    assert info.value.problems == [
        "actions[3] (id 'a'): url: 'ftp://x' is not a URL; write it as https://host/path"
    ]


# --- defaults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "field", "default"),
    [
        pytest.param("insert_bucket", "enabled", True, id="enabled-true"),
        pytest.param("insert_bucket", "name", None, id="name-none"),
        pytest.param("insert_bucket", "when", [], id="when-empty"),
        pytest.param("insert_bucket", "rate_limit", None, id="rate-limit-none"),
        pytest.param("insert_bucket", "device", "$DEVICE$", id="device-publisher"),
        pytest.param("email", "html", None, id="email-html-none"),
        pytest.param("mqtt_publish", "payload", "$PAYLOAD$", id="publish-payload"),
        pytest.param("mqtt_publish", "qos", 0, id="publish-qos-0"),
        pytest.param("mqtt_publish", "retain", False, id="publish-retain-false"),
        pytest.param("webhook", "allow_http", False, id="webhook-https-only"),
        pytest.param("webhook", "headers", {}, id="webhook-no-headers"),
        pytest.param("webhook", "timeout_seconds", 5.0, id="webhook-timeout-5"),
        pytest.param("webhook", "max_retries", 3, id="webhook-retries-3"),
    ],
)
def test_defaults(type_: str, field: str, default: object) -> None:
    assert getattr(parse_action(BASE[type_]), field) == default


@pytest.mark.parametrize(
    ("data", "limit"),
    [
        pytest.param(BASE["sms"], RateLimit(max=10, per_seconds=60), id="sms-10-per-minute"),
        pytest.param(BASE["email"], RateLimit(max=10, per_seconds=60), id="email-10-per-minute"),
        pytest.param(BASE["insert_bucket"], None, id="insert-bucket-none"),
        pytest.param(BASE["run_analysis"], None, id="run-analysis-none"),
        pytest.param(BASE["mqtt_publish"], None, id="mqtt-publish-none"),
        pytest.param(BASE["webhook"], None, id="webhook-none"),
        pytest.param(
            {**BASE["sms"], "rate_limit": {"max": 1, "per_seconds": 3600}},
            RateLimit(max=1, per_seconds=3600),
            id="own-limit-wins",
        ),
        pytest.param(
            {**BASE["webhook"], "rate_limit": {"max": 2, "per_seconds": 1}},
            RateLimit(max=2, per_seconds=1),
            id="own-limit-on-any-type",
        ),
    ],
)
def test_effective_rate_limit(data: dict[str, Any], limit: RateLimit | None) -> None:
    assert effective_rate_limit(parse_action(data)) == limit


# --- values that are accepted ------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(entry("insert_bucket", id="a"), id="id-one-letter"),
        pytest.param(entry("insert_bucket", id="0"), id="id-one-digit"),
        pytest.param(entry("insert_bucket", id="a-b-"), id="id-trailing-dash"),
        pytest.param(entry("insert_bucket", id="x" * 64), id="id-64-chars"),
        pytest.param(entry("insert_bucket", topics=["#"]), id="filter-hash"),
        pytest.param(entry("insert_bucket", topics=["+"]), id="filter-plus"),
        pytest.param(entry("insert_bucket", topics=["a/+/b", "c/#", "d"]), id="filters-many"),
        pytest.param(entry("insert_bucket", topics=["a//b/"]), id="filter-empty-levels"),
        pytest.param(entry("insert_bucket", enabled=False), id="disabled"),
        pytest.param(entry("insert_bucket", device="tank-$GROUP$"), id="device-template"),
        pytest.param(entry("insert_bucket", rate_limit={"max": 1, "per_seconds": 86_400}),
                     id="rate-limit-a-day"),
        pytest.param(entry("insert_bucket", when=[{"variable": "t", "op": "exists"}]),
                     id="when-exists-no-value"),
        pytest.param(entry("insert_bucket", when=[{"variable": "t", "op": ">", "value": "30"}]),
                     id="when-ordered-numeric-text"),
        pytest.param(entry("insert_bucket", when=[{"variable": "t", "op": "==", "value": True}]),
                     id="when-bool"),
        pytest.param(entry("insert_bucket", when=[{"variable": "t", "op": "contains",
                                                   "value": "open"}]), id="when-contains"),
        pytest.param(entry("run_analysis", analyses=["forecast", "Clean_Up-2"]), id="analyses"),
        pytest.param(entry("sms", to=["+4915123456789", "+15555550100"]), id="sms-numbers"),
        pytest.param(entry("sms", message="x" * 1600), id="sms-1600-chars"),
        pytest.param(entry("email", to=["first.last+tag@sub.example.co.uk", "a@example.xn--p1ai"]),
                     id="email-addresses"),
        pytest.param(entry("email", message=DROP, html="<b>$VALUE$</b>"), id="email-html-only"),
        pytest.param(entry("email", html="<b>x</b>"), id="email-text-and-html"),
        pytest.param(entry("mqtt_publish", topic="$DEVICE$/ack", qos=1, retain=True),
                     id="publish-qos1-retain"),
        pytest.param(entry("webhook", url="https://h.example:8443/p?q=1#f"), id="url-port-query"),
        pytest.param(
            entry("webhook", url="https://h.example/$DEVICE$/in?v=$VALUE$#$TOPIC$"),
            id="url-placeholders-in-path-query-fragment",
        ),
        pytest.param(entry("webhook", url="http://10.0.0.5/in", allow_http=True),
                     id="http-allowed"),
        pytest.param(entry("webhook", headers={"X-Api-Key": "$DEVICE$", "Accept": "*/*"}),
                     id="headers"),
        pytest.param(entry("webhook", timeout_seconds=30, max_retries=0), id="webhook-limits"),
        pytest.param(entry("webhook", timeout_seconds=0.5, max_retries=10), id="webhook-limits-2"),
    ],
)  # fmt: skip
def test_accepted(data: dict[str, Any]) -> None:
    assert parse_actions({"actions": [data]})[0].id == data["id"]


# --- every error message -----------------------------------------------------------------------

INVALID = [
    # id
    pytest.param(entry("sms", id=DROP),
                 "actions[0]: missing required field 'id', e.g. id: store-temperatures",
                 id="id-missing"),
    pytest.param(entry("sms", id="Bad_Id"),
                 "actions[0] (id 'Bad_Id'): id: 'Bad_Id' is not a valid id; use 1 to 64 lowercase "
                 "letters, digits and '-', starting with a letter or digit, e.g. 'bad-id'",
                 id="id-uppercase-underscore"),
    pytest.param(entry("sms", id="-a"),
                 "actions[0] (id '-a'): id: '-a' is not a valid id; use 1 to 64 lowercase "
                 "letters, digits and '-', starting with a letter or digit, e.g. 'a'",
                 id="id-leading-dash"),
    pytest.param(entry("sms", id=""),
                 "actions[0] (id ''): id: '' is not a valid id; use 1 to 64 lowercase "
                 "letters, digits and '-', starting with a letter or digit", id="id-empty"),
    pytest.param(entry("sms", id="x" * 65),
                 f"actions[0] (id '{'x' * 65}'): id: '{'x' * 60}'... is not a valid id; use 1 "
                 "to 64 lowercase letters, digits and '-', starting "
                 f"with a letter or digit, e.g. '{'x' * 64}'", id="id-65-chars"),
    pytest.param(entry("sms", id=123),
                 "actions[0]: id: expected text, got the number 123; put it in quotes",
                 id="id-number"),
    # name, enabled
    pytest.param(entry("sms", name=5),
                 P + "name: expected text, got the number 5; put it in quotes", id="name-number"),
    pytest.param(entry("sms", enabled="yes"),
                 P + "enabled: expected true or false, got the text 'yes'", id="enabled-text"),
    # topics
    pytest.param(entry("sms", topics=DROP),
                 P + "missing required field 'topics', e.g. topics: [\"home/+/temperature\"]",
                 id="topics-missing"),
    pytest.param(entry("sms", topics=[]),
                 P + "topics: needs at least 1 item, e.g. topics: [\"home/+/temperature\"]",
                 id="topics-empty"),
    pytest.param(entry("sms", topics="home/#"),
                 P + "topics: expected a list [...], got the text 'home/#', "
                 "e.g. topics: [\"home/+/temperature\"]", id="topics-not-a-list"),
    pytest.param(entry("sms", topics=["$share/g/a/#"]),
                 P + "topics[0]: '$share/g/a/#' is a shared-subscription filter; actions match "
                 "topics directly, so drop the '$share/<group>/' prefix", id="topics-share"),
    # type
    pytest.param(entry("sms", type="smss"),
                 P + "type 'smss' is not one of insert_bucket, run_analysis, sms, email, "
                 "mqtt_publish, webhook; did you mean 'sms'?", id="type-typo"),
    pytest.param(entry("sms", type="fax"),
                 P + "type 'fax' is not one of insert_bucket, run_analysis, sms, email, "
                 "mqtt_publish, webhook", id="type-unknown"),
    pytest.param(entry("sms", type=5),
                 P + "type 5 is not one of insert_bucket, run_analysis, sms, email, "
                 "mqtt_publish, webhook", id="type-number"),
    pytest.param(entry("sms", type=DROP),
                 P + "missing required field 'type': one of insert_bucket, run_analysis, sms, "
                 "email, mqtt_publish, webhook", id="type-missing"),
    # unknown fields
    pytest.param(entry("insert_bucket", topics=DROP, topic=["a/#"]),
                 P + "unknown field 'topic'; did you mean 'topics'?",
                 id="unknown-field-did-you-mean-replaces-missing"),
    pytest.param(entry("insert_bucket", topic="a"),
                 P + "unknown field 'topic'; did you mean 'topics'?", id="unknown-field-topic"),
    pytest.param(entry("sms", analyses=["f"]),
                 P + "unknown field 'analyses'; it belongs to run_analysis actions",
                 id="unknown-field-of-another-type"),
    pytest.param(entry("insert_bucket", colour="red"),
                 P + "unknown field 'colour'; the fields here are id, name, topics, enabled, "
                 "when, rate_limit, type, device", id="unknown-field-lists-fields"),
    # when
    pytest.param(entry("sms", when={"variable": "t"}),
                 P + "when: expected a list [...], got a mapping", id="when-not-a-list"),
    pytest.param(entry("sms", when=[5]),
                 P + "when[0]: must be a mapping (name: value, ...), got the number 5",
                 id="when-item-not-a-mapping"),
    pytest.param(entry("sms", when=[{"var": "t", "op": "exists"}]),
                 P + "when[0]: unknown field 'var'; did you mean 'variable'?",
                 id="when-unknown-field"),
    pytest.param(entry("sms", when=[{"variable": "t"}]),
                 P + "when[0]: missing required field 'op', e.g. op: \">\"", id="when-op-missing"),
    pytest.param(entry("sms", when=[{"variable": "t", "op": "=", "value": 1}]),
                 P + "when[0].op: '=' is not one of ==, !=, >, >=, <, <=, contains, exists; "
                 "did you mean '=='?", id="when-op-equals-sign"),
    pytest.param(entry("sms", when=[{"variable": "t", "op": "gte", "value": 1}]),
                 P + "when[0].op: 'gte' is not one of ==, !=, >, >=, <, <=, contains, exists; "
                 "did you mean '>='?", id="when-op-word"),
    pytest.param(entry("sms", when=[{"variable": "t", "op": "matches", "value": 1}]),
                 P + "when[0].op: 'matches' is not one of ==, !=, >, >=, <, <=, contains, exists",
                 id="when-op-unknown"),
    pytest.param(entry("sms", when=[{"variable": "", "op": "exists"}]),
                 P + "when[0].variable: must not be empty", id="when-variable-empty"),
    pytest.param(entry("sms", when=[{"variable": "v" * 101, "op": "exists"}]),
                 P + "when[0].variable: holds at most 100 characters, got 101",
                 id="when-variable-too-long"),
    pytest.param(entry("sms", when=[{"variable": "t", "op": "exists", "value": 1}]),
                 P + "when[0]: op 'exists' takes no value; remove 'value'",
                 id="when-exists-with-value"),
    pytest.param(entry("sms", when=[{"variable": "t", "op": ">"}]),
                 P + "when[0]: op '>' needs a value to compare with; add e.g. value: 30",
                 id="when-value-missing"),
    pytest.param(entry("sms", when=[{"variable": "t", "op": ">", "value": "hot"}]),
                 P + "when[0]: op '>' compares numbers and 'hot' is not one; use ==, != or "
                 "contains to compare text", id="when-ordered-op-on-text"),
    pytest.param(entry("sms", when=[{"variable": "t", "op": "<", "value": True}]),
                 P + "when[0]: op '<' compares numbers and true is not one; use ==, != or "
                 "contains to compare text", id="when-ordered-op-on-bool"),
    pytest.param(entry("sms", when=[{"variable": "t", "op": "==", "value": [1]}]),
                 P + "when[0].value: must be text, a number or true/false, got a list",
                 id="when-value-list"),
    pytest.param(entry("sms", when=[{"variable": "t", "op": "==", "value": float("nan")}]),
                 P + "when[0].value: nan is not a finite number", id="when-value-nan"),
    # rate_limit
    pytest.param(entry("sms", rate_limit={"max": 0, "per_seconds": 60}),
                 P + "rate_limit.max: must be >= 1, got 0", id="rate-max-zero"),
    pytest.param(entry("sms", rate_limit={"max": 1, "per_seconds": 86_401}),
                 P + "rate_limit.per_seconds: must be <= 86400, got 86401", id="rate-over-a-day"),
    pytest.param(entry("sms", rate_limit={"max": 1, "per_seconds": 0}),
                 P + "rate_limit.per_seconds: must be >= 1, got 0", id="rate-per-zero"),
    pytest.param(entry("sms", rate_limit={"max": 5}),
                 P + "rate_limit: missing required field 'per_seconds', e.g. per_seconds: 60",
                 id="rate-per-missing"),
    pytest.param(entry("sms", rate_limit={"max": "5", "per_seconds": 60}),
                 P + "rate_limit.max: expected a whole number, got the text '5'",
                 id="rate-max-text"),
    pytest.param(entry("sms", rate_limit={"max": 1.5, "per_seconds": 60}),
                 P + "rate_limit.max: expected a whole number, got the number 1.5",
                 id="rate-max-fraction"),
    pytest.param(entry("sms", rate_limit={"maximum": 5, "per_seconds": 60}),
                 P + "rate_limit: unknown field 'maximum'; did you mean 'max'?",
                 id="rate-unknown-field"),
    pytest.param(entry("sms", rate_limit=5),
                 P + "rate_limit: must be a mapping (name: value, ...), got the number 5",
                 id="rate-not-a-mapping"),
    # insert_bucket
    pytest.param(entry("insert_bucket", device=""), P + "device: must not be empty",
                 id="device-empty"),
    # run_analysis
    pytest.param(entry("run_analysis", analyses=DROP),
                 P + "missing required field 'analyses', e.g. analyses: [forecast]",
                 id="analyses-missing"),
    pytest.param(entry("run_analysis", analyses=[]),
                 P + "analyses: needs at least 1 item, e.g. analyses: [forecast]",
                 id="analyses-empty"),
    pytest.param(entry("run_analysis", analyses=["bad name"]),
                 P + "analyses[0]: 'bad name' is not an analysis name; use letters, digits, "
                 "'_' and '-' only", id="analyses-bad-name"),
    # sms
    pytest.param(entry("sms", to=DROP),
                 P + "missing required field 'to', e.g. to: [\"+15555550100\"]",
                 id="sms-to-missing"),
    pytest.param(entry("sms", to=["+1555"]),
                 P + "to[0]: '+1555' is not an E.164 phone number; write it as "
                 "+<country code><number>, e.g. +15555550100", id="sms-to-too-short"),
    pytest.param(entry("sms", to=["15555550100"]),
                 P + "to[0]: '15555550100' is not an E.164 phone number; write it as "
                 "+<country code><number>, e.g. +15555550100", id="sms-to-no-plus"),
    pytest.param(entry("sms", to=["+1 555 555 0100"]),
                 P + "to[0]: '+1 555 555 0100' is not an E.164 phone number; write it as "
                 "+<country code><number>, e.g. +15555550100", id="sms-to-spaces"),
    pytest.param(entry("sms", to=["+01555555010"]),
                 P + "to[0]: '+01555555010' is not an E.164 phone number; write it as "
                 "+<country code><number>, e.g. +15555550100", id="sms-to-country-code-zero"),
    pytest.param(entry("sms", to=[15555550100]),
                 P + "to[0]: 15555550100 was read as a number, not a phone number; put it in "
                 "quotes with its '+', e.g. '+15555550100'", id="sms-to-unquoted-yaml-number"),
    pytest.param(entry("sms", message=""), P + "message: must not be empty",
                 id="sms-message-empty"),
    pytest.param(entry("sms", message="x" * 1601),
                 P + "message: holds at most 1600 characters, got 1601", id="sms-message-long"),
    # email
    pytest.param(entry("email", to=["ops"]),
                 P + "to[0]: 'ops' is not an e-mail address; write it as name@domain, "
                 "e.g. ops@example.com (internationalized domains in punycode)",
                 id="email-no-at"),
    pytest.param(entry("email", to=["ops@localhost"]),
                 P + "to[0]: 'ops@localhost' is not an e-mail address; write it as name@domain, "
                 "e.g. ops@example.com (internationalized domains in punycode)",
                 id="email-no-dot-in-domain"),
    pytest.param(entry("email", to=["Ops <ops@example.com>"]),
                 P + "to[0]: 'Ops <ops@example.com>': write just the address, without a "
                 "display name, e.g. ops@example.com", id="email-display-name"),
    pytest.param(entry("email", to=[f"u{i}@example.com" for i in range(51)]),
                 P + "to: holds at most 50 items, got 51", id="email-over-50-recipients"),
    pytest.param(entry("email", to=DROP),
                 P + "missing required field 'to', e.g. to: [ops@example.com]",
                 id="email-to-missing"),
    pytest.param(entry("email", subject=DROP),
                 P + "missing required field 'subject', e.g. subject: \"Alarm $DEVICE$\"",
                 id="email-subject-missing"),
    pytest.param(entry("email", subject="a\nBcc: x"),
                 P + "subject: 'a\\nBcc: x' holds a line break or control character; "
                 "write it on one line", id="email-subject-newline"),
    pytest.param(entry("email", message=DROP),
                 P + "an e-mail needs a body: add 'message' (plain text), 'html', or both",
                 id="email-no-body"),
    pytest.param(entry("email", html=""), P + "html: must not be empty", id="email-html-empty"),
    # mqtt_publish
    pytest.param(entry("mqtt_publish", topic=DROP),
                 P + "missing required field 'topic', e.g. topic: \"ack/$DEVICE$\"",
                 id="publish-topic-missing"),
    pytest.param(entry("mqtt_publish", qos=2),
                 P + "qos: AWS IoT Core has no QoS 2 (it never acknowledges it); use 1 for "
                 "at-least-once or 0 for at-most-once delivery", id="publish-qos-2"),
    pytest.param(entry("mqtt_publish", qos=3),
                 P + "qos: must be 0 or 1, got the number 3", id="publish-qos-3"),
    pytest.param(entry("mqtt_publish", qos=True),
                 P + "qos: must be 0 or 1, got true", id="publish-qos-bool"),
    pytest.param(entry("mqtt_publish", qos="1"),
                 P + "qos: must be 0 or 1, got the text '1'", id="publish-qos-text"),
    pytest.param(entry("mqtt_publish", retain="no"),
                 P + "retain: expected true or false, got the text 'no'", id="publish-retain-text"),
    pytest.param(entry("mqtt_publish", payload={"a": 1}),
                 P + "payload: expected text, got a mapping", id="publish-payload-mapping"),
    # webhook
    pytest.param(entry("webhook", url="http://example.com/in"),
                 P + "url: 'http://example.com/in' uses http, which sends the data unencrypted; "
                 "use https, or set allow_http: true", id="url-http"),
    pytest.param(entry("webhook", url="ftp://example.com/in"),
                 P + "url: 'ftp://example.com/in' is not a URL; write it as https://host/path",
                 id="url-ftp"),
    pytest.param(entry("webhook", url="https://"),
                 P + "url: 'https://' is not a URL; write it as https://host/path",
                 id="url-no-host"),
    pytest.param(entry("webhook", url="example.com/in"),
                 P + "url: 'example.com/in' is not a URL; write it as https://host/path",
                 id="url-no-scheme"),
    pytest.param(entry("webhook", url="https://example.com:99999/"),
                 P + "url: 'https://example.com:99999/' is not a URL; write it as "
                 "https://host/path", id="url-bad-port"),
    pytest.param(entry("webhook", url="https://example.com/a b"),
                 P + "url: 'https://example.com/a b' holds a space or control character; "
                 "percent-encode it", id="url-space"),
    pytest.param(entry("webhook", url="https://bücher.example/in"),
                 P + "url: 'https://bücher.example/in' has a non-ASCII host name; write the host "
                 "as 'xn--bcher-kva.example' (its ASCII form)", id="url-idn-host"),
    pytest.param(entry("webhook", url="https://a..ü/in"),
                 P + "url: 'https://a..ü/in' has a host name with an empty or over-long part "
                 "(63 characters at most between dots); write it as https://host/path",
                 id="url-bad-idn"),
    # issue #23: a device's value in the host would choose the server (and get the headers)
    pytest.param(entry("webhook", url="https://hooks.example.com$VALUE$/in"),
                 P + "url: 'https://hooks.example.com$VALUE$/in' has a placeholder ($...$) in its "
                 "scheme, host or port, where a device's value would choose the server; write the "
                 "host as text and put placeholders in the path or query only, e.g. "
                 "https://hooks.example.com/in/$DEVICE$", id="url-placeholder-in-host"),
    pytest.param(entry("webhook", url="https://$DEVICE$@hooks.example.com/in"),
                 P + "url: 'https://$DEVICE$@hooks.example.com/in' has a placeholder ($...$) in "
                 "its scheme, host or port, where a device's value would choose the server; write "
                 "the host as text and put placeholders in the path or query only, e.g. "
                 "https://hooks.example.com/in/$DEVICE$", id="url-placeholder-in-userinfo"),
    pytest.param(entry("webhook", url="https://example.com/" + "x" * 2030),
                 P + "url: holds at most 2048 characters, got 2050", id="url-too-long"),
    pytest.param(entry("webhook", headers={"X Key": "a"}),
                 P + "headers: header name 'X Key' is not valid; use letters, digits and "
                 "!#$%&'*+-.^_`|~ only, e.g. X-Api-Key", id="header-name-space"),
    pytest.param(entry("webhook", headers={"Content-Length": "1"}),
                 P + "headers: header 'Content-Length' is set by the webhook sender; remove it",
                 id="header-set-by-sender"),
    pytest.param(entry("webhook", headers={"X-A": "a\r\nX-B: b"}),
                 P + "headers: header 'X-A': the value must not hold a line break or NUL",
                 id="header-value-crlf"),
    pytest.param(entry("webhook", headers={"X-A": 5}),
                 P + "headers.X-A: expected text, got the number 5; put it in quotes",
                 id="header-value-number"),
    pytest.param(entry("webhook", timeout_seconds=0),
                 P + "timeout_seconds: must be > 0, got 0", id="timeout-zero"),
    pytest.param(entry("webhook", timeout_seconds=31),
                 P + "timeout_seconds: must be <= 30, got 31", id="timeout-over-30"),
    pytest.param(entry("webhook", max_retries=11),
                 P + "max_retries: must be <= 10, got 11", id="retries-over-10"),
    pytest.param(entry("webhook", max_retries=-1),
                 P + "max_retries: must be >= 0, got -1", id="retries-negative"),
    pytest.param(entry("webhook", allow_http="yes"),
                 P + "allow_http: expected true or false, got the text 'yes'",
                 id="allow-http-text"),
    # the entry itself
    pytest.param([1, 2], "actions[0]: an action must be a mapping (name: value, ...), got a list",
                 id="entry-not-a-mapping"),
    pytest.param(None, "actions[0]: an action must be a mapping (name: value, ...), got "
                 "nothing (null)", id="entry-null"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "problem"), INVALID)
def test_invalid(data: object, problem: str) -> None:
    assert problems_of({"actions": [data]}) == [problem]


@pytest.mark.parametrize(
    ("data", "start"),
    [
        pytest.param(entry("sms", topics=["a/#/b"]),
                     P + "topics[0]: 'a/#/b' is not a valid topic filter: ", id="filter-hash-mid"),
        pytest.param(entry("sms", topics=["a/b+"]),
                     P + "topics[0]: 'a/b+' is not a valid topic filter: ", id="filter-plus-part"),
        pytest.param(entry("sms", topics=["t", ""]),
                     P + "topics[1]: '' is not a valid topic filter: ", id="filter-empty"),
        pytest.param(entry("sms", topics=["a\x00"]),
                     P + "topics[0]: 'a\\x00' is not a valid topic filter: ", id="filter-nul"),
        pytest.param(entry("mqtt_publish", topic="ack/+"),
                     P + "topic: 'ack/+' is not a topic to publish to: ", id="publish-wildcard"),
        pytest.param(entry("mqtt_publish", topic="ack/#"),
                     P + "topic: 'ack/#' is not a topic to publish to: ", id="publish-hash"),
        pytest.param(entry("mqtt_publish", topic=""),
                     P + "topic: '' is not a topic to publish to: ", id="publish-empty"),
    ],
)  # fmt: skip
def test_invalid_topics_name_the_field_and_give_the_reason(data: object, start: str) -> None:
    # The reason after the colon is mqtt_actions.topics' own message.
    [problem] = problems_of({"actions": [data]})
    assert problem.startswith(start)
    assert len(problem) > len(start)


# --- the file as a whole -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        pytest.param("", ["the file is empty; it must hold an 'actions:' list"], id="empty"),
        pytest.param("# nothing yet\n", ["the file is empty; it must hold an 'actions:' list"],
                     id="only-a-comment"),
        pytest.param("actions:\n", ["'actions' must be a list of actions (write 'actions: []' "
                                    "for none), got nothing (null)"], id="actions-null"),
        pytest.param("actions: {id: a}\n", ["'actions' must be a list of actions (write "
                                            "'actions: []' for none), got a mapping"],
                     id="actions-mapping"),
        pytest.param("- id: a\n", ["the top level must be a mapping with an 'actions:' list, "
                                   "got a list"], id="top-level-list"),
        pytest.param("hello\n", ["the top level must be a mapping with an 'actions:' list, got "
                                 "the text 'hello'"], id="top-level-text"),
        pytest.param("action: []\n", ["unknown top-level field 'action'; did you mean 'actions'?"],
                     id="top-level-typo"),
        pytest.param("rules: []\n", ["unknown top-level field 'rules'; only 'actions' goes here",
                                     "missing the top-level 'actions:' list"],
                     id="top-level-unknown-and-missing"),
        pytest.param("actions: []\nversion: 1\n",
                     ["unknown top-level field 'version'; only 'actions' goes here"],
                     id="top-level-extra"),
        pytest.param("actions:\n  - id: a\n    id: b\n",
                     ["line 3, column 5: found duplicate key 'id'; each field may appear once "
                      "per mapping"], id="yaml-duplicate-key"),
        pytest.param('{"actions": [{"id": "a", "id": "b"}]}',
                     ["duplicate key 'id'; each field may appear once per mapping"],
                     id="json-duplicate-key"),
    ],
)  # fmt: skip
def test_file_problems(text: str, problems: list[str]) -> None:
    with pytest.raises(ActionsFileError) as info:
        load_actions_file(text)
    assert info.value.problems == problems


def test_a_yaml_date_as_condition_value_must_be_quoted() -> None:
    text = (
        "actions:\n  - {id: a, topics: [t], type: insert_bucket,\n"
        "     when: [{variable: day, op: ==, value: 2024-05-01}]}\n"
    )
    with pytest.raises(ActionsFileError) as info:
        load_actions_file(text)
    assert info.value.problems == [
        P + 'when[0].value: must be text, a number or true/false, got "2024-05-01"; '
        "put it in quotes to compare it as text"
    ]


def test_no_actions_is_an_empty_list() -> None:
    assert load_actions_file("actions: []\n") == []


@pytest.mark.parametrize(
    ("text", "start"),
    [
        pytest.param("actions:\n  - id: a\n   topics: [x]\n",
                     "line 3, column 4: YAML syntax error: ", id="bad-indentation"),
        pytest.param("actions:\n\t- id: a\n", "line 2, column 1: YAML syntax error: ", id="tab"),
        pytest.param('{"actions": [}', "line 1, column 14: YAML syntax error: ",
                     id="broken-json"),
        pytest.param("actions: [{id: a, topics: [x]\n", "line 2, column 1: YAML syntax error: ",
                     id="unclosed-bracket"),
    ],
)  # fmt: skip
def test_yaml_syntax_errors_name_the_line(text: str, start: str) -> None:
    with pytest.raises(ActionsFileError) as info:
        load_actions_file(text)
    [problem] = info.value.problems
    assert problem.startswith(start)
    assert problem.endswith(
        "check the indentation (spaces, not tabs) and put text containing ': ' or starting "
        "with > | * & ! % @ in quotes"
    )


def test_duplicate_ids_name_both_actions() -> None:
    data = {"actions": [BASE["sms"], BASE["webhook"], {**BASE["email"], "id": "b"}, BASE["sms"]]}
    assert problems_of(data) == [
        "actions[1] (id 'a'): id 'a' is already used by actions[0]; give each action its own id",
        "actions[3] (id 'a'): id 'a' is already used by actions[0]; give each action its own id",
    ]


def test_every_problem_in_every_action_is_listed_and_nothing_is_returned() -> None:
    text = """\
actions:
  - {id: store, topic: ["home/#"], type: insert_bucket}
  - {id: ok, topics: ["a/#"], type: insert_bucket}
  - {id: sms, topics: ["alarm/#"], type: smss}
  - {id: sms, topics: ["alarm/#"], type: sms, to: ["+1555", "+15555550100"], message: ""}
"""
    with pytest.raises(ActionsFileError) as info:
        load_actions_file(text, source="actions.yaml")
    assert str(info.value) == (
        "actions.yaml: 5 problems; the file is refused as a whole:\n"
        "  - actions[0] (id 'store'): unknown field 'topic'; did you mean 'topics'?\n"
        "  - actions[2] (id 'sms'): type 'smss' is not one of insert_bucket, run_analysis, sms, "
        "email, mqtt_publish, webhook; did you mean 'sms'?\n"
        "  - actions[3] (id 'sms'): to[0]: '+1555' is not an E.164 phone number; write it as "
        "+<country code><number>, e.g. +15555550100\n"
        "  - actions[3] (id 'sms'): message: must not be empty\n"
        "  - actions[3] (id 'sms'): id 'sms' is already used by actions[2]; give each action "
        "its own id"
    )


def test_one_problem_is_singular() -> None:
    error = ActionsFileError(["x"], source="f.yaml")
    assert str(error) == "f.yaml: 1 problem; the file is refused as a whole:\n  - x"
    assert isinstance(error, ValueError)


def test_braces_in_user_input_are_not_read_as_a_template() -> None:
    [problem] = problems_of({"actions": [entry("sms", to=["{message}"])]})
    assert problem.startswith(P + "to[0]: '{message}' is not an E.164 phone number")


def test_action_alias_validates_through_the_discriminator() -> None:
    from pydantic import TypeAdapter

    adapter = TypeAdapter[Action](Action)
    assert isinstance(adapter.validate_python(BASE["email"]), EmailAction)


# --- hostile files: each refused with a reason, quickly ----------------------------------------


def _laughs(levels: int, use: str) -> str:
    """The 'billion laughs' file: 9 ** levels values from a few lines of aliases."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join([*lines, f"actions: [{use.replace('BOMB', f'*l{levels - 1}')}]"])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("[" * 50_000 + "]" * 50_000, "nested more than 64 levels", id="deep-json"),
        pytest.param("actions: " + "[" * 5_000, "nested more than 64 levels", id="deep-yaml-flow"),
        pytest.param(
            "actions: [{id: a, topics: [x], type: &t [*t]}]",
            "line 1, column 38: an alias refers to a node that contains it",
            id="alias-cycle",
        ),
        pytest.param(
            _laughs(9, "{id: a, topics: [x], type: BOMB}"),
            "aliases (*name) expand the file to 926,177,123 values",
            id="billion-laughs-in-type",
        ),
        pytest.param(
            _laughs(9, "{id: a, topics: BOMB, type: insert_bucket}"),
            "aliases (*name) expand the file to",
            id="billion-laughs-in-topics",
        ),
    ],
)
def test_hostile_files_are_refused_with_a_reason(text: str, problem: str) -> None:
    with pytest.raises(ActionsFileError) as info:
        load_actions_file(text)
    assert any(problem in p for p in info.value.problems), info.value.problems


def test_aliases_that_repeat_a_little_still_work() -> None:
    text = """
actions:
  - {id: a, topics: &t ["home/#"], type: insert_bucket,
     when: &hot [{variable: t, op: ">", value: 3}]}
  - {id: b, topics: *t, type: insert_bucket, when: *hot}
"""
    a, b = load_actions_file(text)
    assert a.topics == b.topics
    assert a.when == b.when


def test_a_huge_value_in_a_message_is_shortened() -> None:
    huge = {"id": "a", "topics": ["x"], "type": [list(range(1000))] * 1000}
    with pytest.raises(ActionsFileError) as info:
        parse_actions({"actions": [huge]})
    assert len(str(info.value)) < 1_000


SURROGATE_ENTRIES = [
    ("message", {"type": "sms", "to": ["+15555550100"], "message": "hi \ud800"}),
    ("headers", {"type": "webhook", "url": "https://e.com", "headers": {"X-A": "\udfff"}}),
    (
        "when[0].variable",
        {"type": "insert_bucket", "when": [{"variable": "\udfff", "op": "exists"}]},
    ),
    ("subject", {"type": "email", "to": ["a@b.co"], "subject": "\ud800", "message": "m"}),
]


@pytest.mark.parametrize(("field", "entry"), SURROGATE_ENTRIES)
def test_lone_surrogates_are_refused_naming_the_field(field: str, entry: dict[str, Any]) -> None:
    text = json.dumps({"actions": [{"id": "a", "topics": ["x"], **entry}]})
    assert "\\ud" in text  # a JSON escape, as a file would hold it
    with pytest.raises(ActionsFileError) as info:
        load_actions_file(text)
    [problem] = info.value.problems
    assert problem.startswith(f"{P}{field}: holds a lone surrogate U+D"), problem


# --- stored actions: loaded by their fingerprint, or validated in full ------------------------

RICH = """\
actions:
  - {id: store, topics: ["home/+/t"], type: insert_bucket, device: "d-$DEVICE$",
     when: [{variable: t, op: ">", value: 30.5}, {variable: s, op: exists}],
     rate_limit: {max: 5, per_seconds: 60}}
  - {id: run, topics: ["home/#"], type: run_analysis, analyses: [f, g], environment: {K: v}}
  - {id: sms, topics: ["a/#"], type: sms, to: ["+15555550100"], message: "é $VALUE$",
     enabled: false}
  - {id: mail, topics: ["a/#"], type: email, to: [ops@example.com], subject: s, html: "<b>x</b>"}
  - {id: echo, topics: ["cmd/+"], type: mqtt_publish, topic: "ack/$DEVICE$", qos: 1, retain: true}
  - {id: hook, topics: ["#"], type: webhook, url: "http://example.com/in", allow_http: true,
     headers: {X-Key: abc}, timeout_seconds: 2.5, max_retries: 0}
"""


@pytest.mark.parametrize("action", load_actions_file(RICH), ids=lambda a: a.id)
def test_a_stored_action_with_its_fingerprint_loads_as_it_was_validated(action: Action) -> None:
    config = action.model_dump_json()

    loaded, trusted = read_stored_action(config, stored_fingerprint(config))

    assert trusted
    assert loaded == action
    assert type(loaded) is type(action)
    assert all(isinstance(c, Condition) for c in loaded.when)
    assert loaded.model_dump_json() == config


@pytest.mark.parametrize("action", load_actions_file(RICH), ids=lambda a: a.id)
def test_a_stored_action_without_a_fingerprint_is_validated_in_full(action: Action) -> None:
    assert read_stored_action(action.model_dump_json(), None) == (action, False)


@pytest.mark.parametrize("mark", [None, "stale"], ids=["no-mark", "other-mark"])
def test_a_stored_action_that_does_not_validate_is_refused_naming_the_id_and_field(
    mark: str | None,
) -> None:
    good = parse_action(BASE["insert_bucket"]).model_dump_json()
    edited = good.replace('"t/#"', '"t/#/x"')  # changed after it was validated
    fingerprint = stored_fingerprint(good) if mark == "stale" else None

    with pytest.raises(ActionsFileError) as refused:
        read_stored_action(edited, fingerprint)

    [problem] = refused.value.problems
    assert problem.startswith("actions[0] (id 'a'): topics[0]: ")
    assert "is not a valid topic filter" in problem


def test_a_fingerprint_holds_for_its_text_only() -> None:
    config = parse_action(BASE["sms"]).model_dump_json()
    assert stored_fingerprint(config) == stored_fingerprint(config)
    assert stored_fingerprint(config) != stored_fingerprint(config.replace("m", "n"))


def _package_imports(path: Path) -> set[str]:
    """The `mqtt_actions` modules a source file imports (any depth of `from ... import`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mqtt_actions."):
            found.add(node.module or "")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mqtt_actions."))
    return found


def test_fingerprint_covers_every_module_the_action_rules_import() -> None:
    # Given the models: every mqtt_actions module they reach through imports decides what a valid
    # action is (a limit, a condition operator, a topic rule), so it must be in the fingerprint,
    # else a tightened rule would leave actions stored under the old one trusted.
    package = Path(mqtt_actions.__file__).parent
    todo, seen = ["mqtt_actions.actions.model", "mqtt_actions.actions.problems"], set[str]()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        relative = module.removeprefix("mqtt_actions.").replace(".", "/")
        path = package / f"{relative}.py"
        if not path.exists():  # a package: its __init__
            path = package / relative / "__init__.py"
        todo.extend(_package_imports(path))
    rules = {
        str(p.relative_to(package))
        for m in seen
        for p in [package / f"{m.removeprefix('mqtt_actions.').replace('.', '/')}.py"]
        if p.exists()
    }
    assert rules <= set(RULE_MODULES), f"add to RULE_MODULES: {sorted(rules - set(RULE_MODULES))}"
    assert all((package / name).is_file() for name in RULE_MODULES)


def test_a_change_to_any_rule_module_changes_every_fingerprint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a copy of the package where only limits.py (not model.py) differs
    import mqtt_actions.actions.stored as stored

    config = '{"id": "a"}'
    before = stored_fingerprint(config)
    package = Path(mqtt_actions.__file__).parent
    copy = tmp_path / "mqtt_actions"
    for name in RULE_MODULES:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((package / name).read_bytes())
    (copy / "limits.py").write_bytes((package / "limits.py").read_bytes() + b"\n# tightened\n")
    monkeypatch.setattr(stored, "__file__", str(copy / "actions" / "stored.py"))
    stored._rules_digest.cache_clear()
    try:
        # Then the fingerprint of the same action text changes
        assert stored_fingerprint(config) != before
    finally:
        stored._rules_digest.cache_clear()
