"""The console's pages: each route reads the request, calls ops, renders a template."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import io
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Route

from mqtt_actions.actions import ACTION_TYPES, Action
from mqtt_actions.inspector import EntryType, InspectorEntry, order_key
from mqtt_actions.payload import wrap_payload
from mqtt_actions_cli.console import forms, payloads
from mqtt_actions_cli.console.app import Console, aws_problem, error_status
from mqtt_actions_cli.errors import CliError, UsageError
from mqtt_actions_cli.inspect import describe_entry
from mqtt_actions_cli.ops import actions as ops_actions
from mqtt_actions_cli.ops import (
    bucket,
    devices,
    dlq,
    inspector,
    outbox,
    parsers,
    publish,
    tokens,
    topics,
)
from mqtt_actions_cli.ops.errors import NotFoundError
from mqtt_actions_cli.output import topic_of
from mqtt_actions_cli.timeparse import parse_when

LIVE_SINCE_MS = 10 * 60_000  # the Live page starts with the last 10 minutes
LIVE_FIRST = 200
HEARTBEAT_SECONDS = 15.0
PAGE_ROWS = 50
TOPICS_SINCE = "1h"  # the Topics tree starts with the last hour's messages
TOPICS_FIRST = 2000  # ... at most this many (the newest)
RETAINED_MIN_SECONDS = 1.0  # between two listings of the retained messages (x5 on AWS)
RETAINED_EVERY_SECONDS = 10.0  # listed again even without messages (x6 on AWS)


def routes(console: Console) -> list[BaseRoute]:
    from mqtt_actions_cli.console import device_admin, tagoio_views

    return [
        *_live(console),
        *_topics(console),
        *_actions(console),
        *device_admin.routes(console),
        *_devices(console),
        *_dead_letters(console),
        *tagoio_views.routes(console),
        *_outbox_and_publish(console),
    ]


def _since(request: Request, default: str, name: str = "since") -> tuple[str, int]:
    text = request.query_params.get(name) or default
    return text, parse_when(text, option=name)


# ---------------------------------------------------------------------------- live


def entry_json(entry: InspectorEntry) -> dict[str, Any]:
    data = entry.model_dump(mode="json")
    data["summary"] = describe_entry(entry)
    data["topic"] = entry.details.get("topic")
    data["order"] = order_key(entry)  # the Live page inserts a late entry at its place
    data["by"] = entry.details.get("by")  # published by the stack: action/<id>, analysis/<name>
    return data


def _live(console: Console) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        return console.page(request, "live.html", types=[t.value for t in EntryType])

    async def stream(request: Request) -> Response:
        since_ms = int(time.time() * 1000) - LIVE_SINCE_MS
        follow = inspector.follow(
            console.target,
            since_ms=since_ms,
            limit=LIVE_FIRST,
            **console.pace,
        )
        return StreamingResponse(
            _events(request, follow),
            media_type="text/event-stream",
            headers={"X-Accel-Buffering": "no"},
        )

    async def detail(request: Request) -> Response:
        q = request.query_params
        device, at = q.get("device", ""), int(q.get("time", "0") or 0)
        traceid, uid = q.get("traceid") or None, q.get("uid", "")
        found = await console.call(
            inspector.query,
            console.target,
            device=device,
            since_ms=max(at - 1, 0),
            until_ms=at + 300_000,
            limit=500,
        )
        same = [e for e in found if (traceid and e.traceid == traceid) or e.uid == uid]
        if not same:
            raise UsageError(f"no inspector entry {uid!r} of device {device!r} any more")
        main = next((e for e in same if e.type is EntryType.PUBLISH), same[0])
        outcomes = [e for e in same if e.type is EntryType.ACTION]
        raw, binary = payloads.head_of(main.details)
        preview = base64.b64encode(raw).decode() if binary else raw.decode("utf-8")
        pretty = None
        try:
            pretty = json.dumps(json.loads(preview), indent=2, ensure_ascii=False)
        except ValueError:
            pretty = None
        whole = not preview.endswith("…") and len(raw) == main.details.get("size", len(raw))
        points = (
            wrap_payload(raw, str(main.details.get("topic", "")))
            if main.type is EntryType.PUBLISH and whole
            else []
        )
        return console.page(
            request,
            "_entry.html",
            entry=main,
            summary=describe_entry(main),
            payload=preview,
            binary=binary,
            whole=whole,
            pretty=pretty,
            hexdump=payloads.hexdump(raw),
            points=points,
            outcomes=outcomes,
            details=json.dumps(main.details, indent=2, ensure_ascii=False, default=str),
        )

    return [
        Route("/live", page),
        Route("/live/stream", stream),
        Route("/live/entry", detail),
    ]


Aside = Callable[[bool], Awaitable[str | None]]


async def _events(
    request: Request,
    follow: Iterator[list[InspectorEntry]],
    *,
    name: str = "entries",
    encode: Callable[[InspectorEntry], dict[str, Any]] = entry_json,
    aside: Aside | None = None,
) -> AsyncIterator[str]:
    """Each poll's new entries as one SSE event `name` (a batch: the page coalesces); a comment
    line now and then so a closed page is noticed. `aside(fresh)`, after each poll, may add an
    event of its own (the Topics page's retained messages)."""
    last = time.monotonic()
    try:
        yield "retry: 1000\n\n"
        while not await request.is_disconnected():
            batch = await asyncio.to_thread(next, follow, None)
            if batch is None:
                return
            if batch:
                data = json.dumps([encode(e) for e in batch], ensure_ascii=False)
                yield f"event: {name}\ndata: {data}\n\n"
                last = time.monotonic()
            extra = await aside(bool(batch)) if aside is not None else None
            if extra:
                yield extra
                last = time.monotonic()
            elif not batch and time.monotonic() - last > HEARTBEAT_SECONDS:
                yield ": ping\n\n"
                last = time.monotonic()
    finally:
        # A page that goes away cancels this stream while a worker thread may still be inside
        # next(follow): closing a running generator raises ValueError. The follower then stops
        # after that one poll, when the thread drops the last reference to it.
        close = getattr(follow, "close", None)
        if close is not None:
            with contextlib.suppress(ValueError):
                close()


# ---------------------------------------------------------------------------- topics


def _topics(console: Console) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        return console.page(request, "topics.html", since=TOPICS_SINCE)

    async def stream(request: Request) -> Response:
        _text, since_ms = _since(request, TOPICS_SINCE)
        follow = inspector.follow(
            console.target,
            types=[EntryType.PUBLISH.value],
            since_ms=since_ms,
            limit=TOPICS_FIRST,
            **console.pace,
        )
        events = _events(
            request,
            follow,
            name="messages",
            encode=message_json,
            aside=_RetainedWatch(console),
        )
        return StreamingResponse(
            events, media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
        )

    async def view(request: Request) -> Response:
        topic = request.query_params.get("topic", "")
        since, since_ms = _since(request, "1h")
        recent = await console.call(topics.messages, console.target, topic, since_ms=since_ms)
        stored = await console.call(ops_actions.list_actions, console.target)
        return console.page(
            request,
            "topic.html",
            topic=topic,
            since=since,
            recent=[(e, payloads.preview(e.details)) for e in recent],
            actions=topics.matching(stored, topic),
        )

    async def retained_value(request: Request) -> Response:
        topic = request.query_params.get("topic", "")
        raw = await console.call(topics.retained_payload, console.target, topic)
        if raw is None:
            return JSONResponse({"topic": topic, "retained": False})
        shown = payloads.view(raw)
        return JSONResponse(
            {"topic": topic, "retained": True, "size": shown.size, "text": shown.text}
            | {"base64": shown.base64, "hex": shown.hexdump}
        )

    async def send(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        retain = form.get("retain") == "on"
        try:
            qos = int(form.get("qos", "0"))
        except ValueError:
            qos = -1
        topic, payload = form.get("topic", ""), form.get("payload", "").encode("utf-8")
        return await _answer(
            console, publish.publish, console.target, topic, payload, qos=qos, retain=retain
        )

    async def clear(request: Request) -> Response:
        topic = str((await request.form()).get("topic", ""))
        return await _answer(console, topics.clear_retained, console.target, topic)

    return [
        Route("/topics", page),
        Route("/topics/stream", stream),
        Route("/topics/view", view),
        Route("/topics/retained", retained_value),
        Route("/topics/publish", send, methods=["POST"]),
        Route("/topics/clear-retained", clear, methods=["POST"]),
    ]


def message_json(entry: InspectorEntry) -> dict[str, Any]:
    """A publish entry as the Topics page needs it (the preview is base64 when `encoding` is)."""
    d = entry.details
    return {
        "topic": d.get("topic"),
        "time": entry.time,
        "device": entry.device,
        "size": d.get("size"),
        "preview": d.get("preview", ""),
        "encoding": d.get("encoding"),
        "uid": entry.uid,
    }


async def _answer(
    console: Console, function: Callable[..., Any], *args: Any, **kw: Any
) -> Response:
    """A publish from the Topics page, said as JSON: what was sent, or the error and its fix."""
    try:
        done = await console.call(function, *args, **kw)
    except CliError as exc:
        body = {"ok": False, "error": exc.message, "hint": exc.hint, "problems": exc.problems}
        return JSONResponse(body, status_code=error_status(exc))
    flags = f"qos {done.qos}" + (", retained" if done.retain else "")
    what = "cleared the retained message" if done.retain and not done.bytes else "published"
    said = f"{what} on {done.topic} ({done.bytes} B, {flags})"
    return JSONResponse({"ok": True, "said": said, "warnings": done.warnings})


class _RetainedWatch:
    """The Topics stream's retained messages: listed when the stream starts, again (at most
    every RETAINED_MIN_SECONDS) after messages arrived, and every RETAINED_EVERY_SECONDS; sent
    only when they changed. On AWS each listing is billed, hence the spacing."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.sent: list[dict[str, Any]] | None = None
        self.at = -1e9
        self.dirty = True
        self.failed = False
        local = console.target.is_local
        self.min_gap = RETAINED_MIN_SECONDS if local else RETAINED_MIN_SECONDS * 5
        self.every = RETAINED_EVERY_SECONDS if local else RETAINED_EVERY_SECONDS * 6

    async def __call__(self, fresh: bool) -> str | None:
        self.dirty = self.dirty or fresh
        since = time.monotonic() - self.at
        if self.failed or since < self.min_gap or (not self.dirty and since < self.every):
            return None
        self.at, self.dirty = time.monotonic(), False
        try:
            found = await self.console.call(topics.retained, self.console.target)
        except CliError as exc:
            return self._failure(exc.message)
        except Exception as exc:  # boto3's errors (e.g. AccessDenied): said once, not retried
            if (mapped := aws_problem(exc)) is None:
                raise
            return self._failure(mapped[0])
        data = [r.model_dump() for r in found]
        if data == self.sent:
            return None
        self.sent = data
        return f"event: retained\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

    def _failure(self, message: str) -> str:
        self.failed = True
        said = json.dumps({"error": f"retained messages cannot be listed: {message}"})
        return f"event: problem\ndata: {said}\n\n"


# ---------------------------------------------------------------------------- actions


def _actions(console: Console) -> list[BaseRoute]:
    target = console.target

    async def table(request: Request, message: str | None = None) -> Response:
        stored = await console.call(ops_actions.list_actions, target)
        since_ms = int(time.time() * 1000) - 3_600_000
        outcomes = await console.call(
            inspector.query, target, types=["action"], since_ms=since_ms, limit=5000
        )
        counts: dict[str, Counter[str]] = {}
        for e in outcomes:
            counts.setdefault(str(e.details.get("action_id")), Counter())[
                str(e.details.get("outcome"))
            ] += 1
        return console.page(
            request,
            "actions.html",
            actions=[_row(a) for a in stored],
            counts=counts,
            types=ACTION_TYPES,
            message=message or request.query_params.get("done"),
        )

    async def toggle(request: Request) -> Response:
        action_id = request.path_params["action_id"]
        form = await request.form()
        enabled = form.get("enabled") == "true"
        action = await console.call(ops_actions.set_enabled, target, action_id, enabled)
        return console.page(request, "_action_row.html", a=_row(action), counts={})

    async def delete(request: Request) -> Response:
        action_id = request.path_params["action_id"]
        await console.call(ops_actions.remove, target, [action_id])
        return RedirectResponse(f"/actions?done=removed+{action_id}", status_code=303)

    async def new(request: Request) -> Response:
        kind = request.query_params.get("type", "insert_bucket")
        if kind not in ACTION_TYPES:
            raise UsageError(f"no action type {kind!r}", hint="one of " + ", ".join(ACTION_TYPES))
        return console.page(
            request, "action_form.html", form=forms.empty(kind), original="", errors={}
        )

    async def edit(request: Request) -> Response:
        action = await console.call(ops_actions.get, target, request.path_params["action_id"])
        values = forms.from_config(ops_actions.masked_config(action))
        return console.page(request, "action_form.html", form=values, original=action.id, errors={})

    async def save(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        original = form.get("original") or None
        try:
            data = forms.to_config(form)
            action = await console.call(ops_actions.save, target, data, replaces=original)
        except UsageError as exc:
            if isinstance(exc, NotFoundError):
                raise
            placed = forms.problems_by_field(exc.problems, form.get("type", ""))
            return console.page(
                request,
                "action_form.html",
                400,
                form=form,
                original=original or "",
                errors=placed,
                message=exc.message,
                problems=[text for texts in placed.values() for text in texts],
            )
        return RedirectResponse(f"/actions?done=saved+{action.id}", status_code=303)

    async def yaml_page(request: Request) -> Response:
        action_id = request.query_params.get("id")
        text = "id: my-action\ntopics: [home/+/temperature]\ntype: insert_bucket\n"
        if action_id:
            action = await console.call(ops_actions.get, target, action_id)
            text = forms.to_yaml(ops_actions.masked_config(action))
        return console.page(
            request, "action_yaml.html", text=text, original=action_id or "", errors={}
        )

    async def yaml_save(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        original = form.get("original") or None
        text = form.get("yaml", "")
        try:
            data = forms.from_yaml(text)
            action = await console.call(ops_actions.save, target, data, replaces=original)
        except UsageError as exc:
            if isinstance(exc, NotFoundError):
                raise
            return console.page(
                request,
                "action_yaml.html",
                400,
                text=text,
                original=original or "",
                message=exc.message,
                problems=exc.problems,
            )
        return RedirectResponse(f"/actions?done=saved+{action.id}", status_code=303)

    async def dry_run(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        result = await console.call(
            ops_actions.dryrun,
            target,
            form.get("topic", ""),
            form.get("payload", "").encode("utf-8"),
            device=form.get("device") or ops_actions.TEST_DEVICE,
        )
        from mqtt_actions_cli.cmd_actions import render_test

        return console.page(request, "_test.html", result=result, text=render_test(result))

    async def export(_request: Request) -> Response:
        text = await console.call(ops_actions.export, target)
        return PlainTextResponse(
            text,
            media_type="application/yaml",
            headers={"Content-Disposition": 'attachment; filename="actions.yaml"'},
        )

    return [
        Route("/actions", table),
        Route("/actions/new", new),
        Route("/actions/save", save, methods=["POST"]),
        Route("/actions/yaml", yaml_page),
        Route("/actions/yaml", yaml_save, methods=["POST"]),
        Route("/actions/test", dry_run, methods=["POST"]),
        Route("/actions/export", export),
        Route("/actions/{action_id}/edit", edit),
        Route("/actions/{action_id}/enabled", toggle, methods=["POST"]),
        Route("/actions/{action_id}/delete", delete, methods=["POST"]),
    ]


def _row(action: Action) -> dict[str, Any]:
    return {
        "id": action.id,
        "name": action.name or "",
        "type": action.type,
        "topics": ", ".join(action.topics),
        "enabled": action.enabled,
        "when": ops_actions.when_text(action),
        "rate": ops_actions.rate_text(action),
    }


# ---------------------------------------------------------------------------- devices


_SAFE_FILE = re.compile(r"[^A-Za-z0-9._-]+")


def _devices(console: Console) -> list[BaseRoute]:
    target = console.target

    async def listing(request: Request) -> Response:
        since, since_ms = _since(request, "1d")
        found = await console.call(devices.overview, target, since_ms=since_ms)
        try:
            with_tokens = await console.call(tokens.list_devices, target)
            tokens_error = None
        except CliError as exc:
            with_tokens, tokens_error = [], exc  # a stack deployed without the tokens table
        known = {d.device for d in found.devices}
        others = [d for d in with_tokens if d["device"] not in known]
        return console.page(
            request,
            "devices.html",
            seen=found.devices,
            refused=found.refused,
            by_stack=found.published_by_stack,
            registered={d["device"]: d for d in with_tokens},
            others=others,
            tokens_error=tokens_error,
            since=since,
            message=request.query_params.get("done"),
        )

    async def device(request: Request) -> Response:
        name = request.path_params["device"]
        q = request.query_params
        since, since_ms = _since(request, "1h")
        until_text = q.get("until") or ""
        until_ms = parse_when(until_text, option="until") if until_text else None
        page = await console.call(
            bucket.query, target, name, since_ms=since_ms, until_ms=until_ms, limit=PAGE_ROWS
        )
        chart_rows = await console.call(
            bucket.query, target, name, since_ms=since_ms, until_ms=until_ms, limit=2000
        )
        history = await console.call(devices.history, target, name, since_ms=since_ms - 86_400_000)
        parser = await console.call(parsers.status, target, name, since_ms=since_ms - 86_400_000)
        from mqtt_actions_cli.console.device_admin import token_status

        token_state = await token_status(console, name)
        from mqtt_actions_cli.console.tagoio_views import profile_of

        profile = await profile_of(console, name)
        older = page.points[-1]["time_ms"] - 1 if len(page.points) == PAGE_ROWS else None
        return console.page(
            request,
            "device.html",
            device=name,
            points=page.points,
            series=_series(chart_rows.points),
            history=history,
            parser=parser,
            since=since,
            until=until_text,
            older=older,
            topic_of=topic_of,
            token_state=token_state,
            profile=profile,
            message=q.get("done"),
        )

    async def download(request: Request) -> Response:
        name = request.path_params["device"]
        q = request.query_params
        _text, since_ms = _since(request, "1h")
        until_ms = parse_when(q["until"], option="until") if q.get("until") else None
        page = await console.call(
            bucket.query, target, name, since_ms=since_ms, until_ms=until_ms, limit=10_000
        )
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["time", "variable", "value", "unit", "topic"])
        for p in page.points:
            value = p.get("value")
            writer.writerow(
                [
                    p["time_iso"],
                    _csv_safe(p.get("variable")),
                    _csv_safe(value if not isinstance(value, dict | list) else json.dumps(value)),
                    _csv_safe(p.get("unit")),
                    _csv_safe(topic_of(p)),
                ]
            )
        filename = _SAFE_FILE.sub("_", name) or "device"
        return PlainTextResponse(
            out.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )

    return [
        Route("/devices", listing),
        Route("/devices/{device}/csv", download),
        Route("/devices/{device}", device),
    ]


def _csv_safe(value: Any) -> str:
    """Text a spreadsheet shows as text: a leading = + - @ would make it a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _series(points: list[dict[str, Any]]) -> dict[str, list[list[float]]]:
    """Numeric variables as [[seconds...], [values...]], oldest first (uPlot's shape)."""
    found: dict[str, list[tuple[float, float]]] = {}
    for p in points:
        value = p.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        found.setdefault(str(p.get("variable")), []).append((p["time_ms"] / 1000, float(value)))
    return {
        name: [[t for t, _ in sorted(rows)], [v for _, v in sorted(rows)]]
        for name, rows in found.items()
    }


# ---------------------------------------------------------------------------- dead letters


def _dead_letters(console: Console) -> list[BaseRoute]:
    async def show(request: Request, **context: Any) -> Response:
        letters = await console.call(dlq.list_letters, console.target)
        return console.page(
            request,
            "dlq.html",
            letters=letters,
            payload_of={d.message_id: payloads.from_base64(d.payload) for d in letters},
            words=dlq.STATUS_WORDS,
            **({"report": None} | context),
        )

    async def page(request: Request) -> Response:
        return await show(request)

    async def replay(request: Request) -> Response:
        form = await request.form()
        ids = [str(v) for v in form.getlist("id")] if form.get("all") != "true" else None
        report = await console.call(dlq.replay, console.target, ids)
        return await show(request, report=report)

    async def discard(request: Request) -> Response:
        # "Discard all" sends the ids the page listed: one that arrived since is kept.
        ids = [str(v) for v in (await request.form()).getlist("id")]
        done = await console.call(dlq.discard, console.target, ids)
        n = len(done.discarded)
        said = f"discarded {n} dead letter{'' if n == 1 else 's'}: " + ", ".join(done.discarded)
        return await show(request, message=said)

    return [
        Route("/dlq", page),
        Route("/dlq/replay", replay, methods=["POST"]),
        Route("/dlq/discard", discard, methods=["POST"]),
    ]


# ---------------------------------------------------------------------------- outbox, publish


def _outbox_and_publish(console: Console) -> list[BaseRoute]:
    async def outbox_page(request: Request) -> Response:
        kind = request.query_params.get("kind") or None
        items = await console.call(outbox.list_items, console.target, kind=kind)
        return console.page(
            request,
            "outbox.html",
            items=list(reversed(items)),
            kind=kind or "",
            kinds=outbox.KINDS,
            masked=_masked_headers,
        )

    async def publish_page(request: Request) -> Response:
        return console.page(request, "publish.html", form={"qos": "0"}, result=None)

    async def publish_send(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        try:
            qos = int(form.get("qos", "0"))
        except ValueError:
            qos = -1
        try:
            result = await console.call(
                publish.publish,
                console.target,
                form.get("topic", ""),
                form.get("payload", "").encode("utf-8"),
                qos=qos,
                retain=form.get("retain") == "on",
                client_id=form.get("client_id") or None,
                username=form.get("username") or None,
                password=form.get("password") or None,
            )
        except CliError as exc:  # said on the form, the typed message kept
            form.pop("password", None)
            return console.page(
                request, "publish.html", form=form, result=None, error=exc, status=error_status(exc)
            )
        return console.page(request, "publish.html", form=form, result=result)

    return [
        Route("/outbox", outbox_page),
        Route("/publish", publish_page),
        Route("/publish", publish_send, methods=["POST"]),
    ]


def _masked_headers(headers: Any) -> dict[str, str]:
    if not isinstance(headers, dict):
        return {}
    return {str(k): ops_actions.mask(str(v)) for k, v in headers.items()}
