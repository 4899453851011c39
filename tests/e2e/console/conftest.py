"""The console in a real browser: Playwright for Python driving Debian's chromium, against the
console `mqtt-actions local` starts (the session's local stack). No browser is a failure, not a
skip: CI must run these."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.e2e.conftest import ROOT, LocalStack

# The README's screenshots: `MQTT_ACTIONS_SCREENSHOTS=docs/screenshots pytest tests/e2e/console`
# refreshes them; otherwise they go to a temporary directory (a test run changes no tracked file).
SCREENSHOTS_ENV = "MQTT_ACTIONS_SCREENSHOTS"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}


@dataclass
class Console:
    url: str  # with the token
    base: str  # http://127.0.0.1:PORT
    token: str
    stack: LocalStack

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """`mqtt-actions ARGV` against this stack, as a user would run it."""
        return self.stack.cli(*argv)


@pytest.fixture(scope="session")
def console(stack: LocalStack) -> Console:
    lines = [line for line in stack.lines if line.startswith("console  http")]
    assert lines, "the local stack printed no console line:\n" + "\n".join(stack.lines[-30:])
    url = lines[0].split()[1]
    ready = next(line for line in stack.lines if line.startswith("ready: "))
    assert ready.endswith(f" console={url}")
    base, _, token = url.partition("/?token=")
    return Console(url=url, base=base, token=token, stack=stack)


# Package scope, not session: Playwright's sync API runs an event loop in the main thread while it
# is open, and every later test calling asyncio.run() would fail ("cannot be called from a
# running event loop").
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "no chromium on PATH: the console's browser tests need it. Install it with "
            "`sudo apt-get install -y chromium` (make sysdeps does it as root)"
        )
    try:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    except Exception as exc:  # a browser that cannot start fails the suite, never skips it
        pytest.fail(f"chromium ({executable}) did not start: {exc}")
    yield browser
    browser.close()


@dataclass
class Watched:
    page: Page
    dialogs: list[str]
    errors: list[str]  # console errors (a CSP violation is one)


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    yield context
    context.close()


@pytest.fixture
def watched(context: BrowserContext, console: Console) -> Watched:
    """A page signed in with the token (traded for the cookie), recording dialogs and errors."""
    page = context.new_page()
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.accept()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(console.url)
    assert response is not None
    assert response.ok, response.status
    assert "?token=" not in page.url  # traded for the cookie, gone from the address bar
    return Watched(page, dialogs, errors)


def screenshot(page: Page, name: str) -> Path:
    chosen = os.environ.get(SCREENSHOTS_ENV, "").strip()
    where = ROOT / chosen if chosen else Path(tempfile.gettempdir()) / "mqtt-actions-screenshots"
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
