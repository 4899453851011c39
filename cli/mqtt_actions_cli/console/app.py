"""The console's web application: routes -> ops calls -> templates.

Server-rendered pages (Jinja2, autoescaped: everything from devices is text), htmx for partial
updates, one Server-Sent Events stream for the Live page. Every ops call runs in a worker
thread (boto3 blocks), never on the event loop. The typed errors of `ops` map to HTTP statuses
once, in `_error_page`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from mqtt_actions_cli.console import forms
from mqtt_actions_cli.console.security import CSRF_FIELD, Guard
from mqtt_actions_cli.errors import CliError, http_status
from mqtt_actions_cli.output import iso_ms
from mqtt_actions_cli.target import Target

HERE = Path(__file__).resolve().parent
PAGES = (
    ("live", "Live"),
    ("topics", "Topics"),
    ("actions", "Actions"),
    ("devices", "Devices"),
    ("dlq", "Dead letters"),
    ("notifications", "Notifications"),
    ("outbox", "Outbox"),
    ("publish", "Publish"),
)


# The documentation page that explains each console page (mkdocs' directory URLs), served from
# the checkout's built site (`make docs` writes .site/) under /docs/.
HELP = {
    "live": "guides/inspector/",
    "topics": "guides/console/",
    "actions": "guides/actions-file/",
    "devices": "guides/devices/",
    "dlq": "guides/dead-letters/",
    "outbox": "get-started/local/",
    "publish": "guides/console/",
    "notifications": "tagoio/",
}
SITE = HERE.parents[2] / ".site"


class Console:
    """What the routes share: the target, the templates, and how often Live polls."""

    def __init__(self, target: Target, *, pace: Mapping[str, Any]) -> None:
        self.target = target
        self.pace = dict(pace)  # ops.inspector.follow's poll_seconds, lookback_ms, ...
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,  # every page: device data is text, never markup
        )
        env.filters["iso"] = iso_ms
        env.globals["fields"] = forms.fields
        env.globals["condition_rows"] = forms.condition_rows
        env.globals["condition_ops"] = forms.OPS
        self.templates = Jinja2Templates(env=env)

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        context.setdefault("problems", [])
        context.setdefault("message", None)
        current = name.split("/")[0].split("_")[0].removesuffix(".html")
        base = {
            "pages": PAGES,
            "current": current,
            "help": HELP.get(current, ""),
            "target": self.target.describe(),
            "local": self.target.is_local,
            "csrf": request.scope.get("state", {}).get("csrf", ""),
            "csrf_field": CSRF_FIELD,
        }
        return self.templates.TemplateResponse(request, name, base | context, status_code=status)

    async def call[T](self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await run_in_threadpool(function, *args, **kwargs)


error_status = http_status  # the control API answers the same errors with the same statuses


def aws_problem(exc: Exception) -> tuple[str, str] | None:
    from mqtt_actions_cli.main import aws_error

    return aws_error(exc)


def create_app(
    target: Target,
    *,
    token: str,
    hosts: set[str],
    pace: Mapping[str, Any] | None = None,
) -> Guard:
    """The console for `target`, behind its Guard (token, Host, cross-site checks, CSP).
    `pace`: how the Live stream follows the inspector (ops.inspector.follow's keywords)."""
    from mqtt_actions_cli.console import pages

    console = Console(target, pace=pace or {})

    async def on_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, CliError):
            message, problems, hint = exc.message, exc.problems, exc.hint
            status = error_status(exc)
        elif (mapped := aws_problem(exc)) is not None:
            message, problems, hint, status = mapped[0], [], mapped[1], 502
        else:
            raise exc
        if request.headers.get("hx-request"):
            return console.page(
                request, "_error.html", status, message=message, problems=problems, hint=hint
            )
        return console.page(
            request, "error.html", status, message=message, problems=problems, hint=hint
        )

    async def home(_request: Request) -> Response:
        return RedirectResponse("/live", status_code=303)

    async def not_found(request: Request, _exc: Exception) -> Response:
        """A page of the console's own look, not a bare "Not Found"."""
        hint = "pick a page above; devices are on Devices, actions on Actions"
        return console.page(
            request, "error.html", 404, message=f"no page at {request.url.path}", hint=hint
        )

    routes = [
        Route("/", home),
        *pages.routes(console),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        docs_route(console, SITE),
    ]
    from botocore.exceptions import BotoCoreError, ClientError

    handlers: dict[Any, Any] = {
        CliError: on_error,
        BotoCoreError: on_error,
        ClientError: on_error,
        404: not_found,
    }
    app = Starlette(routes=routes, exception_handlers=handlers)
    return Guard(app, token=token, hosts=hosts)


def docs_route(console: Console, site: Path) -> Mount | Route:
    """/docs/: the documentation site built in this checkout, or, when it is not built (an
    installed package, a fresh clone before `make docs`), a page that says how to get it."""
    if (site / "index.html").is_file():
        return Mount("/docs", StaticFiles(directory=site, html=True), name="docs")

    async def not_built(request: Request) -> Response:
        page = request.path_params.get("page", "").strip("/")
        sources = ("index.md",) if ".." in page else (f"{page}.md", f"{page}/index.md")
        docs = site.parent / "docs"
        source = "docs/" + next((c for c in sources if (docs / c).is_file()), "index.md")
        return console.page(request, "docs_missing.html", 404, source=source)

    return Route("/docs/{page:path}", not_built)
