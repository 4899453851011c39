"""The Devices pages in chromium against `mqtt-actions local --auth tokens` (the broker asks the
token authorizer on every CONNECT): a token device created in the console (its token shown once,
copied), its token status and last use, revoked with confirmation; refused client ids listed
apart from the devices; messages an action published counted under the action; a device page's
own live feed; a CSV of tokens imported through the same operation as the CLI."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LocalStack, running_stack, wait_until
from tests.e2e.console.conftest import VIEWPORT, screenshot
from tests.support.mqtt_clients import TokenSession, token_session

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def token_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with running_stack(tmp_path_factory.mktemp("state"), "--fresh", "--auth", "tokens") as local:
        yield local


@dataclass
class Signed:
    page: Page
    base: str
    dialogs: list[str]
    errors: list[str]


@pytest.fixture
def signed(browser: Browser, token_stack: LocalStack) -> Iterator[Signed]:
    """A page of the tokens stack's console, signed in, recording dialogs and errors."""
    url = next(line.split()[1] for line in token_stack.lines if line.startswith("console  http"))
    base = url.split("/?")[0]
    context = browser.new_context(viewport=VIEWPORT)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(url)
    assert response is not None
    assert response.ok
    yield Signed(page, base, dialogs, errors)
    context.close()


def session(stack: LocalStack, client_id: str, token: str) -> TokenSession:
    return token_session(stack.host, stack.mqtt_port, client_id, token)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_in_console(signed: Signed, device: str) -> str:
    page = signed.page
    page.goto(f"{signed.base}/devices")
    form = page.locator("#new-token")
    form.get_by_label("Device name").fill(device)
    form.get_by_role("button", name="Create the token").click()
    token = page.locator("#token").inner_text().strip()
    assert len(token) >= 40
    return token


