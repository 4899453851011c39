"""The action form in chromium: the condition builder (variable, operator, value rows; all must
hold) writes the `when:` of an actions file and reads it back, and a refused form names the action
by its id and each field in words."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.console.conftest import Console, Watched, screenshot

pytestmark = pytest.mark.e2e


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def stored(console: Console, action_id: str) -> dict[str, Any]:
    listed = console.cli("actions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    found = [a for a in json.loads(listed.stdout)["actions"] if a["id"] == action_id]
    assert found, f"{action_id} is not stored"
    action = dict(found[0])
    # `exists` has no value: the JSON listing shows it as null
    action["when"] = [{k: v for k, v in c.items() if v is not None} for c in action["when"]]
    return action


def fill_row(page: Page, n: int, variable: str, op: str, value: str | None) -> None:
    page.get_by_label(f"Condition {n} variable").fill(variable)
    page.get_by_label(f"Condition {n} operator").select_option(op)
    if value is not None:
        page.get_by_label(f"Condition {n} value").fill(value)


def rows(page: Page) -> list[tuple[str, str, str]]:
    script = """() => [...document.querySelectorAll('#condition-rows tr')].map((tr) =>
        [...tr.querySelectorAll('input, select')].map((f) => f.value))"""
    return [tuple(row) for row in page.evaluate(script)]


def test_the_condition_builder_writes_when_and_reads_it_back(
    watched: Watched, console: Console, tmp_path: Path
) -> None:
    page, action = watched.page, unique("built")
    page.goto(f"{console.base}/actions/new?type=insert_bucket")
    page.get_by_label("Id", exact=True).fill(action)
    page.get_by_label("Topic filters").fill(f"{action}/#")
    fill_row(page, 1, "temperature", ">", "30")
    page.get_by_role("button", name="Add a condition (AND)").click()
    fill_row(page, 2, "mode", "==", '"30"')  # in quotes: the text 30
    page.get_by_role("button", name="Add a condition (AND)").click()
    fill_row(page, 3, "gps", "exists", None)
    expect(page.get_by_label("Condition 3 value")).to_be_disabled()
    page.get_by_role("button", name="Add a condition (AND)").click()
    fill_row(page, 4, "drop", "<", "1")
    page.get_by_role("button", name="Remove condition 4").click()
    screenshot(page, "action-conditions")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_contain_text(f"saved {action}")
    assert stored(console, action)["when"] == [
        {"variable": "temperature", "op": ">", "value": 30},
        {"variable": "mode", "op": "==", "value": "30"},
        {"variable": "gps", "op": "exists"},
    ]

    # Read back: the rows as saved (and a blank one to add), then the file it exports, applied
    # again, changes nothing.
    page.goto(f"{console.base}/actions/{action}/edit")
    assert rows(page) == [
        ("temperature", ">", "30"),
        ("mode", "==", '"30"'),
        ("gps", "exists", ""),
        ("", "==", ""),
    ]
    page.get_by_role("button", name="Remove condition 2").click()
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_contain_text(f"saved {action}")
    assert [c["variable"] for c in stored(console, action)["when"]] == ["temperature", "gps"]

    file = tmp_path / "built.yaml"
    file.write_text(
        f"actions:\n  - id: {action}\n    topics: ['{action}/#']\n    type: insert_bucket\n"
        "    when:\n      - {variable: temperature, op: '>', value: 30}\n"
        "      - {variable: gps, op: exists}\n",
        encoding="utf-8",
    )
    again = console.cli("actions", "apply", str(file), "--json")
    assert again.returncode == 0, again.stderr
    assert action in json.loads(again.stdout)["unchanged"]  # the builder wrote the file's when
    console.cli("actions", "rm", action)
    assert watched.errors == []


def test_a_refused_form_names_the_action_and_each_field_in_words(
    watched: Watched, console: Console
) -> None:
    page = watched.page
    page.goto(f"{console.base}/actions/new?type=sms")
    page.get_by_label("Id", exact=True).fill("Bad Id!")
    page.get_by_label("Topic filters").fill("alarm/#")
    page.get_by_label("To", exact=True).fill("+15555550100\n12345")
    page.get_by_label("Message").fill("hello")
    fill_row(page, 1, "temperature", ">", "hot")
    page.get_by_role("button", name="Save").click()

    def problems_of(field: str) -> Any:
        return page.locator(".field", has=page.locator(f"#f-{field}")).locator(".field-problems")

    expect(problems_of("id")).to_contain_text("Action 'Bad Id!', field Id: 'Bad Id!' is not")
    expect(problems_of("to")).to_contain_text(
        "Action 'Bad Id!', field To, line 2: '12345' is not an E.164 phone number"
    )
    expect(problems_of("when")).to_contain_text(
        "Action 'Bad Id!', field Conditions (when), row 1: op '>' compares numbers"
    )
    expect(page.locator("main")).not_to_contain_text("actions[0]")  # no file paths on a form
    assert rows(page)[0] == ("temperature", ">", "hot")  # nothing typed is lost
    listed = console.cli("actions", "list", "--json")
    assert "Bad Id!" not in listed.stdout
    assert [e for e in watched.errors if "400 (Bad Request)" not in e] == []
