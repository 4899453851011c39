"""The console links each page to the documentation page that explains it, and serves the
checkout's built documentation site under /docs/ (or says how to build it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions_cli.console.app import HELP, PAGES, Console, docs_route

ROOT = Path(__file__).resolve().parents[2]


class _Target:
    is_local = True

    def describe(self) -> str:
        return "the local stack"


def _get(app: Any, path: str) -> tuple[int, str]:
    """One GET through the ASGI app, without a network (no test client needed)."""
    sent: list[dict[str, Any]] = []
    asked: list[bool] = []

    async def receive() -> dict[str, Any]:
        if not asked:
            asked.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        while not any(m["type"] == "http.response.body" and not m.get("more_body") for m in sent):
            await asyncio.sleep(0.01)  # the client leaves once the answer is whole
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1")],
        "server": ("127.0.0.1", 80),
        "client": ("127.0.0.1", 1234),
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), timeout=30))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body.decode()


def _app(site: Path) -> Any:
    from starlette.applications import Starlette

    console = Console(_Target(), pace={})  # type: ignore[arg-type]
    return Starlette(routes=[docs_route(console, site)])


@pytest.mark.parametrize(("slug", "label"), PAGES)
def test_every_page_links_to_a_documentation_page_that_exists(slug: str, label: str) -> None:
    target = HELP[slug]
    assert target.endswith("/"), f"{label}: mkdocs serves pages as directories"
    page = ROOT / "docs" / target.rstrip("/")
    sources = [page.with_name(page.name + ".md"), page / "index.md"]  # a page or a section
    assert any(s.is_file() for s in sources), f"the {label} page links to {target}: no {sources}"


def test_the_built_site_is_served_under_docs(tmp_path: Path) -> None:
    (tmp_path / "guides" / "console").mkdir(parents=True)
    (tmp_path / "index.html").write_text("<h1>home</h1>")
    (tmp_path / "guides" / "console" / "index.html").write_text("<h1>Web console</h1>")
    app = _app(tmp_path)
    assert _get(app, "/docs/guides/console/") == (200, "<h1>Web console</h1>")
    assert _get(app, "/docs/") == (200, "<h1>home</h1>")
    assert _get(app, "/docs/../pyproject.toml")[0] == 404
    assert _get(app, "/docs/guides/missing/")[0] == 404


def test_without_a_built_site_the_page_says_how_to_build_it(tmp_path: Path) -> None:
    app = _app(ROOT / "not-built")  # the checkout's docs/ sits next to it, as .site does
    status, body = _get(app, "/docs/guides/console/")
    assert status == 404
    assert "docs/guides/console.md" in body
    assert "make docs" in body
    assert "docs/tagoio/index.md" in _get(app, "/docs/tagoio/")[1]  # a section's page
    assert "docs/index.md" in _get(app, "/docs/../pyproject/")[1]
