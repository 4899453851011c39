"""`bucket query`, `inspect` and `actions list` on the local stack are answered by the stack
(POST /ops/..., reads.py): the command's process imports no boto3, botocore, moto or pydantic,
and prints what it printed when it read moto with boto3 itself, byte for byte. Each case runs
the command both ways on the same stack and data and compares stdout, stderr and the exit code;
then as a user runs it, in a fresh interpreter, and lists what that imported."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from mqtt_actions_cli.errors import CliError, NotFoundError, UsageError
from mqtt_actions_cli.main import main
from mqtt_actions_cli.ops import bucket
from mqtt_actions_cli.reads import bucket_page
from mqtt_actions_cli.target import ControlApi, Target, local_target
from tests.e2e.conftest import ROOT, Client, LocalStack, wait_until
from tests.e2e.test_local_http_guard import EVIL, _send
from tests.integration.cli_support import free_port
from tests.support.mqtt_clients import stop_loop

HEAVY = ("boto3", "botocore", "moto", "pydantic", "pydantic_core", "yaml", "amqtt", "paho")
DEVICE = f"reads-{uuid.uuid4().hex[:8]}"
ACTIONS = f"""
actions:
  - {{id: reads-store, name: "Stored — °C", topics: ["reads/{DEVICE}/#"], type: insert_bucket}}
  - id: reads-hot
    topics: ["reads/{DEVICE}/+", "reads/other/#"]
    when: [{{variable: temperature, op: ">", value: 30}}, {{variable: door, op: exists}}]
    type: sms
    to: ["+15555550100"]
    message: "$TOPIC$ = $VALUE$$UNIT$"
  - id: reads-limited
    topics: ["reads/{DEVICE}/alarm"]
    rate_limit: {{max: 5, per_seconds: 60}}
    type: webhook
    url: "https://hooks.example.com/in"
    headers: {{X-Key: abc}}
    enabled: false
