"""The handlers' iot-data and Lambda calls reach the control API's own request handler in the
calling thread (local/in_process.py), while HTTP clients still reach it over the network: both
paths give the same answers, and a call to any other endpoint is left alone."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from mqtt_actions_cli.local.control import ControlServer, PublishRefusedError
from mqtt_actions_cli.local.in_process import InProcessControl
from mqtt_actions_cli.local.runtime import FunctionError, FunctionNotFoundError


class FakeStack:
    """The ControlApp protocol, recording each call and the thread that made it."""

    ready = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str]] = []

    def _seen(self, what: str, value: Any) -> None:
        self.calls.append((what, value, threading.current_thread().name))

    def outputs(self) -> dict[str, Any]:
        return {"MqttPort": 1883}

    def outbox(self) -> list[dict[str, Any]]:
        return []

    def invoke_sync(self, name: str, event: Any) -> Any:
        self._seen("sync", (name, event))
        if name == "Missing":
            raise FunctionNotFoundError(name, ["Echo"])
        if name == "Broken":
            raise FunctionError({"errorMessage": "boom", "errorType": "ValueError"})
        return {"echo": event}

    def invoke_async(self, name: str, event: Any) -> None:
        self._seen("async", (name, event))

    def iot_publish(
        self, topic: str, payload: bytes, qos: int, retain: bool, props: list[tuple[str, str]]
    ) -> None:
        if len(payload) > 10:
            raise PublishRefusedError("RequestEntityTooLargeException", "too big", 413)
        self._seen("publish", (topic, payload, qos, retain, props))

    def retained(self, topic: str) -> dict[str, Any] | None:
        return {"topic": topic, "payload": b"kept", "qos": 1} if topic == "r" else None

    def retained_topics(self) -> list[dict[str, Any]]:
        return [{"topic": "r", "payloadSize": 4, "qos": 1, "lastModifiedTime": 1_700_000_000_000}]

    def disconnect(self, client_id: str) -> bool:
        self._seen("disconnect", client_id)
        return client_id == "known"


@pytest.fixture
def control() -> Iterator[tuple[FakeStack, str, InProcessControl]]:
    app = FakeStack()
    server = ControlServer(app, "127.0.0.1", 0)
    server.start()
    url = f"http://127.0.0.1:{server.port}"
    hook = InProcessControl(server, url)
    hook.install()  # before the clients below are made: botocore reads BUILTIN_HANDLERS then
    try:
        yield app, url, hook
    finally:
        hook.uninstall()
        server.stop()


def _client(service: str, url: str) -> Any:
    return boto3.session.Session().client(  # type: ignore[call-overload]
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_iot_data_publish_is_answered_in_the_calling_thread(
    control: tuple[FakeStack, str, InProcessControl],
) -> None:
    app, url, hook = control
    props = [{"mqtt-actions-hops": "1"}]
    _client("iot-data", url).publish(
        topic="a/b c", qos=1, retain=True, payload=b"hi", userProperties=json.dumps(props)
    )
    assert hook.answered == 1
    assert app.calls == [
        ("publish", ("a/b c", b"hi", 1, True, [("mqtt-actions-hops", "1")]), "MainThread")
    ]


def test_refusals_and_missing_things_come_back_as_aws_errors(
    control: tuple[FakeStack, str, InProcessControl],
) -> None:
    _, url, _ = control
    iot, lam = _client("iot-data", url), _client("lambda", url)
    with pytest.raises(ClientError) as refused:
        iot.publish(topic="t", qos=1, payload=b"x" * 11)
    assert refused.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    with pytest.raises(ClientError) as bad_qos:
        iot.publish(topic="t", qos=2, payload=b"x")
    assert bad_qos.value.response["Error"]["Code"] == "InvalidRequestException"
    with pytest.raises(ClientError) as missing:
        lam.invoke(FunctionName="Missing", Payload=b"{}")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as no_retained:
        iot.get_retained_message(topic="none")
    assert no_retained.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_lambda_invoke_and_the_other_iot_data_calls_match_the_http_path(
    control: tuple[FakeStack, str, InProcessControl],
) -> None:
    app, url, hook = control
    lam, iot = _client("lambda", url), _client("iot-data", url)
    answer = lam.invoke(FunctionName="Echo", Payload=b'{"n": 1}')
    assert json.loads(answer["Payload"].read()) == {"echo": {"n": 1}}
    broken = lam.invoke(FunctionName="Broken", Payload=b"{}")
    assert broken["FunctionError"] == "Unhandled"
    assert json.loads(broken["Payload"].read())["errorMessage"] == "boom"
    assert lam.invoke(FunctionName="Echo", InvocationType="Event")["StatusCode"] == 202
    assert iot.get_retained_message(topic="r")["payload"] == b"kept"
    iot.delete_connection(clientId="known")
    assert hook.answered == 5
    assert [c[0] for c in app.calls] == ["sync", "sync", "async", "disconnect"]
    assert {c[2] for c in app.calls} == {"MainThread"}


def test_the_http_path_still_answers_and_other_endpoints_are_left_alone(
    control: tuple[FakeStack, str, InProcessControl],
) -> None:
    app, url, hook = control
    hook.uninstall()  # as a client in another process: over HTTP
    _client("iot-data", url).publish(topic="t", qos=0, payload=b"x")
    assert hook.answered == 0
    assert app.calls[0][0] == "publish"
    assert app.calls[0][2] != "MainThread"  # the control server's thread answered
    hook.install()
    request = type("Request", (), {"method": "POST", "url": "http://127.0.0.2:1/topics/t"})()
    assert hook(request) is None  # not the control API: botocore sends it as usual


def test_iot_data_list_retained_messages(
    control: tuple[FakeStack, str, InProcessControl],
) -> None:
    _, url, _ = control
    listed = _client("iot-data", url).list_retained_messages()
    assert listed["retainedTopics"] == [
        {"topic": "r", "payloadSize": 4, "qos": 1, "lastModifiedTime": 1_700_000_000_000}
    ]
    assert "nextToken" not in listed
