"""A web page cannot drive the local stack (issue #23): the attacks, replayed against a running
`mqtt-actions local`, each refused, while boto3, the control API's own clients and the CLI keep
working. Before the guard, moto's server answered each of these with 200 and reflected the page's
Origin in Access-Control-Allow-Origin, and the control API ran the router for a text/plain POST.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import uuid
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import LocalStack

EVIL = "https://evil.example"
LIST_TABLES = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request,"
    " SignedHeaders=host, Signature=0",
}


def _send(
    url: str, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One raw request (http.client sends the Host we give, as a rebinding page's browser would)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host="Host" in headers)
        length = {"Content-Length": str(len(body))} if body or method == "POST" else {}
        for name, value in {**headers, **length}.items():
            connection.putheader(name, value)
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def _router_event(device: str) -> bytes:
    payload = json.dumps({"variable": "temperature", "value": 99}).encode()
    return json.dumps(
        {
            "payload": base64.b64encode(payload).decode(),
            "topic": "guard-attack/t",
            "clientid": device,
            "timestamp": 1,
            "traceid": str(uuid.uuid4()),
        }
    ).encode()


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"Origin": EVIL}, id="foreign-origin"),
        pytest.param({"Origin": EVIL, "Sec-Fetch-Site": "cross-site"}, id="browser-cross-site"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="cross-site-without-origin"),
    ],
)
def test_moto_refuses_a_web_page_and_reflects_no_origin(
    stack: LocalStack, extra: dict[str, str]
) -> None:
    status, headers, body = _send(stack.aws_url, "POST", "/", LIST_TABLES | extra, b"{}")
    assert status == 403, body
    assert "access-control-allow-origin" not in headers
    assert b"TableNames" not in body


def test_moto_answers_no_cors_preflight(stack: LocalStack) -> None:
    preflight = {
        "Origin": EVIL,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-amz-target",
    }
    status, headers, _ = _send(stack.aws_url, "OPTIONS", "/", preflight)
    assert status == 403
    assert not [h for h in headers if h.startswith("access-control-")]


@pytest.mark.parametrize(
    ("endpoint", "method", "path", "headers"),
    [("aws_url", "POST", "/", LIST_TABLES), ("control_url", "GET", "/outputs", {})],
)
def test_a_dns_rebinding_host_is_refused(
    stack: LocalStack, endpoint: str, method: str, path: str, headers: dict[str, str]
) -> None:
    url = getattr(stack, endpoint)
    rebound = headers | {"Host": f"evil.example:{urlsplit(url).port}"}
    status, _, body = _send(url, method, path, rebound, b"{}" if method == "POST" else b"")
    assert status == 421, body
    assert b"TableNames" not in body
    assert b"ActionsTableName" not in body


def test_a_text_plain_post_from_a_page_cannot_run_the_router(stack: LocalStack) -> None:
    """The CSRF of the report: a form-like text/plain POST to /invoke/RouterFunction stored data
    in another device's bucket."""
    stack.apply('actions: [{id: guard-store, topics: ["guard-attack/#"], type: insert_bucket}]')
    device = f"victim-{uuid.uuid4().hex[:8]}"
    headers = {"Content-Type": "text/plain", "Origin": EVIL, "Sec-Fetch-Site": "cross-site"}
    status, _, body = _send(
        stack.control_url, "POST", "/invoke/RouterFunction", headers, _router_event(device)
    )
    assert status == 403, body
    assert stack.bucket(device) == []
    # The same request from a local tool (no Origin) still runs: the guard is about browsers.
    status, _, body = _send(
        stack.control_url, "POST", "/invoke/RouterFunction", {"Content-Type": "application/json"},
        _router_event(device),
    )  # fmt: skip
    assert status == 200, body
    assert [r["value"] for r in stack.bucket(device)] == [99]


def test_the_clients_keep_working(stack: LocalStack) -> None:
    assert stack.outputs["ActionsTableName"] in stack.client("dynamodb").list_tables()["TableNames"]
    assert stack.get("/health")["ready"] is True
    localhost = stack.aws_url.replace("127.0.0.1", "localhost")
    status, _, body = _send(localhost, "POST", "/", LIST_TABLES, b"{}")
    assert status == 200, body


def _console_url(stack: LocalStack) -> str:
    found = next(
        (m for line in stack.lines if (m := re.search(r"console\s+(http://\S+)", line))), None
    )
    assert found is not None, "\n".join(stack.lines[-40:])
    return found.group(1)


def test_the_console_refuses_a_foreign_host_and_origin(stack: LocalStack) -> None:
    url = _console_url(stack)
    port = urlsplit(url).port
    status, _, _ = _send(url, "GET", "/", {"Host": f"evil.example:{port}"})
    assert status == 421
    status, _, _ = _send(
        url, "POST", "/actions/apply", {"Origin": EVIL, "Content-Type": "text/plain"}
    )
    assert status in (401, 403)


def test_a_websocket_request_to_the_console_gets_a_clean_refusal(stack: LocalStack) -> None:
    """It answered 500 with a traceback in the stack's log (the guard sent an HTTP answer on a
    websocket scope)."""
    url = _console_url(stack)
    port = urlsplit(url).port
    before = len(stack.lines)
    upgrade = {
        "Host": f"127.0.0.1:{port}",
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(b"0123456789abcdef").decode(),
    }
    status, _, _ = _send(url, "GET", "/live", upgrade)
    assert 400 <= status < 500, status
    assert not [line for line in stack.lines[before:] if "Traceback" in line]
