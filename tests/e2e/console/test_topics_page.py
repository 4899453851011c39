"""The Topics page in a real browser (chromium), against the local stack: the tree updates live
(no reload, no button), with each topic's last value, messages per minute, a sparkline and a
chart of its numbers; the retained marker, and clearing a retained message; bytes shown as hex
and base64 with their length; publishing from the page."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Client
from tests.e2e.console.conftest import Console, Watched, screenshot

pytestmark = pytest.mark.e2e

Connect = Callable[[str], Client]
BINARY = bytes([0x00, 0xFF, 0x10, 0x80, 0x7F, 0xC3, 0x28])  # not UTF-8, not text


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def node(page: Page, topic: str) -> Any:
    """A topic's row in the tree."""
    return page.locator(f'li[data-topic="{topic}"] > .node')


def open_topics(watched: Watched, console: Console) -> Page:
    page = watched.page
    page.goto(f"{console.base}/topics")
    expect(page.locator("#status")).to_have_text("live", timeout=10_000)
    page.evaluate("window.__sameDocument = true")
    return page


def start(
    watched: Watched, console: Console, connect: Connect, prefix: str
) -> tuple[Page, str, Client]:
    """The Topics page, live, and a device of a name of its own, connected."""
    page = open_topics(watched, console)
    device = unique(prefix)
    return page, device, connect(device)


def retained_on(console: Console, topic: str) -> int:
    """The control API's answer to GetRetainedMessage (200: there is one, 404: none)."""
    status, _body = console.stack.request("GET", "/retainedMessage/" + quote(topic, safe=""))
    return status


def test_the_tree_updates_live_with_values_rate_and_chart(
    watched: Watched, console: Console, connect: Connect
) -> None:
    page, device, client = start(watched, console, connect, "tree")
    topic = f"home/{device}/temperature"
    for value in ("21", "22.5", '{"variable": "temperature", "value": 23}'):
        client.publish(topic, value)
    row = node(page, topic)
    expect(row.locator(".count")).to_have_text("3 msg", timeout=30_000)
    expect(row.locator(".value")).to_contain_text('"value": 23')
    expect(row.locator(".rate")).to_have_text("3/min")
    expect(row.locator("svg.spark polyline")).to_have_count(1)  # 21, 22.5, 23
    expect(node(page, f"home/{device}").locator(".count")).to_have_text("3 msg")  # the branch
    row.get_by_role("button").click()
    expect(page.locator("#t-topic")).to_have_text(topic)
    expect(page.locator("#t-chart svg polyline")).to_have_count(1)
    expect(page.locator("#t-chart")).to_contain_text("3 values, min 21, max 23, last 23")
    expect(page.locator("#t-value")).to_contain_text('"value": 23')
    client.publish(topic, "24")  # still live once a topic is open
    expect(row.locator(".count")).to_have_text("4 msg", timeout=30_000)
    expect(page.locator("#t-chart")).to_contain_text("4 values, min 21, max 24, last 24")
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    # Neighbours for the screenshot: another series, a retained status, bytes.
    for value in ("40", "42", "41", "43"):
        client.publish(f"home/{device}/humidity", value)
    client.publish(f"home/{device}/status", "online", retain=True)
    client.publish(f"home/{device}/frame", BINARY)
    expect(node(page, f"home/{device}/status").locator(".retained-mark")).to_be_visible()
    expect(node(page, f"home/{device}/frame").locator(".value")).to_contain_text("binary 7 B")
    screenshot(page, "topics")
    assert watched.errors == []


