"""A TagoIO account through the local stack. Its actions: the sample export is converted, the
file applied with the project's own loader, and one MQTT message per converted action makes each
fire (bucket rows, outbox, a republished message, a webhook call, an analysis's publish), each
outcome read back from the inspector. Its analyses: the ported sample `tagoio_port` runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions_cli.main import main
from mqtt_actions_cli.tagoio_import import NOT_CONVERTED, convert, parse_export, to_yaml
from tests.e2e.conftest import Client, LocalStack, wait_until
from tests.support.webhook import Hook

pytestmark = pytest.mark.e2e

Connect = Callable[[str], Client]
EXPORT = Path(__file__).resolve().parents[1] / "data" / "tagoio_actions_export.json"
FORWARD_ID = "6470f2a1c72f2f00181d0001"  # the TagoIO analysis ported as `forward`

# device -> (topic, payload): one message for each converted action of the sample export
MESSAGES = {
    "tg-store": ("tago/kitchen/temperature", {"variable": "temperature", "value": 21}),
    "tg-alarm": ("tago/alarm/door", {"variable": "door", "value": "open"}),
    "tg-hot": ("tago/oven/hot", {"variable": "temp", "value": 250}),
    "tg-cmd": ("tago/cmd/reboot", "go"),
    "tg-crm": ("tago/crm/lead", {"variable": "lead", "value": 1}),
    "tg-f": ("tago/fahrenheit/boiler", {"variable": "temperature_f", "value": 212}),
    "tg-pressure": ("tago/tank/pressure", {"variable": "pressure", "value": 3, "unit": "bar"}),
    "tg-door": ("tago/door/front", {"variable": "door", "value": "open"}),
    "tg-humid": ("tago/room/humidity", {"variable": "humidity", "value": 40}),
}


def convert_and_apply(
    stack: LocalStack, tmp_path: Path, webhook_url: str, monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, Any]]:
    """The sample export, its post action pointed at the local receiver, through the two
    commands a user runs: `actions import-tagoio`, then `actions apply --local`."""
    items = parse_export(EXPORT.read_text(encoding="utf-8"))
    for item in items:
        assert isinstance(item, dict)
        if item["action"].get("type") == "post":
            item["action"]["url"] = webhook_url
    export, out = tmp_path / "tagoio-actions.json", tmp_path / "actions.yaml"
    export.write_text(json.dumps({"status": True, "result": items}), encoding="utf-8")
    imported = ["actions", "import-tagoio", str(export), "-o", str(out)]
    assert main([*imported, "--analysis-map", f"{FORWARD_ID}=forward"]) == 0
    monkeypatch.setenv("MQTT_ACTIONS_CONTROL_PORT", str(urlsplit(stack.control_url).port))
    assert main(["actions", "apply", str(out), "--local"]) == 0
    result = convert(items, {FORWARD_ID: "forward"})
    assert sum(r.status != NOT_CONVERTED for r in result.rows) == 9
    assert to_yaml(result, str(export), str(out)) == out.read_text(encoding="utf-8")
    return result.actions


def test_each_converted_tagoio_action_fires_in_the_local_stack(
    stack: LocalStack,
    connect: Connect,
    webhook: Hook,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    actions = convert_and_apply(stack, tmp_path, webhook.url, monkeypatch)
    by_id = {a["id"]: a for a in actions}
    assert by_id["store-temperatures-2"]["enabled"] is False

    listener = connect("tg-listener")
    listener.subscribe("tago/ack/#")
    dashboard = connect("tg-dashboard")
    dashboard.subscribe("processed/tg-f/#")
    for device, (topic, payload) in MESSAGES.items():
        body = payload if isinstance(payload, str) else json.dumps(payload)
        connect(device).publish(topic, body)

    # insert_bucket (TagoIO: store in the device's bucket)
    rows = wait_until(lambda: stack.bucket("tg-store", "temperature"), "the bucket row")
    assert rows[0]["value"] == 21
    # email, its TagoIO 'to' split and `$device$` fixed
    mails = wait_until(
        lambda: [m for m in stack.outbox("email") if m["subject"] == "Alarm on tg-alarm"],
        "the alarm e-mail",
    )
    assert mails[0]["to"] == ["ops@example.com", "Oncall@Example.com"]
    assert mails[0]["text"].startswith("door = open at ")
    # sms, the number written in E.164
    texts = wait_until(
        lambda: [s for s in stack.outbox("sms") if s["to"] == "+15555550100"], "the hot SMS"
    )
    assert "tg-hot is hot: 250" in [s["message"] for s in texts]
    # mqtt_publish
    (ack,) = listener.messages(1)
    assert (ack.topic, ack.payload) == ("tago/ack/tg-cmd", b"go")
    # webhook, headers kept
    request = wait_until(lambda: webhook.requests, "the webhook call")[0]
    assert request["headers"]["X-Api-Key"] == "change-me"
    # run_analysis -> the ported `forward` analysis publishes its result
    (celsius,) = dashboard.messages(1)
    assert celsius.topic == "processed/tg-f/temperature_c"
    assert json.loads(celsius.payload)["value"] == 100
    # sms-twilio -> sms; email-sendgrid -> email (no subject in TagoIO: the action's name)
    pressure = wait_until(
        lambda: [s for s in stack.outbox("sms") if s["to"] == "+15555550111"], "the pressure SMS"
    )
    assert pressure[0]["message"] == "tg-pressure pressure 3bar (serie $SERIE$)"
    door = wait_until(
        lambda: [m for m in stack.outbox("email") if m["to"] == ["security@example.com"]],
        "the door e-mail",
    )
    assert door[0]["subject"] == "6523f0a1c72f2f00181d8b18"

    # Every enabled converted action ran to `done`, as the inspector recorded it.
    inspector = DynamoInspector(stack.outputs["InspectorTableName"], stack.client("dynamodb"), 1)
    enabled = {a["id"] for a in actions if a.get("enabled", True)}

    def outcomes() -> dict[str, str] | None:
        found = {
            e.details["action_id"]: e.details["outcome"]
            for device in MESSAGES
            for e in inspector.query(device=device, types=["action"])
        }
        return found if enabled <= set(found) else None

    done = wait_until(outcomes, "an inspector outcome for every converted action")
    assert {i: done[i] for i in enabled} == dict.fromkeys(enabled, "done")
    assert "store-temperatures-2" not in done  # active: false in TagoIO -> enabled: false
    assert stack.bucket("tg-humid") == []


def test_the_ported_tagoio_analysis_publishes_and_emails_through_the_local_stack(
    stack: LocalStack, connect: Connect
) -> None:
    stack.apply("""
