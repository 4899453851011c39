"""The Dead letters page in a real browser (chromium): each dead letter's reason and original
payload (text, JSON, or bytes as hex and base64 with their length), discarding one or all after
a confirmation, and a refused confirmation changing nothing."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.console.conftest import Console, Watched, screenshot

pytestmark = pytest.mark.e2e

BINARY = bytes([0x00, 0xFF, 0x10, 0x80, 0x7F, 0xC3, 0x28])  # not UTF-8, not text


def put(console: Console, payload: bytes, reason: str) -> str:
    """A router dead letter (an action failed) holding `payload`; returns its action id."""
    action = f"dl-{uuid.uuid4().hex[:8]}"
    event = {
        "payload": base64.b64encode(payload).decode(),
        "topic": f"{action}/level",
        "clientid": f"dev-{action}",
        "timestamp": int(time.time() * 1000),
        "traceid": str(uuid.uuid4()),
    }
    record = {"kind": "action_failed", "action_id": action, "reason": reason, "event": event}
    console.stack.client("sqs").send_message(
        QueueUrl=console.stack.outputs["DeadLetterQueueUrl"], MessageBody=json.dumps(record)
    )
    return action


def row(page: Any, action: str) -> Any:
    return page.locator("#letters tr", has_text=action)


def test_each_dead_letter_shows_its_reason_and_payload(watched: Watched, console: Console) -> None:
    page = watched.page
    text = put(console, b'{"variable": "level", "value": 7}', "webhook failed: HTTP 503")
    binary = put(console, BINARY, "sms refused: no such number")
    page.goto(f"{console.base}/dlq")
    expect(row(page, text)).to_contain_text("webhook failed: HTTP 503")
    expect(row(page, binary)).to_contain_text("sms refused: no such number")
    expect(row(page, binary).locator("summary")).to_contain_text(
        f"Payload ({len(BINARY)} B, binary)"
    )

    row(page, text).locator("summary").click()
    shown = row(page, text).locator("pre")
    expect(shown).to_contain_text('"variable": "level"')
    expect(shown).to_contain_text('"value": 7')

    row(page, binary).locator("summary").click()
    details = row(page, binary).locator("details")
    expect(details).to_contain_text(f"{len(BINARY)} B, not text")
    expect(details.locator("pre.hex")).to_contain_text("00 ff 10 80 7f c3 28")
    expect(details.locator("pre").last).to_have_text(base64.b64encode(BINARY).decode())
    assert "\ufffd" not in details.inner_text()  # never replacement characters
    screenshot(page, "dead-letters")
    assert watched.errors == []


def test_discard_one_after_confirming(watched: Watched, console: Console) -> None:
    page = watched.page
    gone, kept = put(console, b"1", "first"), put(console, b"2", "second")
    page.goto(f"{console.base}/dlq")
    row(page, gone).get_by_role("button", name="Discard ").click()
    expect(page.locator(".notice")).to_contain_text("discarded 1 dead letter")
    assert len(watched.dialogs) == 1
    assert watched.dialogs[0].startswith("confirm: Discard dead letter ")
    expect(row(page, gone)).to_have_count(0)
    expect(row(page, kept)).to_have_count(1)
    ran = console.cli("dlq", "list", "--json")
    listed = {d["action_id"] for d in json.loads(ran.stdout)}
    assert kept in listed
    assert gone not in listed


def test_a_refused_confirmation_discards_nothing(watched: Watched, console: Console) -> None:
    page = watched.page.context.new_page()  # this page's dialogs are dismissed
    dismissed: list[str] = []

    def dismiss(dialog: Any) -> None:
        dismissed.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    action = put(console, b"3", "third")
    page.goto(f"{console.base}/dlq")
    page.evaluate("window.__sameDocument = true")
    row(page, action).get_by_role("button", name="Discard ").click()
    page.get_by_role("button", name="Discard all").click()
    assert len(dismissed) == 2
    assert page.evaluate("window.__sameDocument") is True  # neither form was sent
    listed = {d["action_id"] for d in json.loads(console.cli("dlq", "list", "--json").stdout)}
    assert action in listed
    page.close()


def test_discard_all_after_confirming(watched: Watched, console: Console) -> None:
    page = watched.page
    actions = [put(console, b"4", "fourth"), put(console, BINARY, "fifth")]
    page.goto(f"{console.base}/dlq")
    for action in actions:
        expect(row(page, action)).to_have_count(1)
    page.get_by_role("button", name="Discard all").click()
    assert watched.dialogs[-1].startswith("confirm: Discard all ")
    expect(page.locator(".notice")).to_contain_text("discarded ")
    expect(page.locator("#letters")).to_contain_text("the dead-letter queue is empty")
    assert json.loads(console.cli("dlq", "list", "--json").stdout) == []
