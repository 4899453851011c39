"""The control API's read routes, `POST /ops/{operation}` with the parameters as a JSON object:
the read commands' operations, run in the stack, which holds boto3, pydantic and moto already.

`mqtt-actions bucket query`, `inspect` and `actions list` on the local stack send their request
here (reads.py) instead of importing boto3 and pydantic and building clients of their own: half
of their second was that. Each route calls the ops function the command would have called and
answers its result as JSON, so the output is the same byte for byte; an error is answered as
`{"error", "problems", "hint", "kind"}` (kind: the CliError's class name) with the status the
console gives it, and the command raises it again word for word (target.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from mqtt_actions_cli.errors import CliError, NotFoundError, UsageError, http_status
from mqtt_actions_cli.local.output import log
from mqtt_actions_cli.reads import (
    ACTIONS_LIST,
    BUCKET_QUERY,
    INSPECTOR_QUERY,
    actions_listing_here,
    bucket_page_here,
)
from mqtt_actions_cli.target import Target

Answer = tuple[int, dict[str, Any]]
Route = Callable[[Target, Mapping[str, Any]], dict[str, Any]]


def _bucket_query(target: Target, params: Mapping[str, Any]) -> dict[str, Any]:
    return bucket_page_here(
        target,
        _text(params, "device"),
        variable=_optional_text(params, "variable"),
        since_ms=_optional_int(params, "since_ms"),
        until_ms=_optional_int(params, "until_ms"),
        limit=_int(params, "limit", 50),
    )


def _actions_list(target: Target, params: Mapping[str, Any]) -> dict[str, Any]:
    return actions_listing_here(target)


def _inspector_query(target: Target, params: Mapping[str, Any]) -> dict[str, Any]:
    from mqtt_actions_cli.ops import inspector

    types = params.get("types")
    if types is not None and not (
        isinstance(types, list) and all(isinstance(t, str) for t in types)
    ):
        raise UsageError("types must be a list of entry types or null")
    entries = inspector.query(
        target,
        device=_optional_text(params, "device"),
        types=types,
        since_ms=_int(params, "since_ms", 0),
        until_ms=_optional_int(params, "until_ms"),
        limit=_int(params, "limit", 100),
    )
    return {"entries": [e.model_dump(mode="json") for e in entries]}


ROUTES: Final[Mapping[str, Route]] = {
    BUCKET_QUERY: _bucket_query,
    ACTIONS_LIST: _actions_list,
    INSPECTOR_QUERY: _inspector_query,
}


def answer(target: Target, operation: str, params: Any) -> Answer:
    """(HTTP status, JSON body) of `operation` run with `params` on `target`."""
    route = ROUTES.get(operation)
    if route is None:
        known = ", ".join(sorted(ROUTES))
        missing = NotFoundError(f"no operation {operation!r}", hint=f"POST /ops/ one of {known}")
        return _error(missing, http_status(missing))
    if not isinstance(params, dict):
        return _error(UsageError(f"the body of POST /ops/{operation} is not a JSON object"), 400)
    try:
        return 200, route(target, params)
    except CliError as exc:
        return _error(exc, http_status(exc))
    except Exception as exc:
        from mqtt_actions_cli.main import aws_error

        mapped = aws_error(exc)
        if mapped is not None:  # what the command prints when it calls AWS itself
            return _error(CliError(mapped[0], hint=mapped[1]), 502)
        log.exception("control API: POST /ops/%s failed", operation)
        message = f"the local stack failed to run {operation}: {type(exc).__name__}: {exc}"
        return _error(CliError(message, hint="see the local stack's log"), 500)


def _error(exc: CliError, status: int) -> Answer:
    body = {
        "error": exc.message,
        "problems": exc.problems,
        "hint": exc.hint,
        "kind": type(exc).__name__,
    }
    return status, body


def _text(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise UsageError(f"{name} must be a non-empty string", hint=f"send {name!r} in the body")
    return value


def _optional_text(params: Mapping[str, Any], name: str) -> str | None:
    return None if params.get(name) is None else _text(params, name)


def _int(params: Mapping[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be a whole number, not {value!r}")
    return value


def _optional_int(params: Mapping[str, Any], name: str) -> int | None:
    return None if params.get(name) is None else _int(params, name, 0)