def test_a_token_made_in_the_console_is_shown_once_copied_and_lets_the_device_in(
    signed: Signed, token_stack: LocalStack
) -> None:
    page, device = signed.page, unique("console-tok")
    token = create_in_console(signed, device)
    expect(page.locator(".secret")).to_contain_text("shown once")
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-state")).to_have_text("copied")
    assert page.evaluate("navigator.clipboard.readText()") == token
    screenshot(page, "device-token")

    # The CLI sees the device the console made (the same operation, the same table).
    listed = token_stack.cli("devices", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert device in {d["device"] for d in json.loads(listed.stdout)}

    sensor = session(token_stack, f"{device}-esp", token)
    try:
        assert sensor.accepted, sensor.connack
        page.goto(f"{signed.base}/devices/{device}")
        status = page.locator("#token-status")
        expect(status.locator("#tokens")).to_contain_text("active")
        expect(status).to_contain_text(f"{device}-esp")  # connected now, with that client id
        expect(status.locator("#tokens")).not_to_contain_text("never")  # its last use
        assert token not in page.content()  # never shown again
        page.goto(f"{signed.base}/devices")
        assert token not in page.content()
        row = page.locator("#devices tr", has_text=device)
        expect(row).to_contain_text("1 active")
        expect(row).to_contain_text("last use")
    finally:
        sensor.close()
    assert signed.errors == []


def test_revoke_asks_first_closes_the_connection_and_the_next_connect_is_refused(
    signed: Signed, token_stack: LocalStack
) -> None:
    page, device = signed.page, unique("revoked")
    token = create_in_console(signed, device)
    sensor = session(token_stack, f"{device}-c1", token)
    assert sensor.accepted
    try:
        page.goto(f"{signed.base}/devices/{device}")
        page.get_by_role("button", name="Revoke this device's tokens").click()
        expect(page.locator(".notice")).to_contain_text(f"revoked 1 token(s) of {device}")
        assert any(f"Revoke every token of {device}?" in d for d in signed.dialogs)
        expect(page.locator("#tokens")).to_contain_text("revoked")
        assert sensor.disconnected.wait(15), "the live connection was not closed"
    finally:
        sensor.close()
    again = session(token_stack, f"{device}-c2", token)
    again.close()
    assert not again.accepted
    page.goto(f"{signed.base}/devices")
    refused = page.locator("#refused tr", has_text=f"{device}-c2")
    expect(refused).to_be_visible(timeout=15_000)
    expect(refused).to_contain_text("1")


def test_refused_client_ids_are_listed_apart_from_devices(
    signed: Signed, token_stack: LocalStack
) -> None:
    page, stranger = signed.page, unique("ESP32")
    refused = session(token_stack, stranger, "not-a-token-of-anyone-" + secrets.token_hex(8))
    refused.close()
    assert not refused.accepted
    page.goto(f"{signed.base}/devices")
    row = page.locator("#refused tr", has_text=stranger)
    wait_until(lambda: _reload_finds(page, row), f"{stranger} among the refused connections")
    expect(row).to_contain_text("AUTHORIZATION")  # the reason, as IoT Core names it
    expect(page.locator("#devices")).not_to_contain_text(stranger)
    assert page.locator("#known tr", has_text=stranger).count() == 0
    assert signed.errors == []


def _reload_finds(page: Page, locator: Any) -> bool:
    if locator.count():
        return True
    page.reload()
    return bool(locator.count())


def test_messages_an_action_published_are_counted_under_the_action(
    signed: Signed, token_stack: LocalStack, tmp_path: Path
) -> None:
    page, device, action = signed.page, unique("echoer"), unique("echo")
    file = tmp_path / "echo.yaml"
    file.write_text(
        f"actions: [{{id: {action}, topics: ['cmd/{device}'], type: mqtt_publish, "
        f"topic: 'ack/{device}', payload: 'ok $PAYLOAD$'}},\n"
        f"  {{id: {action}-store, topics: ['ack/{device}'], type: insert_bucket}}]\n",
        encoding="utf-8",
    )
    applied = token_stack.cli("actions", "apply", str(file))
    assert applied.returncode == 0, applied.stderr
    token = create_in_console(signed, device)
    sensor = session(token_stack, device, token)
    try:
        sensor.publish(f"cmd/{device}", "ping")
    finally:
        sensor.close()
    page.goto(f"{signed.base}/devices")
    row = page.locator("#by-stack tr", has_text=action)
    wait_until(lambda: _reload_finds(page, row), f"the messages of action {action}")
    expect(row).to_contain_text(f"action {action}")
    expect(page.locator("#devices")).not_to_contain_text("n/a")
    screenshot(page, "devices")
    row.get_by_role("link", name=action).click()
    expect(page.locator("h1")).to_contain_text(f"Edit action {action}")  # not a 404
    gone = page.goto(f"{signed.base}/devices/n/a")  # an old link: a page of the console's own
    assert gone is not None
    assert gone.status == 404
    expect(page.locator(".notice")).to_contain_text("no page at /devices/n/a")
    expect(page.get_by_role("navigation", name="Pages")).to_be_visible()
    page.goto(f"{signed.base}/live")
    live = page.locator("#rows tr", has_text=f"ack/{device}")
    expect(live.first).to_contain_text(f"action {action}", timeout=15_000)
    outcome = page.locator("#rows tr", has_text=f"{action}-store (insert_bucket)")
    expect(outcome.first).to_contain_text(f"action {action}")  # its outcomes too, not "n/a"
    assert [e for e in signed.errors if "404 (Not Found)" not in e] == []  # the one asked for


def test_a_device_page_shows_its_own_messages_live(signed: Signed, token_stack: LocalStack) -> None:
    page, device = signed.page, unique("feed")
    other = unique("other")
    token = create_in_console(signed, device)
    other_token = create_in_console(signed, other)
    page.goto(f"{signed.base}/devices/{device}")
    expect(page.locator("#feed-status")).to_have_text("live", timeout=10_000)
    page.evaluate("window.__sameDocument = true")
    sensor = session(token_stack, f"{device}-1", token)
    neighbour = session(token_stack, f"{other}-1", other_token)
    try:
        neighbour.publish(f"{other}/x", "not mine")
        sensor.publish(f"{device}/temperature", json.dumps({"variable": "t", "value": 21.5}))
        rows = page.locator("#feed-rows tr")
        expect(rows.filter(has_text=f"{device}/temperature")).to_contain_text(
            '"value": 21.5', timeout=30_000
        )
        expect(rows.filter(has_text="connect").first).to_be_visible()
        assert page.evaluate("window.__sameDocument") is True  # pushed, not reloaded
        assert rows.filter(has_text="not mine").count() == 0
        screenshot(page, "device-feed")
    finally:
        sensor.close()
        neighbour.close()
    assert signed.errors == []


def test_a_csv_of_tokens_is_imported_row_by_row(
    signed: Signed, token_stack: LocalStack, tmp_path: Path
) -> None:
    page = signed.page
    good, weak = unique("imported"), unique("weak")
    token = secrets.token_urlsafe(32)
    csv = tmp_path / "tago-tokens.csv"
    csv.write_text(f"device,token\n{good},{token}\n{weak},12345678\n", encoding="utf-8")
    page.goto(f"{signed.base}/devices")
    form = page.locator("#import-tokens")
    form.get_by_label("CSV file").set_input_files(str(csv))
    form.get_by_role("button", name="Import").click()
    expect(page.locator("#import-summary")).to_contain_text("0 of 2 rows of tago-tokens.csv")
    expect(page.locator("#import-rows tr", has_text=weak)).to_contain_text("refused")
    expect(page.locator("#import-rows tr", has_text=good)).to_contain_text("not imported")

    form.get_by_label("import the valid rows even if some are refused").check()
    form.get_by_role("button", name="Import").click()
    expect(page.locator("#import-summary")).to_contain_text("1 of 2 rows")
    expect(page.locator("#import-rows tr", has_text=good)).to_contain_text("imported")
    sensor = session(token_stack, f"{good}-fw", token)
    sensor.close()
    assert sensor.accepted  # the field device keeps its TagoIO token
