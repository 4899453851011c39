"""The Devices pages' commands: create a token device (its token shown once), revoke a device's
tokens, import a `device,token` CSV, a device's token status, and a device's own live feed
(SSE). Each calls the same `ops.tokens` / `ops.inspector` functions as the CLI."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from mqtt_actions_cli.console.app import Console, error_status
from mqtt_actions_cli.errors import CliError, UsageError
from mqtt_actions_cli.ops import inspector, tokens

FEED_SINCE_MS = 60 * 60_000  # a device's feed starts with its last hour
FEED_FIRST = 100


def _now_ms() -> int:
    return int(time.time() * 1000)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


async def token_status(console: Console, device: str) -> dict[str, Any] | None:
    """The device page's token section: its tokens and live client ids, or None when the
    stack keeps no tokens (a stack deployed without the tokens table)."""
    try:
        return await console.call(tokens.token_status, console.target, device)
    except CliError:
        return None


def routes(console: Console) -> list[BaseRoute]:
    target = console.target

    async def create(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        device = form.get("device", "").strip()
        try:
            made = await console.call(
                tokens.create,
                target,
                device,
                _lines(form.get("publish", "")),
                _lines(form.get("subscribe", "")),
                now_ms=_now_ms(),
            )
        except UsageError as exc:
            return console.page(
                request,
                "device_token.html",
                error_status(exc),
                made=None,
                form=form,
                error=exc,
            )
        return console.page(request, "device_token.html", made=made, form=form, error=None)

    async def revoke(request: Request) -> Response:
        device = request.path_params["device"]
        done = await console.call(tokens.revoke_device, target, device, now_ms=_now_ms())
        closed = f", closed {', '.join(done['closed'])}" if done["closed"] else ""
        text = f"revoked {done['revoked']} token(s) of {device}{closed}"
        listed = request.query_params.get("back") == "list"
        back = "/devices" if listed else f"/devices/{quote(device)}"
        return RedirectResponse(f"{back}?done={quote(text)}", status_code=303)

    async def import_csv(request: Request) -> Response:
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise UsageError("choose a CSV file of device,token rows to import")
        raw = await upload.read()
        name = upload.filename or "the file"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(
                f"{name} is not UTF-8 text", hint="export it again as a UTF-8 CSV (device,token)"
            ) from None
        done = await console.call(
            tokens.import_tokens_csv,
            target,
            text,
            allow_weak=form.get("allow_weak") == "on",
            skip_invalid=form.get("skip_invalid") == "on",
            now_ms=_now_ms(),
            source=name,
        )
        return console.page(request, "_token_import.html", done=done, file=name)

    async def stream(request: Request) -> Response:
        from mqtt_actions_cli.console.pages import _events

        follow = inspector.follow(
            target,
            device=request.path_params["device"],
            since_ms=_now_ms() - FEED_SINCE_MS,
            limit=FEED_FIRST,
            **console.pace,
        )
        return StreamingResponse(
            _events(request, follow),
            media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no"},
        )

    return [
        Route("/devices/tokens/new", create, methods=["POST"]),
        Route("/devices/tokens/import", import_csv, methods=["POST"]),
        Route("/devices/{device}/revoke", revoke, methods=["POST"]),
        Route("/devices/{device}/stream", stream),
    ]