actions:
  - id: e2e-tagoio-port
    topics: ["tagoport/+/temperature"]
    type: run_analysis
    analyses: [tagoio_port]
    environment: {email: tagoio-port@example.com}
""")
    dashboard = connect("tagoport-dashboard")
    dashboard.subscribe("alerts/dev-tagoport/#")
    device = connect("dev-tagoport")
    device.publish(
        "tagoport/oven/temperature", json.dumps({"variable": "temperature", "value": 20})
    )
    device.publish(
        "tagoport/oven/temperature",
        json.dumps({"variable": "temperature", "value": 35.5, "unit": "°C"}),
    )

    (alert,) = dashboard.messages(1)  # 20 is not above the template's threshold of 30
    assert alert.topic == "alerts/dev-tagoport/temperature"
    assert json.loads(alert.payload) == {
        "variable": "temperature_alert",
        "value": 35.5,
        "unit": "°C",
        "threshold": 30.0,
    }
    (mail,) = wait_until(
        lambda: [m for m in stack.outbox("email") if m["to"] == ["tagoio-port@example.com"]],
        "the ported analysis's e-mail",
    )
    assert mail["subject"] == "dev-tagoport: temperature above 30"
    assert mail["text"] == "dev-tagoport reported temperature = 35.5°C, above 30."
    inspector = DynamoInspector(stack.outputs["InspectorTableName"], stack.client("dynamodb"), 1)

    def runs() -> list[Any] | None:
        found = [
            e
            for e in inspector.query(device="dev-tagoport", types=["action"])
            if e.details["action_type"] == "analysis"
        ]
        return found if len(found) == 2 else None

    assert {e.details["outcome"] for e in wait_until(runs, "two tagoio_port runs")} == {"done"}
