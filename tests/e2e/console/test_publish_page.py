"""The Publish page: a refusal is said on the form and what was typed is kept; the stack's own
client sends by default, "Try a device's credentials" connects with the ones given."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.console.conftest import Console, Watched


def test_a_refused_publish_is_said_on_the_form_and_the_message_kept(
    watched: Watched, console: Console
) -> None:
    page = watched.page
    page.goto(f"{console.base}/publish")
    page.get_by_label("Topic").fill("bad/+/topic")
    page.get_by_label("Payload").fill('{"keep": "me"}')
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#publish-error")).to_contain_text("TOPIC 'bad/+/topic'")
    expect(page.locator("#publish-error")).to_contain_text("fix:")
    expect(page.get_by_label("Payload")).to_have_value('{"keep": "me"}')
    expect(page.get_by_label("Topic")).to_have_value("bad/+/topic")
    # the answer is a 400 (the browser logs that); nothing else went wrong on the page
    assert [e for e in watched.errors if "400 (Bad Request)" not in e] == []


def test_a_devices_credentials_can_be_tried(watched: Watched, console: Console) -> None:
    page = watched.page
    page.goto(f"{console.base}/publish")
    page.get_by_label("Topic").fill("try/creds")
    page.get_by_label("Payload").fill("1")
    page.get_by_text("Try a device's credentials", exact=True).click()
    page.get_by_label("Username").fill("Token")
    page.get_by_label("Password").fill("anything: this stack is anonymous")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#published")).to_contain_text("(username Token)")
    expect(page.get_by_label("Password")).to_have_value("")  # never sent back to the page
