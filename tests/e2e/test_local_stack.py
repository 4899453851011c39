"""The local stack end to end: real MQTT clients publish; actions store, notify, republish and call
webhooks; failures land in the dead-letter queue and replay once. Each test owns its topics,
action ids and client ids, so tests share one stack without seeing each other's messages."""

from __future__ import annotations

import base64
import json
import socket
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from mqtt_actions.adapters.inspector import DynamoInspector
from tests.e2e.conftest import Client, LocalStack, wait_until
from tests.support.mqtt_clients import stop_loop
from tests.support.webhook import Hook

pytestmark = pytest.mark.e2e

Connect = Callable[[str], Client]


# --- control API ------------------------------------------------------------------------------


def test_control_api_reports_ready_and_the_template_outputs(stack: LocalStack) -> None:
    assert stack.get("/health")["ready"] is True
    outputs = stack.get("/outputs")
    assert outputs["BucketTableName"] == "BucketTable"
    assert outputs["ActionsTableName"] == "ActionsTable"
    assert outputs["IdempotencyTableName"] == "IdempotencyTable"
    assert outputs["DeadLetterQueueUrl"].endswith("/DeadLetterQueue")
    assert outputs["RouterFunctionName"] == "RouterFunction"
    assert outputs["AwsEndpoint"] == stack.aws_url
    assert (outputs["MqttHost"], outputs["MqttPort"]) == ("127.0.0.1", stack.mqtt_port)
    assert outputs["Region"] == "us-east-1"


def test_invoking_an_unknown_function_names_the_known_ones(stack: LocalStack) -> None:
    status, body = stack.request("POST", "/invoke/NoSuchFunction", {})
    assert status == 404
    assert "RouterFunction" in body["error"]


# --- insert_bucket: JSON, raw and binary, QoS 0 and 1 -------------------------------------------

STORE = """
actions:
  - {id: e2e-store, topics: ["bucket/#"], type: insert_bucket}
"""


def test_json_published_with_qos1_is_stored_in_the_devices_bucket(
    stack: LocalStack, connect: Connect
) -> None:
    stack.apply(STORE)
    device = connect("dev-json")
    device.publish("bucket/kitchen", json.dumps({"variable": "temperature", "value": 21.5}), qos=1)

    rows = wait_until(lambda: stack.bucket("dev-json", "temperature"), "the temperature row")
    assert rows[0]["value"] == 21.5
    assert rows[0]["metadata"] == {"topic": "bucket/kitchen", "mqtt_topic": "bucket/kitchen"}


@pytest.mark.parametrize(
    ("qos", "payload", "expected"),
    [
        pytest.param(
            0,
            b"hello raw",
            {"value": "hello raw", "metadata": {"topic": "bucket/raw", "mqtt_topic": "bucket/raw"}},
            id="text-qos0",
        ),
        pytest.param(
            1,
            b"\x00\xff\x10binary",
            {
                "value": base64.b64encode(b"\x00\xff\x10binary").decode(),
                "metadata": {
                    "topic": "bucket/raw",
                    "mqtt_topic": "bucket/raw",
                    "encoding": "base64",
                },
            },
            id="binary-qos1",
        ),
    ],
)
def test_raw_and_binary_payloads_are_stored_as_one_payload_point(
    stack: LocalStack, connect: Connect, qos: int, payload: bytes, expected: dict[str, Any]
) -> None:
    stack.apply(STORE)
    client_id = f"dev-raw-{qos}"
    connect(client_id).publish("bucket/raw", payload, qos=qos)

    rows = wait_until(lambda: stack.bucket(client_id, "payload"), "the payload row")
    assert {k: rows[0][k] for k in ("value", "metadata")} == expected


# --- SMS and e-mail -----------------------------------------------------------------------------


def test_sms_when_the_condition_holds_and_email_for_every_alert(
    stack: LocalStack, connect: Connect
) -> None:
    stack.apply("""
actions:
  - id: e2e-sms
    topics: ["alert/+/temp"]
    when: [{variable: temperature, op: ">", value: 30}]
    type: sms
    to: ["+15555550123"]
    message: "$DEVICE$ $VARIABLE$=$VALUE$"
  - id: e2e-mail
    topics: ["alert/#"]
    type: email
    to: [alerts-e2e@example.com]
    subject: "Alert $DEVICE$ $VALUE$"
    message: "$PAYLOAD$"
    html: "<b>$VALUE$</b>"
""")
    device = connect("dev-alert")
    cool = json.dumps({"variable": "temperature", "value": 20})
    hot = json.dumps({"variable": "temperature", "value": 35})
    device.publish("alert/room/temp", cool)
    device.publish("alert/room/temp", hot)

    def mails() -> list[dict[str, Any]]:
        return [m for m in stack.outbox("email") if m["to"] == ["alerts-e2e@example.com"]]

    def texts() -> list[dict[str, Any]]:
        return [s for s in stack.outbox("sms") if s["to"] == "+15555550123"]

    sent = wait_until(lambda: len(mails()) == 2 and mails(), "two e-mails")
    sms = wait_until(texts, "the SMS")
    assert {(m["subject"], m["text"], m["html"]) for m in sent} == {
        ("Alert dev-alert 20", cool, "<b>20</b>"),
        ("Alert dev-alert 35", hot, "<b>35</b>"),
    }
    assert [s["message"] for s in sms] == ["dev-alert temperature=35"]  # 20 is not > 30
    assert all(isinstance(item["time"], int) for item in sent + sms)