"""
PAYLOADS: list[str | bytes] = [
    json.dumps({"variable": "temperature", "value": 21.5, "unit": "°C"}),
    json.dumps([{"variable": "humidity", "value": 40}, {"variable": "door", "value": "open"}]),
    "plain text, not JSON",
    b"\x00\xff\x10binary",
    json.dumps({"variable": "temperature", "value": 31, "metadata": {"room": "kitchen"}}),
]
PROBE = """
import contextlib, io, json, sys
from mqtt_actions_cli.main import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = main(json.loads(sys.argv[1]))
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))
print(json.dumps({"code": code, "out": out.getvalue(), "err": err.getvalue(), "heavy": heavy}))
"""


@pytest.fixture(scope="module")
def data(stack: LocalStack) -> Iterator[str]:
    """Actions, bucket rows (JSON with units, a list, raw text, binary) and inspector entries
    (connect, subscribe, publishes, outcomes) of one device; its id."""
    stack.apply(ACTIONS)
    paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=DEVICE)
    connected = threading.Event()
    paho.on_connect = lambda *_: connected.set()
    paho.connect(stack.host, stack.mqtt_port, keepalive=30)
    paho.loop_start()
    try:
        assert connected.wait(10), f"{DEVICE} did not connect"
        client = Client(paho)
        client.subscribe(f"reads/{DEVICE}/echo")
        for payload in PAYLOADS:
            client.publish(f"reads/{DEVICE}/data", payload)
        wait_until(lambda: len(stack.bucket(DEVICE)) >= 6, "the rows of every publish")
        wait_until(
            lambda: (
                _read(stack, ["inspect", "--device", DEVICE, "--type", "action"])[1].count("\n")
                > len(PAYLOADS)
            ),
            "the action outcomes in the inspector",
        )
        yield DEVICE
    finally:
        paho.disconnect()
        stop_loop(paho)


def _target(stack: LocalStack, *, through_control: bool) -> Target:
    target = local_target({"MQTT_ACTIONS_CONTROL_PORT": stack.control_url.rsplit(":", 1)[1]})
    if through_control:

        def no_boto3(service: str) -> Any:
            raise AssertionError(f"the control-API path built a {service} client")

        target._client_factory = no_boto3
    else:
        target.control = None  # reads.py then runs the ops function here, with boto3
    return target


def _read(
    stack: LocalStack, argv: list[str], *, through_control: bool = True
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `mqtt-actions ARGV`, run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv, target_factory=lambda _: _target(stack, through_control=through_control))
    return code, out.getvalue(), err.getvalue()


CASES = [
    ["bucket", "query", "{device}"],
    ["bucket", "query", "{device}", "--json"],
    ["bucket", "query", "{device}", "--variable", "temperature", "--limit", "1"],
    ["bucket", "query", "{device}", "--since", "1h", "--until", "2999-01-01T00:00:00Z", "--json"],
    ["bucket", "query", "{device}", "--variable", "nothing-stored"],
    ["bucket", "query", "never-published-here", "--json"],
    ["inspect", "--device", "{device}", "--since", "1h"],
    ["inspect", "--device", "{device}", "--json"],
    ["inspect", "--device", "{device}", "--type", "action", "--type", "publish", "--limit", "3"],
    ["inspect", "--device", "{device}", "--since", "2999-01-01T00:00:00Z"],
    ["inspect", "--device", "never-connected-here", "--since", "1m"],
    ["actions", "list"],
    ["actions", "list", "--json"],
]


@pytest.mark.parametrize("case", CASES, ids=" ".join)
def test_a_read_through_the_control_api_prints_what_boto3_printed(
    stack: LocalStack, data: str, case: list[str]
) -> None:
    argv = [word.format(device=data) for word in case]
    through_control = _read(stack, argv)
    with_boto3 = _read(stack, argv, through_control=False)
    assert through_control == with_boto3
    code, out, err = through_control
    assert code == 0, err
    assert out or err  # a table, JSON, or the "nothing found" line


@pytest.mark.parametrize(
    "case",
    [["bucket", "query", "{device}"], ["inspect", "--since", "1m"], ["actions", "list", "--json"]],
    ids=" ".join,
)
def test_a_read_run_as_a_user_imports_no_boto3_nor_pydantic(
    stack: LocalStack, data: str, case: list[str]
) -> None:
    argv = [word.format(device=data) for word in case]
    env = {
        "PYTHONPATH": ":".join(str(ROOT / p) for p in ("cli", "layers/core", ".")),
        "MQTT_ACTIONS_CONTROL_PORT": stack.control_url.rsplit(":", 1)[1],
        "PATH": "/usr/bin:/bin",
    }
    probe = [sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)]
    done = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603
    assert done.returncode == 0, done.stderr
    ran = json.loads(done.stdout)
    assert ran["code"] == 0, ran["err"]
    assert ran["heavy"] == [], f"`mqtt-actions {' '.join(argv)}` imported {ran['heavy']}"
    if case[0] != "inspect":  # inspect --since 1m without --device: other tests' entries come
        assert ran["out"] == _read(stack, argv, through_control=False)[1]


def test_an_operations_error_comes_back_word_for_word(stack: LocalStack, data: str) -> None:
    """The ops function's own UsageError (the CLI checks --limit first; other callers may not)."""
    with pytest.raises(UsageError) as direct:
        bucket.query(_target(stack, through_control=False), data, limit=0)
    with pytest.raises(UsageError) as answered:
        bucket_page(
            _target(stack, through_control=True),
            data,
            variable=None,
            since_ms=None,
            until_ms=None,
            limit=0,
        )
    assert (answered.value.message, answered.value.hint) == (
        direct.value.message,
        direct.value.hint,
    )
    assert type(answered.value) is type(direct.value)


def test_bad_requests_are_refused_with_the_field_named(stack: LocalStack) -> None:
    api = ControlApi(int(stack.control_url.rsplit(":", 1)[1]))
    with pytest.raises(NotFoundError, match=r"no operation 'bucket\.delete'"):
        api.read("bucket.delete", {})
    with pytest.raises(UsageError, match="device must be a non-empty string"):
        api.read("bucket.query", {"device": 7})
    with pytest.raises(UsageError, match="limit must be a whole number"):
        api.read("inspector.query", {"limit": "ten"})
    with pytest.raises(UsageError, match="types must be a list"):
        api.read("inspector.query", {"types": "action"})


@pytest.mark.parametrize(
    "headers",
    [{"Host": "evil.example"}, {"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["foreign Host", "foreign Origin", "cross-site fetch"],
)
def test_a_web_page_cannot_read_through_the_ops_routes(
    stack: LocalStack, headers: dict[str, str]
) -> None:
    port = stack.control_url.rsplit(":", 1)[1]
    sent = {"Host": f"127.0.0.1:{port}", "Content-Type": "text/plain", **headers}
    status, _, body = _send(stack.control_url, "POST", "/ops/actions.list", sent, b"{}")
    assert status in (403, 421), body
    assert b"actions" not in body


def test_no_stack_on_the_port_is_said_as_before() -> None:
    port = free_port()
    with pytest.raises(CliError, match=f"no local stack on 127.0.0.1:{port}"):
        ControlApi(port).read("actions.list", {})
