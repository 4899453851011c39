"""The console against a deployed stack (`mqtt-actions console --stack NAME`): moto's server
stands in for AWS, a CloudFormation stack in it names the tables and queue by its outputs, and
every page is requested over HTTP as a browser would (cookie, CSRF token)."""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions.inspector import EntryType, InspectorEntry
from mqtt_actions_cli.cfn import LocalNames, create_queues, create_tables, load_template
from mqtt_actions_cli.console.server import ConsoleServer
from mqtt_actions_cli.target import stack_target
from tests.integration.cli_support import free_port

# moto's server and the console on real sockets: ~15 s, so `make quick` leaves it to `make test`.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

STACK = "mqtt-actions-prod"
REGION = "us-east-1"


@dataclass
class Served:
    server: ConsoleServer
    tables: dict[str, str]
    endpoint: str

    def request(
        self, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
    ) -> tuple[int, str]:
        address = self.server.address
        connection = http.client.HTTPConnection(address.host, address.port, timeout=30)
        sent = {"Cookie": f"mqtt_actions_console={address.token}", **(headers or {})}
        try:
            connection.request(method, path, body=body or None, headers=sent)
            response = connection.getresponse()
            return response.status, response.read().decode("utf-8")
        finally:
            connection.close()

    def first_events(self, path: str, count: int) -> list[tuple[str, Any]]:
        """The first `count` Server-Sent Events of a stream: (event name, JSON data)."""
        address = self.server.address
        connection = http.client.HTTPConnection(address.host, address.port, timeout=30)
        try:
            cookie = {"Cookie": f"mqtt_actions_console={address.token}"}
            connection.request("GET", path, headers=cookie)
            response = connection.getresponse()
            assert response.status == 200
            events: list[tuple[str, Any]] = []
            name = ""
            for _ in range(1000):  # lines; bounded
                line = response.readline().decode("utf-8").rstrip("\n")
                if line.startswith("event: "):
                    name = line[len("event: ") :]
                elif line.startswith("data: "):
                    events.append((name, json.loads(line[len("data: ") :])))
                    if len(events) == count:
                        return events
            raise AssertionError(f"fewer than {count} events: {events}")
        finally:
            connection.close()

    def post(self, path: str, fields: dict[str, str]) -> tuple[int, str]:
        _status, page = self.request("GET", "/actions")
        csrf = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', page)
        assert csrf is not None, page[:500]
        return self.request(
            "POST",
            path,
            urllib.parse.urlencode(fields),
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-CSRF-Token": csrf.group(1),
                "Origin": self.server.address.base,
            },
        )


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    try:
        template = load_template()
        # moto's server keeps its backends for the process: each test gets its own names.
        stack = f"{STACK}-{uuid.uuid4().hex[:8]}"
        names = LocalNames(prefix=f"{stack}-")
        tables = create_tables(template, boto3.client("dynamodb", region_name=REGION), names)
        queues = create_queues(template, boto3.client("sqs", region_name=REGION), names)
        outputs = {
            "BucketTableName": tables["BucketTable"],
            "ActionsTableName": tables["ActionsTable"],
            "InspectorTableName": tables["InspectorTable"],
            "DeviceTokensTableName": tables["DeviceTokensTable"],
            "DevicesTableName": tables["DevicesTable"],
            "DeadLetterQueueUrl": queues["DeadLetterQueue"],
            "RouterFunctionName": "prod-RouterFunction",
        }
        body = {
            "Resources": {"Nothing": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {k: {"Value": v} for k, v in outputs.items()},
        }
        boto3.client("cloudformation", region_name=REGION).create_stack(
            StackName=stack, TemplateBody=json.dumps(body)
        )
        server = ConsoleServer(stack_target(stack, REGION))
        server.start()
        try:
            yield Served(server, tables, endpoint)
        finally:
            server.stop()
    finally:
        moto.stop()


def test_every_page_answers_for_a_deployed_stack(served: Served) -> None:
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    log = DynamoInspector(served.tables["InspectorTable"], dynamodb, 7)
    import time

    now = int(time.time() * 1000)
    log.write(
        [
            InspectorEntry(device="s1", type=EntryType.CONNECT, time=now - 5, uid="c1"),
            InspectorEntry(
                device="s1",
                type=EntryType.PUBLISH,
                time=now,
                uid="p1",
                traceid="p1",
                details={"topic": "home/k/temperature", "preview": "<b>21</b>", "size": 9},
            ),
        ]
    )
    for path in ("/live", "/topics", "/actions", "/devices", "/devices/s1", "/dlq", "/publish"):
        status, page = served.request("GET", path)
        assert status == 200, (path, page[:300])
        assert f"stack &#39;{STACK}-" in page
    topic_page = served.request("GET", "/topics/view?topic=home/k/temperature")[1]
    assert "<b>21</b>" not in topic_page
    assert "&lt;b&gt;21&lt;/b&gt;" in topic_page
    events = served.first_events("/topics/stream", 2)
    assert events[0][0] == "messages"
    assert [(m["topic"], m["preview"]) for m in events[0][1]] == [
        ("home/k/temperature", "<b>21</b>")  # JSON: the page writes it with textContent
    ]
    # moto's iot-data has no ListRetainedMessages: the page is told once, the messages go on.
    assert events[1][0] == "problem"
    assert events[1][1]["error"].startswith("retained messages cannot be listed: ")
    status, page = served.request("GET", "/outbox")
    assert status == 400
    assert "outbox is for the local stack" in page
    status, page = served.request("GET", f"/live/entry?device=s1&time={now}&uid=p1&traceid=p1")
    assert status == 200
    assert "&lt;b&gt;21&lt;/b&gt;" in page


def test_actions_are_saved_and_toggled_on_the_stack(served: Served) -> None:
    status, page = served.post(
        "/actions/save",
        {"type": "insert_bucket", "id": "store", "topics": "home/+/temperature", "enabled": "on"},
    )
    assert status == 303, page[:500]
    status, _ = served.post("/actions/store/enabled", {"enabled": "false"})
    assert status == 200
    stored = boto3.client("dynamodb", region_name=REGION).scan(
        TableName=served.tables["ActionsTable"]
    )["Items"]
    assert [json.loads(i["config"]["S"])["enabled"] for i in stored] == [False]
    status, page = served.post("/actions/save", {"type": "sms", "id": "x", "topics": "a"})
    assert status == 400
    assert "field-problems" in page


def test_the_live_stream_reads_the_stacks_inspector(served: Served) -> None:
    import time

    log = DynamoInspector(
        served.tables["InspectorTable"], boto3.client("dynamodb", region_name=REGION), 7
    )
    log.write(
        [
            InspectorEntry(
                device="s9", type=EntryType.CONNECT, time=int(time.time() * 1000), uid="c9"
            )
        ]
    )
    address = served.server.address
    connection = http.client.HTTPConnection(address.host, address.port, timeout=30)
    connection.request(
        "GET", "/live/stream", headers={"Cookie": f"mqtt_actions_console={address.token}"}
    )
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("content-type", "").startswith("text/event-stream")
    data = ""
    for _ in range(20):
        line = response.readline().decode()
        if line.startswith("data: "):
            data = line
            break
    connection.close()
    assert json.loads(data.removeprefix("data: "))[0]["device"] == "s9"


def test_publish_asks_the_accounts_iot_data_endpoint(served: Served) -> None:
    """On a stack, publish goes to the account's own iot:Data-ATS endpoint (which moto's server
    names but does not serve): the page says which endpoint it could not reach, as a 502.
    The publish itself through iot-data is tested in test_cli_publish (the same ops call)."""
    status, page = served.post("/publish", {"topic": "cmd/valve", "payload": "close", "qos": "1"})
    assert status == 502, page[page.find("<main") :]
    assert re.search(r"cannot reach https://[a-z0-9]+-ats\.iot\.us-east-1\.amazonaws\.com/", page)
    status, page = served.post("/publish", {"topic": "cmd/#", "payload": "x", "qos": "1"})
    assert status == 400
    assert "TOPIC &#39;cmd/#&#39;" in page


def test_the_device_page_shows_its_payload_parser_and_last_errors(served: Served) -> None:
    import time

    from mqtt_actions.adapters.device_profiles import DynamoDeviceProfiles
    from mqtt_actions.device_profiles import DeviceProfile
    from mqtt_actions.parsers import Parser
    from mqtt_actions.parsers.registry import parser_settings

    dynamodb = boto3.client("dynamodb", region_name=REGION)
    js = Parser("javascript", 'payload = payload.filter((x) => x.variable !== "<rssi>");', "f.js")
    extra = {k: v for k, v in parser_settings(js).items() if v is not None}
    DynamoDeviceProfiles(served.tables["DevicesTable"], dynamodb).put(
        DeviceProfile("s2", extra=extra)
    )
    now = int(time.time() * 1000)
    DynamoInspector(served.tables["InspectorTable"], dynamodb, 7).write(
        [
            InspectorEntry(
                device="s2",
                type=EntryType.ACTION,
                time=now,
                uid="t1#payload_parser#failed",
                traceid="t1",
                details={
                    "topic": "home/s2",
                    "action_id": "payload_parser",
                    "action_type": "payload_parser",
                    "outcome": "failed",
                    "reason": "payload parser f.js (javascript) failed: Error: <bad> frame",
                    "detail": {"logs": ["saw <0109>"]},
                },
            )
        ]
    )

    status, page = served.request("GET", "/devices/s2")

    assert status == 200, page[:300]
    assert "<code>f.js (javascript)</code> runs on this device" in page
    assert "x.variable !== &#34;&lt;rssi&gt;&#34;" in page  # the code, as text
    assert "Error: &lt;bad&gt; frame" in page
    assert "<code>saw &lt;0109&gt;</code>" in page
    _status, other = served.request("GET", "/devices/s1")
    assert "no parser errors recorded" in other
    assert "none: this device" in other