# --- mqtt_publish (iot-data Publish delivered on the broker) ------------------------------------


def test_republished_message_reaches_a_subscriber_with_its_bytes(
    stack: LocalStack, connect: Connect
) -> None:
    stack.apply("""
actions:
  - id: e2e-echo
    topics: ["echo/+"]
    type: mqtt_publish
    topic: "out/echoed/$DEVICE$"
    payload: "$PAYLOAD$"
    qos: 1
""")
    listener = connect("echo-listener")
    listener.subscribe("out/echoed/#")
    connect("dev-echo").publish("echo/cmd", b"\x00\x01 binary stays binary", qos=1)

    (message,) = listener.messages(1)
    assert message.topic == "out/echoed/dev-echo"
    assert message.payload == b"\x00\x01 binary stays binary"
    # The republished message went through the rules engine again, one hop further.
    wait_until(lambda: stack.log_has(r"pub  iot-data -> out/echoed/dev-echo .*hops 1"), "hops 1")


def test_a_publish_outside_the_declared_prefixes_is_refused_at_apply_and_at_run_time(
    stack: LocalStack, connect: Connect, tmp_path: Any
) -> None:
    """The router may publish under ActionPublishPrefixes only (the stack's --param): `actions
    apply` refuses an action publishing elsewhere, naming it, its field and the parameter; one
    stored anyway (before the parameter changed) is refused when it runs, and nothing reaches
    the device's command topic."""
    outside = (
        "  - {id: e2e-steer, topics: ['steer/+'], type: mqtt_publish, topic: 'cmd/$DEVICE$'}\n"
    )
    path = tmp_path / "outside.yaml"
    path.write_text("actions:\n" + outside, encoding="utf-8")
    refused = stack.cli("actions", "apply", str(path), "--local")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "actions[0] (id 'e2e-steer'): topic 'cmd/$DEVICE$'" in refused.stderr
    assert "--param ActionPublishPrefixes=" in refused.stderr
    assert "e2e-steer" not in stack.cli("actions", "list", "--local").stdout

    stack.apply("actions:\n" + outside)  # written to the table directly, as an older CLI did
    listener = connect("steer-listener")
    listener.subscribe("cmd/#")
    connect("dev-steer").publish("steer/x", b"reboot", qos=1)
    wait_until(lambda: stack.log_has(r"act  steer/x: e2e-steer=refused"), "the refusal")
    assert not stack.log_has(r"pub  iot-data -> cmd/"), "the refused action published"
    assert listener.received.empty()


def test_a_message_over_the_points_cap_is_kept_as_a_dead_letter_not_stored(
    stack: LocalStack, connect: Connect
) -> None:
    """One message of 4,000 points stored 4,000 rows (issue #23); the stack's default
    MaxPointsPerMessage (500) stores none of a 600-point message, and says why in the
    inspector and the dead-letter queue."""
    stack.apply("actions:\n  - {id: e2e-cap, topics: ['cap/+'], type: insert_bucket}\n")
    points = [{"variable": f"v{i}", "value": i} for i in range(600)]
    connect("dev-cap").publish("cap/flood", json.dumps(points), qos=1)
    wait_until(lambda: stack.log_has(r"act  cap/flood: e2e-cap=refused"), "the refusal")
    assert stack.bucket("dev-cap") == []

    def letter() -> dict[str, Any] | None:
        listed = stack.cli("dlq", "list", "--local", "--json")
        assert listed.returncode == 0, listed.stderr
        found = [d for d in json.loads(listed.stdout) if "e2e-cap" in json.dumps(d)]
        return found[0] if found else None

    assert "MaxPointsPerMessage" in json.dumps(wait_until(letter, "the dead letter"))
    inspector = DynamoInspector(stack.outputs["InspectorTableName"], stack.client("dynamodb"), 1)
    outcomes = [e.details for e in inspector.query(device="dev-cap", types=["action"])]
    assert [(o["outcome"], "600 data points" in o["reason"]) for o in outcomes] == [
        ("refused", True)
    ]


