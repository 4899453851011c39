"""What TagoIO's app showed that the console shows too: a device's tags and configuration
parameters (a section of the device page) and the notifications analyses send (their own
page). Each reads the same ops as the CLI (`devices show`, the inspector)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mqtt_actions_cli.console.app import Console
from mqtt_actions_cli.errors import CliError
from mqtt_actions_cli.ops import device_profiles, notifications
from mqtt_actions_cli.ops.errors import NotFoundError
from mqtt_actions_cli.timeparse import parse_when

NOTIFICATIONS_SINCE = "1d"  # each hour is one read per inspector shard: keep the default short


async def profile_of(console: Console, device: str) -> dict[str, Any]:
    """The device page's tags and parameters: `profile` (None when the registry does not know
    the device) or `problem` (a stack without the device registry)."""
    try:
        profile = await console.call(device_profiles.show, console.target, device)
    except NotFoundError:
        return {"profile": None, "problem": None}
    except CliError as exc:
        return {"profile": None, "problem": exc.message}
    return {"profile": profile, "problem": None}


def routes(console: Console) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        since = request.query_params.get("since") or NOTIFICATIONS_SINCE
        since_ms = parse_when(since, option="since")
        found = await console.call(notifications.recent, console.target, since_ms=since_ms)
        return console.page(
            request,
            "notifications.html",
            notifications=found.found,
            searched_to_ms=None if found.complete else found.searched_to_ms,
            max_scanned=notifications.PAGE * notifications.MAX_PAGES,
            since=since,
        )

    return [Route("/notifications", page)]