def test_the_retained_marker_and_clearing_a_retained_message(
    watched: Watched, console: Console, connect: Connect
) -> None:
    device = unique("keep")
    before, during = f"status/{device}/online", f"status/{device}/mode"
    client = connect(device)
    client.publish(before, "yes", retain=True)  # retained before the page opens
    page = open_topics(watched, console)
    expect(node(page, before).locator(".retained-mark")).to_be_visible(timeout=30_000)
    client.publish(during, "eco", retain=True)
    client.publish(f"status/{device}/plain", "not kept")
    expect(node(page, during).locator(".retained-mark")).to_be_visible(timeout=30_000)
    expect(node(page, f"status/{device}/plain").locator(".value")).to_have_text("not kept")
    expect(node(page, f"status/{device}/plain").locator(".retained-mark")).to_be_hidden()

    node(page, during).get_by_role("button").click()
    expect(page.locator("#t-retained")).to_contain_text("Retained message: 3 B, QoS 1")
    page.get_by_role("button", name="Clear retained").click()
    assert watched.dialogs[-1] == (
        f"confirm: Clear the retained message on {during}? New subscribers will no longer get it."
    )
    expect(page.locator("#t-said")).to_have_text(
        f"cleared the retained message on {during} (0 B, qos 1, retained)"
    )
    expect(node(page, during).locator(".retained-mark")).to_be_hidden()
    expect(page.locator("#t-retained-text")).to_have_text("No retained message.")
    expect(page.get_by_role("button", name="Clear retained")).to_be_hidden()
    assert retained_on(console, during) == 404
    assert retained_on(console, before) == 200  # only the one asked
    # A new subscriber gets the other one, and nothing on the cleared topic.
    listener = connect(unique("sub"))
    listener.subscribe(before)
    listener.subscribe(during)
    [got] = listener.messages(1)
    assert (got.topic, got.payload, got.retain) == (before, b"yes", True)
    assert listener.received.empty()
    assert watched.errors == []


def test_binary_payloads_show_as_hex_and_base64_with_their_length(
    watched: Watched, console: Console, connect: Connect
) -> None:
    page, device, client = start(watched, console, connect, "bin")
    topic = f"raw/{device}/frame"
    client.publish(topic, BINARY)
    row = node(page, topic)
    expect(row.locator(".value")).to_have_text("binary 7 B: 00 ff 10 80 7f c3 28", timeout=30_000)
    row.get_by_role("button").click()
    expect(page.locator("#t-size")).to_have_text("(binary, 7 B: hex and base64)")
    expect(page.locator("#t-hex")).to_contain_text("00 ff 10 80 7f c3 28")
    expect(page.locator("#t-value")).to_have_text(base64.b64encode(BINARY).decode())
    assert "\ufffd" not in page.locator("#tree").inner_text()
    assert "\ufffd" not in page.locator("#t-detail").inner_text()
    # The topic's own page too (its recent messages).
    page.goto(f"{console.base}/topics/view?topic={quote(topic, safe='')}")
    expect(page.locator("table")).to_contain_text("00 ff 10 80 7f c3 28")
    expect(page.locator("table")).to_contain_text(base64.b64encode(BINARY).decode())
    assert "\ufffd" not in page.locator("main").inner_text()
    # And the Live page's entry detail: base64 and hex, not text.
    page.goto(f"{console.base}/live")
    page.locator("#rows tr", has_text=topic).first.click()
    expect(page.locator("#payload-base64")).to_have_text(base64.b64encode(BINARY).decode())
    expect(page.locator("#detail")).to_contain_text("Payload (binary, 7 B; base64)")
    expect(page.locator("#detail pre.hex")).to_contain_text("00 ff 10 80 7f c3 28")
    expect(page.locator("#payload-text")).to_have_count(0)


def test_publish_from_the_tree_and_a_refusal_keeps_the_message(
    watched: Watched, console: Console, connect: Connect
) -> None:
    page, device, client = start(watched, console, connect, "pub")
    topic = f"cmd/{device}/set"
    listener = connect(unique("sub"))
    listener.subscribe(topic)
    client.publish(topic, "1")
    row = node(page, topic)
    expect(row.locator(".count")).to_have_text("1 msg", timeout=30_000)
    row.get_by_role("button").click()
    expect(page.get_by_label("Topic", exact=True)).to_have_value(topic)  # filled from the tree
    page.get_by_label("Payload").fill('{"on": true}')
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#t-said")).to_have_text(f"published on {topic} (12 B, qos 1)")
    expect(row.locator(".count")).to_have_text("2 msg", timeout=30_000)
    got = listener.messages(2)
    assert [m.payload for m in got] == [b"1", b'{"on": true}']

    page.get_by_label("Topic", exact=True).fill("cmd/+/set")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#t-said")).to_contain_text("TOPIC 'cmd/+/set'")
    expect(page.locator("#t-said")).to_have_class("error")
    expect(page.get_by_label("Payload")).to_have_value('{"on": true}')  # kept
    # The refusal is a 400 (chromium logs it); nothing else went wrong.
    assert [e for e in watched.errors if "status of 400 (Bad Request)" not in e] == []