def test_iot_data_publish_and_retained_message_through_boto3(
    stack: LocalStack, connect: Connect
) -> None:
    iot_data = boto3.client("iot-data", endpoint_url=stack.control_url, region_name="us-east-1")
    listener = connect("iotdata-listener")
    listener.subscribe("iotdata/state")

    iot_data.publish(
        topic="iotdata/state",
        qos=1,
        retain=True,
        payload=b'{"on": true}',
        userProperties=[{"source": "e2e"}],
    )

    (message,) = listener.messages(1)
    assert message.payload == b'{"on": true}'
    retained = iot_data.get_retained_message(topic="iotdata/state")
    assert retained["payload"] == b'{"on": true}'
    assert retained["qos"] == 1


# --- run_analysis (Lambda Invoke, Event) and an analysis's own publish ---------------------------


def test_an_analysis_started_by_an_action_publishes_its_result(
    stack: LocalStack, connect: Connect
) -> None:
    stack.apply("""
actions:
  - {id: e2e-forward, topics: ["fahrenheit/+/temperature"], type: run_analysis, analyses: [forward]}
""")
    dashboard = connect("dashboard")
    dashboard.subscribe("processed/dev-fahrenheit/#")
    device = connect("dev-fahrenheit")
    device.publish(
        "fahrenheit/boiler/temperature", json.dumps({"variable": "temperature_f", "value": 212})
    )

    (message,) = dashboard.messages(1)
    assert message.topic == "processed/dev-fahrenheit/temperature_c"
    assert json.loads(message.payload)["value"] == 100


# --- lifecycle events (IoT Core's topics and fields) --------------------------------------------


def _connect_then_drop(stack: LocalStack, client_id: str) -> None:
    """Connect with a raw MQTT 3.1.1 CONNECT and close the socket without DISCONNECT."""
    variable_header = b"\x00\x04MQTT\x04\x02\x00\x3c"
    payload = len(client_id).to_bytes(2, "big") + client_id.encode()
    remaining = variable_header + payload
    with socket.create_connection((stack.host, stack.mqtt_port), timeout=10) as sock:
        sock.sendall(b"\x10" + bytes([len(remaining)]) + remaining)
        assert sock.recv(4)[:1] == b"\x20"  # CONNACK


def test_lifecycle_events_for_connect_subscribe_disconnect_and_lost_connection(
    stack: LocalStack, connect: Connect
) -> None:
    watcher = connect("lifecycle-watcher")
    watcher.subscribe("$aws/events/presence/+/dev-life")
    watcher.subscribe("$aws/events/subscriptions/+/dev-life")

    device = connect("dev-life")
    device.subscribe("life/#")
    device.unsubscribe("life/#")
    device.paho.disconnect()
    stop_loop(device.paho)
    _connect_then_drop(stack, "dev-life")

    events = [(m.topic, json.loads(m.payload)) for m in watcher.messages(6)]
    assert all(topic.endswith("/dev-life") for topic, _ in events), events
    by_type: dict[str, list[dict[str, Any]]] = {}
    for topic, doc in events:
        assert topic.split("/")[-2] == doc.get("eventType"), (topic, doc)
        by_type.setdefault(doc["eventType"], []).append(doc)
    # IoT Core does not promise order across event topics; versionNumber orders a client's
    # connects and disconnects.
    connects = sorted(by_type["connected"], key=lambda d: d["versionNumber"])
    disconnects = sorted(by_type["disconnected"], key=lambda d: d["versionNumber"])
    assert len(connects) == len(disconnects) == 2
    assert set(connects[0]) == {
        "clientId",
        "timestamp",
        "eventType",
        "sessionIdentifier",
        "principalIdentifier",
        "ipAddress",
        "versionNumber",
    }
    (subscribed,) = by_type["subscribed"]
    (unsubscribed,) = by_type["unsubscribed"]
    assert subscribed["topics"] == unsubscribed["topics"] == ["life/#"]
    first_session = connects[0]["sessionIdentifier"]
    assert subscribed["sessionIdentifier"] == first_session
    assert connects[1]["sessionIdentifier"] != first_session
    clean, lost = disconnects
    assert (clean["sessionIdentifier"], lost["sessionIdentifier"]) == (
        first_session,
        connects[1]["sessionIdentifier"],
    )
    assert (clean["clientInitiatedDisconnect"], clean["disconnectReason"]) == (
        True,
        "CLIENT_INITIATED_DISCONNECT",
    )
    assert (lost["clientInitiatedDisconnect"], lost["disconnectReason"]) == (
        False,
        "CONNECTION_LOST",
    )
    versions = [d["versionNumber"] for d in connects + disconnects]
    assert sorted(versions) == [versions[0], versions[2], versions[1], versions[3]]


