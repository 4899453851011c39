"""TagoIO's app views in the console, in a real browser (chromium): a device's tags and
configuration parameters on its page, and the Notifications page listing what an analysis sent
with `Services.Notification.send` (run unchanged, through a local stack started with a
NotificationEmail), each with where its e-mail went."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from mqtt_actions_cli.ops import analyses
from mqtt_actions_cli.target import local_target
from scripts import tagoio_corpus
from tests.e2e.conftest import LocalStack, running_stack

OWNER = "owner@example.com"
NOTIFY = """
from tagoio_sdk import Analysis, Services


def my_analysis(context, scope):
    Services({"token": context.token}).Notification.send(
        notification={"title": "Pump 7 stopped", "message": "no flow for <b>10</b> minutes"}
    )


Analysis({"token": "MY-ANALYSIS-TOKEN-HERE"}).init(my_analysis)
"""


@dataclass
class Served:
    stack: LocalStack
    url: str  # the console, with its token
    base: str
    project: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A local stack running a copy of the project with a TagoIO script added unchanged."""
    project = tmp_path_factory.mktemp("project")
    tagoio_corpus.project_copy(project)
    script = project / "notify-owner.py"
    script.write_text(NOTIFY)
    analyses.add_tagoio(script, "notify_owner", {}, root=project)
    options = ["--fresh", "--no-gateway", "--template", str(project / "template.yaml")]
    options += ["--param", f"NotificationEmail={OWNER}"]
    with running_stack(tmp_path_factory.mktemp("state"), *options) as stack:
        lines = [line for line in stack.lines if line.startswith("console  http")]
        assert lines, "\n".join(stack.lines[-30:])
        url = lines[0].split()[1]
        yield Served(stack, url, url.partition("/?token=")[0], project)


@pytest.fixture
def page(context: BrowserContext, served: Served) -> Page:
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    response = page.goto(served.url)
    assert response is not None
    assert response.ok, response.status
    page.errors = errors  # type: ignore[attr-defined]
    return page


def test_the_notifications_page_lists_what_an_analysis_sent_and_where_it_was_mailed(
    page: Page, served: Served
) -> None:
    target = local_target({"MQTT_ACTIONS_CONTROL_PORT": served.stack.control_url.rsplit(":")[-1]})
    done = analyses.run(target, "notify_owner", [], {}, wait=True, root=served.project)
    assert done["outcome"] == "done", done

    page.goto(f"{served.base}/notifications")
    nav = page.get_by_role("navigation", name="Pages").get_by_role("link", name="Notifications")
    expect(nav).to_have_attribute("aria-current", "page")
    row = page.locator("#notifications tbody tr").first
    expect(row).to_contain_text("Pump 7 stopped")
    expect(row).to_contain_text("no flow for <b>10</b> minutes")  # text, never markup
    expect(row).to_contain_text("notify_owner")
    expect(row).to_contain_text(f"sent to {OWNER}")
    assert page.locator("#notifications b").count() == 0
    mails = [m for m in served.stack.outbox("email") if m["to"] == [OWNER]]
    assert [m["subject"] for m in mails] == ["Pump 7 stopped"]
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_devices_page_shows_its_tags_and_configuration_parameters(
    page: Page, served: Served
) -> None:
    created = served.stack.cli(
        "devices", "create", "sensor-7", "--token", "--tag", "type=sensor",
        "--tag", "site=north", "--param", "interval=60",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr

    page.goto(f"{served.base}/devices/sensor-7")
    tags = page.locator("#tags tbody tr")
    expect(tags).to_have_count(2)
    expect(tags.nth(0)).to_contain_text("type")
    expect(tags.nth(0)).to_contain_text("sensor")
    expect(tags.nth(1)).to_contain_text("north")
    params = page.locator("#params tbody tr")
    expect(params).to_have_count(1)
    expect(params.first).to_contain_text("interval")
    expect(params.first).to_contain_text("60")
    expect(params.first).to_contain_text("no")  # not sent to the device yet

    page.goto(f"{served.base}/devices/never-registered")
    expect(page.locator("#profile")).to_contain_text("not in the device registry")
    assert page.errors == []  # type: ignore[attr-defined]
