"""moto's server, watched: every request that may change something is reported, with the
DynamoDB tables it writes, so the local stack knows when to save its state and when the actions
changed (the router's change marker). Requests from the CLI, the console and your own tools
come this way; the handlers' own calls go to moto in-process and are seen by the stack itself."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable
from typing import Any, Final

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from mqtt_actions_cli.local.http_guard import HostGuard, own_hosts

DYNAMODB_WRITES: Final = frozenset(
    {"PutItem", "DeleteItem", "UpdateItem", "BatchWriteItem", "TransactWriteItems"}
)
# Calls that change nothing saved (DynamoDB reads; SQS and others are all counted as writes).
DYNAMODB_READS: Final = frozenset(
    {"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "ExecuteStatement"}
)

OnWrite = Callable[[frozenset[str]], None]  # the DynamoDB tables written (empty: other writes)

# moto's backends are not thread-safe, and two kinds of threads reach them: the server's, one per
# request (the CLI, the console, your tools), and the handlers' in-process calls (moto's botocore
# hook, one worker thread per function). A Query that iterated a table while a handler's PutItem
# added to it failed with "dictionary changed size during iteration": a 500 and a traceback in
# the stack's log, hidden by boto3's retry. Every call into moto holds this lock; moto builds
# each answer whole inside the call, so the lock covers it.
MOTO_LOCK: Final = threading.RLock()


def written_tables(operation: str, body: bytes) -> frozenset[str]:
    """The tables a DynamoDB write request names (an ARN counts by its table name)."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return frozenset()
    if not isinstance(request, dict):
        return frozenset()
    names: list[Any] = []
    if operation == "BatchWriteItem":
        names = list(request.get("RequestItems") or {})
    elif operation == "TransactWriteItems":
        for item in request.get("TransactItems") or []:
            for part in item.values() if isinstance(item, dict) else ():
                if isinstance(part, dict):
                    names.append(part.get("TableName"))
    else:
        names = [request.get("TableName")]
    return frozenset(str(n).rpartition("/")[2] for n in names if n)


class _Watch:
    """WSGI middleware: reports writes, then hands the request on unchanged, under MOTO_LOCK."""

    def __init__(self, app: Any, on_write: OnWrite) -> None:
        self._app = app
        self._on_write = on_write

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        service, _, operation = target.rpartition(".")
        if service.startswith("DynamoDB"):
            if operation in DYNAMODB_WRITES:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = environ["wsgi.input"].read(length) if length else b""
                environ["wsgi.input"] = io.BytesIO(body)
                self._on_write(written_tables(operation, body))
            elif operation not in DYNAMODB_READS:
                self._on_write(frozenset())
        elif environ.get("REQUEST_METHOD") not in ("GET", "HEAD", "OPTIONS"):
            self._on_write(frozenset())
        with MOTO_LOCK:
            result: Iterable[bytes] = self._app(environ, start_response)
        return result


class WatchedMotoServer(ThreadedMotoServer):
    """moto's ThreadedMotoServer (5.x) with `_Watch` around its WSGI application, behind
    `HostGuard` (its own Host only, no web page, no CORS: issue #23)."""

    def __init__(self, ip_address: str, port: int, on_write: OnWrite) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self._on_write = on_write

    def _server_entry(self) -> None:  # upstream's, with the application wrapped
        app = HostGuard(_Watch(DomainDispatcherApplication(create_backend_app), self._on_write))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        app.hosts = own_hosts(self._ip_address, self._server.server_port)  # port 0: the bound one
        self._server_ready_event.set()
        self._server.serve_forever()


class _Serialized:
    """moto's in-process botocore hook, called under MOTO_LOCK."""

    def __init__(self, hook: Callable[..., Any]) -> None:
        self.hook = hook

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with MOTO_LOCK:
            return self.hook(*args, **kwargs)


def serialize_in_process() -> Callable[[], None]:
    """Put moto's in-process hook under MOTO_LOCK for every botocore session created from now on
    (the handlers build theirs at their first event); returns the undo."""
    from botocore.handlers import BUILTIN_HANDLERS
    from moto.core.models import botocore_stubber

    plain = ("before-send", botocore_stubber)
    locked = ("before-send", _Serialized(botocore_stubber))
    at = BUILTIN_HANDLERS.index(plain)
    BUILTIN_HANDLERS[at] = locked

    def undo() -> None:
        if locked in BUILTIN_HANDLERS:
            BUILTIN_HANDLERS[BUILTIN_HANDLERS.index(locked)] = plain

    return undo