def test_inspector_records_connect_subscribe_publish_outcome_and_disconnect(
    stack: LocalStack, connect: Connect
) -> None:
    stack.apply(STORE)
    device = connect("dev-inspected")
    device.subscribe("inspected/#")
    device.publish("bucket/inspected", json.dumps({"variable": "x", "value": 1}))
    device.paho.disconnect()
    stop_loop(device.paho)

    inspector = DynamoInspector(stack.outputs["InspectorTableName"], stack.client("dynamodb"), 1)
    wanted = {"connect", "subscribe", "publish", "action", "disconnect"}

    def entries() -> list[Any] | None:
        found = inspector.query(device="dev-inspected")
        return found if wanted <= {str(e.type) for e in found} else None

    found = wait_until(entries, "connect, subscribe, publish, action and disconnect entries")
    (action,) = [e for e in found if e.type == "action"]
    assert action.details["action_id"] == "e2e-store"
    assert action.details["outcome"] == "done"


# --- warnings where IoT Core would differ -------------------------------------------------------


def test_warnings_where_iot_core_would_behave_differently(
    stack: LocalStack, connect: Connect
) -> None:
    device = connect("dev-warn")
    device.paho.publish("warn/qos2", b"x", qos=2)  # IoT Core answers nothing: no wait here
    device.publish("warn/a/b/c/d/e/f/g/h", b"x", qos=0)
    device.publish("warn/retained", b"kept", qos=1, retain=True)
    device.subscribe("warn/#")

    wait_until(
        lambda: stack.log_has(r"warn dev-warn: PUBLISH with QoS 2 on 'warn/qos2' dropped"),
        "the QoS 2 warning",
    )
    wait_until(lambda: stack.log_has(r"at most 7 slashes"), "the slashes warning")
    wait_until(
        lambda: stack.log_has(r"retained message\(s\) not sent to wildcard subscription 'warn/#'"),
        "the retained-to-wildcard line",
    )


# --- failures: the dead-letter queue and its replay ---------------------------------------------


def test_failing_webhook_is_dead_lettered_and_its_replay_delivers_once(
    stack: LocalStack, connect: Connect, webhook: Hook
) -> None:
    action_id = f"e2e-hook-{uuid.uuid4().hex[:8]}"
    stack.apply(f"""
actions:
  - id: {action_id}
    topics: ["hook/{action_id}"]
    type: webhook
    url: "{webhook.url}"
    allow_http: true
    max_retries: 0
    timeout_seconds: 5
""")
    webhook.status = 500
    connect("dev-hook").publish(f"hook/{action_id}", json.dumps({"variable": "door", "value": 1}))

    letters: list[dict[str, Any]] = []

    def dead_letter() -> dict[str, Any] | None:
        letters.extend(stack.dead_letters())
        return next((d for d in letters if d.get("action_id") == action_id), None)

    dead = wait_until(dead_letter, "the failed webhook in the dead-letter queue")
    assert dead["kind"] == "action_failed"
    assert dead["event"]["topic"] == f"hook/{action_id}"
    assert [r["status"] for r in webhook.requests] == [500]
    failed = [h for h in stack.outbox("webhook") if h["action_id"] == action_id]
    assert failed[0]["status"] is None
    assert "500" in failed[0]["error"]

    webhook.status = 200
    replay = {**dead["event"], "only_actions": [action_id]}
    status, result = stack.request("POST", "/invoke/RouterFunction", replay)
    assert status == 200
    assert result["outcomes"] == {action_id: "done"}
    status, again = stack.request("POST", "/invoke/RouterFunction", replay)
    assert again["outcomes"] == {action_id: "duplicate"}

    assert [r["status"] for r in webhook.requests] == [500, 200]  # delivered once
    hooks = [h for h in stack.outbox("webhook") if h["action_id"] == action_id]
    assert [h["status"] for h in hooks] == [None, 200]


def test_lambda_invoke_through_boto3_runs_the_handler(stack: LocalStack) -> None:
    lambda_client = boto3.client("lambda", endpoint_url=stack.control_url, region_name="us-east-1")
    event = {
        "payload": base64.b64encode(b"{}").decode(),
        "topic": "nobody/listens/here",
        "clientid": "dev-invoke",
        "timestamp": 1,
        "traceid": str(uuid.uuid4()),
    }
    response = lambda_client.invoke(FunctionName="RouterFunction", Payload=json.dumps(event))
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read())["matched"] == 0
    queued = lambda_client.invoke(
        FunctionName="RouterFunction", InvocationType="Event", Payload=json.dumps(event)
    )
    assert queued["StatusCode"] == 202
