"""`--auth tokens` pieces that need no broker: the CONNECT -> IoT Core event mapping, reading the
authorizer's answer, which plugins each mode loads, and the stack's own client's binding."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from amqtt.broker import BrokerContext
from amqtt.session import Session

from mqtt_actions_cli.local.auth import (
    ARN_PREFIX,
    TRUSTED_USERNAME,
    TokenAuthPlugin,
    _granted,
    connect_event,
    plugins,
    will_problem,
)
from mqtt_actions_cli.local.connect_gate import FirstPacket


def session(username: str | None, password: Any, client_id: str = "esp32-1") -> Session:
    s = Session()
    s.client_id, s.username, s.password = client_id, username, password
    return s


def test_a_connect_becomes_iot_cores_authorizer_event() -> None:
    event = connect_event(session("Token", "abc-123"), "conn-1")
    assert event == {
        "signatureVerified": False,
        "protocols": ["mqtt"],
        "protocolData": {
            "mqtt": {
                "username": "Token",
                "password": base64.b64encode(b"abc-123").decode(),
                "clientId": "esp32-1",
            }
        },
        "connectionMetadata": {"id": "conn-1"},
    }


def test_fields_the_client_did_not_send_are_left_out_as_iot_core_does() -> None:
    event = connect_event(session(None, None, client_id=""), "c")
    assert event["protocolData"]["mqtt"] == {}
    raw = connect_event(session("Token", b"\xff\x00"), "c")["protocolData"]["mqtt"]["password"]
    assert base64.b64decode(raw) == b"\xff\x00"


@pytest.mark.parametrize(
    "answer",
    [
        None,
        "yes",
        {"isAuthenticated": "true", "principalId": "T1", "policyDocuments": []},
        {"isAuthenticated": True, "principalId": 7, "policyDocuments": []},
        {"isAuthenticated": True, "principalId": "T1", "policyDocuments": "{}"},
        {"isAuthenticated": False, "principalId": "T1", "policyDocuments": []},
    ],
)
def test_only_a_well_formed_yes_lets_a_client_in(answer: Any) -> None:
    assert _granted(answer) is None


def test_a_yes_gives_the_principal_and_the_documents() -> None:
    answer = {"isAuthenticated": True, "principalId": "Tdev", "policyDocuments": ["{}", 3]}
    assert _granted(answer) == ("Tdev", ["{}"])


def test_each_mode_loads_its_auth_plugins() -> None:
    assert list(plugins("anonymous")) == ["amqtt.plugins.authentication.AnonymousAuthPlugin"]
    assert [p.rsplit(".", 1)[1] for p in plugins("tokens")] == [
        "TokenAuthPlugin",
        "TokenTopicPlugin",
    ]


# ---------------------------------------------------------------- the Last Will (issue #23)

_OWN_SUBTREE = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:RetainPublish"],
                "Resource": [f"{ARN_PREFIX}:topic/sensor-01/*"],
            },
            {
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [f"{ARN_PREFIX}:topic/shared/*"],
            },
        ],
    }
)


def with_will(topic: str | None, retain: bool = False) -> Session:
    s = session("Token", "x", client_id="sensor-01")
    s.will_flag, s.will_topic, s.will_retain = topic is not None, topic, retain
    return s


@pytest.mark.parametrize(
    ("topic", "retain", "problem"),
    [
        pytest.param(None, False, None, id="no-will"),
        pytest.param("sensor-01/status", True, None, id="own-topic-retained"),
        pytest.param("shared/status", False, None, id="shared-not-retained"),
        pytest.param("sensor-02/cmd", False, "'sensor-02/cmd' is outside its policy (iot:Publish)",
                     id="another-devices-topic"),
        pytest.param("shared/status", True,
                     "'shared/status' is outside its policy (iot:RetainPublish)",
                     id="retained-without-retain-publish"),
    ],
)  # fmt: skip
def test_the_last_will_is_checked_like_a_publish(
    topic: str | None, retain: bool, problem: str | None
) -> None:
    """A device set a retained Will on another device's topic; IoT Core checks iot:Publish (and
    iot:RetainPublish) on the Will topic, so the local broker refuses such a CONNECT."""
    found = will_problem(with_will(topic, retain), [_OWN_SUBTREE])
    assert (problem is None) == (found is None), found
    if problem is not None:
        assert problem in str(found)


# --- the stack's own client under --auth tokens (issue #21) ----------------------------------


def trusted_plugin(holders: dict[str, str]) -> tuple[TokenAuthPlugin, list[str], list[str]]:
    """A TokenAuthPlugin bound as the stack binds it, with a bindings table in `holders`
    (client id -> device holding it live); returns it, the client ids bound, the events sent."""
    plugin = TokenAuthPlugin(BrokerContext(broker=None))
    bound: list[str] = []
    events: list[str] = []

    def bind_trusted(client_id: str) -> str | None:
        if client_id in holders:
            return holders[client_id]
        bound.append(client_id)
        return None

    async def publish_event(topic: str, _document: dict[str, Any]) -> None:
        events.append(topic)

    plugin.bind(lambda _e: None, publish_event, "s3cret", bind_trusted)
    return plugin, bound, events


@pytest.mark.parametrize(
    ("client_id", "admitted", "bound"),
    [
        ("sim-01", True, ["sim-01"]),  # bound to the device sim-01: the router files it there
        ("ESP32", False, []),  # another device's live connection holds it: refused, as a device
        ("bad#id", False, []),  # no lifecycle events for '#': a binding that could never end
    ],
)
def test_the_stacks_own_client_is_bound_like_a_device(
    client_id: str, admitted: bool, bound: list[str]
) -> None:
    plugin, got_bound, events = trusted_plugin({"ESP32": "sensor-01"})
    first = FirstPacket(raw=b"", client_id=client_id, username=TRUSTED_USERNAME, password=b"s3cret")
    assert asyncio.run(plugin.admit(first, "127.0.0.1")) is admitted
    assert got_bound == bound
    failed = [] if admitted else [f"$aws/events/presence/connect_failed/{client_id}"]
    assert events == failed


def test_a_wrong_password_is_not_the_stacks_own_client() -> None:
    plugin, bound, _events = trusted_plugin({})
    first = FirstPacket(raw=b"", client_id="sim-01", username=TRUSTED_USERNAME, password=b"x")
    assert asyncio.run(plugin.admit(first, "127.0.0.1")) is False  # asked the authorizer: no
    assert bound == []


def test_failed_logins_back_off_per_client_id() -> None:
    """20 wrong tokens, then the right one was accepted at once (issue #23): now the right one
    waits out the back-off, and the authorizer is not asked meanwhile."""
    from mqtt_actions_cli.local.backoff import LoginBackoff

    now = [0.0]
    plugin = TokenAuthPlugin(BrokerContext(broker=None))
    plugin.backoff = LoginBackoff(clock=lambda: now[0])
    asked: list[str] = []
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})

    def authorize(event: dict[str, Any]) -> dict[str, Any]:
        password = base64.b64decode(event["protocolData"]["mqtt"]["password"]).decode()
        asked.append(password)
        return {
            "isAuthenticated": password == "right",
            "principalId": "Tesp32",
            "policyDocuments": [policy],
            "disconnectAfterInSeconds": 86400,
            "refreshAfterInSeconds": 300,
        }

    async def publish_event(_topic: str, _document: dict[str, Any]) -> None:
        return None

    plugin.bind(authorize, publish_event, None)

    def connect(password: str, client_id: str = "esp32-1") -> bool:
        first = FirstPacket(
            raw=b"", client_id=client_id, username="Token", password=password.encode()
        )
        return asyncio.run(plugin.admit(first, "127.0.0.1"))

    assert [connect(f"wrong-{n}") for n in range(20)] == [False] * 20
    assert len(asked) == 5  # 5 failures, then 1 s of back-off: the later ones not asked
    assert connect("right") is False  # backing off: refused without asking
    assert asked[-1] == "wrong-4"
    assert connect("right", client_id="esp32-2") is True  # another client id (same 127.0.0.1)
    now[0] += 2.0  # the 1 s back-off after the 5th failure has passed
    assert connect("right") is True
    assert connect("wrong-again") is False  # the success forgot the failures: asked again
    assert asked[-1] == "wrong-again"


def test_the_back_off_is_per_source_too_and_bounded() -> None:
    from mqtt_actions_cli.local.backoff import LoginBackoff

    now = [0.0]
    backoff = LoginBackoff(free=2, max_keys=100, clock=lambda: now[0])
    for n in range(3):  # three client ids, one source: the source backs off
        backoff.failed(f"id-{n}", "198.51.100.7")
    assert backoff.wait("id-new", "198.51.100.7") == pytest.approx(2.0)
    assert backoff.wait("id-new", "198.51.100.8") == 0.0
    assert backoff.wait("id-new", "127.0.0.1") == 0.0  # loopback is never a key
    for n in range(1000):  # a storm of made-up client ids
        backoff.failed(f"storm-{n}", "::1")
    assert len(backoff) == 100  # the least recently failed are forgotten
    now[0] += 601.0
    assert backoff.wait("storm-999", None) == 0.0  # forgotten 10 min after the last failure


@pytest.mark.parametrize(
    ("will", "admitted"), [("sensor-01/status", True), ("sensor-02/cmd", False)]
)
def test_a_connect_whose_will_is_outside_the_policy_is_refused(will: str, admitted: bool) -> None:
    """Through the plugin as the broker calls it (issue #23: a retained Will on another
    device's topic was accepted): the token is good, the Will decides."""

    def authorize(_event: dict[str, Any]) -> dict[str, Any]:
        return {
            "isAuthenticated": True,
            "principalId": "Tsensor01",
            "policyDocuments": [_OWN_SUBTREE],
            "disconnectAfterInSeconds": 86400,
            "refreshAfterInSeconds": 300,
        }

    events: list[str] = []

    async def publish_event(topic: str, _document: dict[str, Any]) -> None:
        events.append(topic)

    plugin = TokenAuthPlugin(BrokerContext(broker=None))
    plugin.bind(authorize, publish_event, None)
    assert asyncio.run(plugin.authenticate(session=with_will(will, retain=True))) is admitted
    assert events == ([] if admitted else ["$aws/events/presence/connect_failed/sensor-01"])
