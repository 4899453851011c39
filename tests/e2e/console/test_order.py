"""What the inspector shows is in the order it happened, across a restart of the local stack and
across the client ids of one device: in the CLI, on the Live page and on the device page.

versionNumber counts per client id and (before) started again at 0 at each local start, so a
new run's connects sorted before the last run's, and a device's two client ids were ordered by
their unrelated counters."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from playwright.sync_api import BrowserContext

from tests.e2e.conftest import LocalStack, running_stack, wait_until
from tests.support.mqtt_clients import stop_loop

DEVICE = "meter-5"
PRESENCE = ("connect", "disconnect")


def visit(local: LocalStack, token: str, client_id: str) -> None:
    """A token device's client connects (username Token) and disconnects cleanly."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.username_pw_set("Token", token)
    accepted = threading.Event()
    client.on_connect = lambda *_a: accepted.set()
    client.connect(local.host, local.mqtt_port, keepalive=30)
    client.loop_start()
    assert accepted.wait(15), f"{client_id} was not let in"
    client.disconnect()
    stop_loop(client)


def cli_order(local: LocalStack) -> list[tuple[str, str]]:
    done = local.cli("inspect", "--device", DEVICE, "--type", "connect", "--type", "disconnect",
                     "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stdout.splitlines() if line]
    return [(e["details"]["client_id"], e["type"]) for e in entries]


def console_url(local: LocalStack) -> str:
    return next(line.split()[1] for line in local.lines if line.startswith("console  http"))


def test_order_holds_across_a_restart_and_two_client_ids(
    tmp_path: Path, context: BrowserContext
) -> None:
    with running_stack(tmp_path, "--auth", "tokens") as first:
        made = first.cli("devices", "create", DEVICE, "--token", "--json")
        assert made.returncode == 0, made.stderr
        token = json.loads(made.stdout)["token"]
        visit(first, token, "meter-5-a")
        visit(first, token, "meter-5-b")
        wait_until(lambda: len(cli_order(first)) == 4, "the first run's four events")

    with running_stack(tmp_path, "--auth", "tokens") as second:
        visit(second, token, "meter-5-a")
        visit(second, token, "meter-5-b")
        expected = [
            (client, kind)
            for client in ("meter-5-a", "meter-5-b", "meter-5-a", "meter-5-b")
            for kind in PRESENCE
        ]
        # CLI: oldest first
        wait_until(lambda: cli_order(second) == expected, f"CLI order {expected}")

        page = context.new_page()
        page.goto(console_url(second))
        # Live: newest on top
        page.goto(console_url(second).split("/?")[0] + "/live")
        script = """(device) => [...document.querySelectorAll('#rows tr')]
            .map((tr) => tr.entry)
            .filter((e) => e.device === device && ['connect', 'disconnect'].includes(e.type))
            .map((e) => [e.details.client_id, e.type])"""

        def live() -> list[Any]:
            return [tuple(row) for row in page.evaluate(script, DEVICE)]

        wait_until(lambda: live() == expected[::-1], f"Live order {expected[::-1]}")

        # The device page: its connection history, newest first, with each client id
        page.goto(console_url(second).split("/?")[0] + f"/devices/{DEVICE}")
        rows = page.locator("#history tbody tr")
        got = [
            (rows.nth(i).locator("td").nth(2).inner_text(), rows.nth(i).locator("td").nth(1)
             .inner_text())
            for i in range(rows.count())
        ]  # fmt: skip
        assert got == expected[::-1]
