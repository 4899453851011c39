"""`mqtt-actions local --auth tokens` with real paho clients: the broker asks
DeviceAuthorizerFunction on every CONNECT (IoT Core's event and answer), enforces the policy it
returns (DeviceTopicAccess=own here), inspects refusals, refuses a client id another device's
live connection holds, and `devices revoke` closes the live connection."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from mqtt_actions.adapters.inspector import DynamoInspector
from tests.e2e.conftest import LocalStack, running_stack, wait_until
from tests.support.mqtt_clients import TokenSession as Session
from tests.support.mqtt_clients import stop_loop, token_session
from tests.support.raw_mqtt import DISCONNECT, PUBACK, RawClient

pytestmark = pytest.mark.e2e

STORE = """
actions:
  - {id: tokens-store, topics: ["tok-sensor/#"], type: insert_bucket}
"""


@pytest.fixture(scope="module")
def token_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # DeviceTopicAccess=own: the narrow policy (tests/e2e/test_tagoio_firmware.py runs the
    # default, account, as TagoIO firmware needs it).
    options = ("--fresh", "--auth", "tokens", "--param", "DeviceTopicAccess=own")
    with running_stack(tmp_path_factory.mktemp("state"), *options) as local:
        yield local


def cli(stack: LocalStack, *argv: str) -> Any:
    """`mqtt-actions ARGV --json` against this stack (its control API port), parsed."""
    ran = stack.cli(*argv, "--json")
    assert ran.returncode == 0, ran.stderr
    return json.loads(ran.stdout)


def session(stack: LocalStack, client_id: str, password: str | None) -> Session:
    return token_session(stack.host, stack.mqtt_port, client_id, password)


def close(*sessions: Session) -> None:
    for s in sessions:
        s.paho.disconnect()
        stop_loop(s.paho)


def inspector(stack: LocalStack) -> DynamoInspector:
    return DynamoInspector(stack.outputs["InspectorTableName"], stack.client("dynamodb"), 1)


def test_the_banner_says_tokens(token_stack: LocalStack) -> None:
    assert token_stack.log_has(r"MQTT broker .*auth tokens")


def test_right_token_connects_and_its_publish_runs_actions_under_the_device_name(
    token_stack: LocalStack,
) -> None:
    token_stack.apply(STORE)
    made = cli(token_stack, "devices", "create", "tok-sensor", "--token")
    device = session(token_stack, "esp32-random-7f3a", made["token"])
    try:
        assert device.connack == [ReasonCode(mqtt.CONNACK >> 4, "Connack", 0)]
        info = device.paho.publish("tok-sensor/temp", json.dumps({"variable": "t", "value": 3}), 1)
        info.wait_for_publish(timeout=10)
        rows = wait_until(lambda: token_stack.bucket("tok-sensor"), "a row in tok-sensor's bucket")
        assert [r["variable"] for r in rows] == ["t"]
        assert token_stack.bucket("esp32-random-7f3a") == []
    finally:
        close(device)


def test_wrong_token_gets_not_authorized_and_the_inspector_shows_connect_failed(
    token_stack: LocalStack,
) -> None:
    refused = session(token_stack, "intruder-1", "0f5c9f7e-0000-4000-8000-00000000dead")
    anonymous = session(token_stack, "intruder-2", None)
    try:
        for attempt in (refused, anonymous):
            assert [int(c.value) for c in attempt.connack] == [135]  # paho maps 3.1.1's 5 to 135
            assert attempt.connack[0].is_failure
        log = inspector(token_stack)
        found = wait_until(
            lambda: [e for e in log.query(device="intruder-1") if e.type == "connect_failed"],
            "a connect_failed entry for intruder-1",
        )
        assert "AUTHORIZATION_FAILED" in json.dumps(found[0].details)
    finally:
        close(refused, anonymous)


def test_publish_and_subscribe_outside_the_policy_are_refused(token_stack: LocalStack) -> None:
    made = cli(token_stack, "devices", "create", "tok-narrow", "--token")
    device = session(token_stack, "narrow-1", made["token"])
    try:
        device.paho.subscribe([("tok-narrow/cmd", 1), ("other-device/#", 1), ("$aws/events/#", 1)])
        wait_until(lambda: device.subacks, "a SUBACK")
        assert [c.is_failure for c in device.subacks[0]] == [False, True, True]
        device.paho.publish("other-device/temp", b"{}", qos=1)
        assert device.disconnected.wait(10), "IoT Core closes a client publishing outside policy"
        assert token_stack.log_has(r"deny narrow-1: iot:Publish on 'other-device/temp'")
        log = inspector(token_stack)
        wait_until(
            lambda: [
                e
                for e in log.query(device="tok-narrow")  # the device, whatever its client id
                if e.type == "disconnect"
                and "AUTH_ERROR" in json.dumps(e.details)
                and e.details.get("client_id") == "narrow-1"
            ],
            "a AUTH_ERROR disconnect for tok-narrow (client narrow-1)",
        )
    finally:
        close(device)


def test_a_client_id_held_by_another_device_is_refused_naming_the_holder(
    token_stack: LocalStack,
) -> None:
    first = cli(token_stack, "devices", "create", "tok-holder", "--token")
    second = cli(token_stack, "devices", "create", "tok-taker", "--token")
    holder = session(token_stack, "shared-7", first["token"])
    try:
        assert not holder.connack[0].is_failure
        taker = session(token_stack, "shared-7", second["token"])
        assert taker.connack[0].is_failure
        assert not holder.disconnected.is_set()  # the holder keeps its connection
        log = inspector(token_stack)
        found = wait_until(
            lambda: [
                e
                for e in log.query(device="tok-holder")
                if e.type == "connect_failed" and e.details.get("held_by") == "tok-holder"
            ],
            "a connect_failed naming the device holding shared-7",
        )
        assert found[0].details["client_id"] == "shared-7"
        close(taker)
    finally:
        close(holder)


def test_revoke_disconnects_the_live_client_and_refuses_its_next_connect(
    token_stack: LocalStack,
) -> None:
    made = cli(token_stack, "devices", "create", "tok-revoked", "--token")
    device = session(token_stack, "revokee-1", made["token"])
    try:
        assert not device.connack[0].is_failure
        done = cli(token_stack, "devices", "revoke", "tok-revoked")
        assert done["closed"] == ["revokee-1"]
        assert device.disconnected.wait(10), "revoke did not close the connection"
        stop_loop(device.paho)
        again = session(token_stack, "revokee-1", made["token"])
        assert again.connack[0].is_failure
        listed = {d["device"]: d for d in cli(token_stack, "devices", "list")}
        assert listed["tok-revoked"]["revoked"] == 1
        close(again)
    finally:
        close(device)


VANISH = STORE + "  - {id: vanish-store, topics: ['+/vanish'], type: insert_bucket}\n"


@pytest.mark.parametrize("say_bye", [True, False], ids=["with-disconnect", "without-disconnect"])
def test_wake_publish_vanish_stores_the_row_under_the_device(
    token_stack: LocalStack, say_bye: bool
) -> None:
    """A battery device wakes, publishes and is gone at once (with a DISCONNECT or just closing
    the socket): its disconnect event races its PUBLISH through the stack, and either order must
    file the row under the device the token names, never dead-letter it (issue #21)."""
    token_stack.apply(VANISH)
    device = f"tok-vanish-{'bye' if say_bye else 'lost'}"
    made = cli(token_stack, "devices", "create", device, "--token")
    token_stack.dead_letters()  # what earlier tests left: this test's own are counted below
    raw = RawClient(token_stack.mqtt_port)
    try:
        raw.connect(f"{device}-esp", keepalive=30, username="Token", password=made["token"])
        raw.publish(f"{device}/vanish", b'{"variable": "v", "value": 3}', qos=1, packet_id=7)
        acked = raw.read()
        assert acked is not None
        assert (acked.kind, acked.packet_id) == (PUBACK, 7)
        if say_bye:
            raw.send(DISCONNECT)
    finally:
        raw.close()
    rows = wait_until(lambda: token_stack.bucket(device), f"a row in {device}'s bucket")
    assert [(r["variable"], r["value"]) for r in rows] == [("v", 3)]
    log = inspector(token_stack)
    gone = wait_until(
        lambda: [e for e in log.query(device=device) if e.type == "disconnect"],
        f"the inspector's disconnect of {device}",
    )
    reason = "CLIENT_INITIATED_DISCONNECT" if say_bye else "CONNECTION_LOST"
    assert gone[0].details["reason"] == reason
    assert [e for e in log.query(device="(unknown)") if device in json.dumps(e.details)] == []
    assert token_stack.dead_letters() == []
