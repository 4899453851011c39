"""HTTP on 127.0.0.1:<control-port>: the control API the CLI uses, and the two AWS APIs the local
stack answers itself instead of moto, because their effect lives here:

Control (JSON):
  GET  /health                 {"ready": true, "idle": true}; idle: no function invocation
                               queued, running or waiting for a retry (tests wait on it)
  GET  /outputs                the template's outputs, resolved locally, plus the endpoints
  GET  /outbox                 SMS, e-mails and webhook calls captured
  GET  /trusted-client         {username, password} of the stack's own MQTT client: publishes
                               in any auth mode (`mqtt-actions publish`, the console)
  POST /invoke/{LogicalId}     run that function's handler now with the body as event -> result
  POST /ops/{operation}        a read command's operation run here (bucket.query, inspector.query,
                               actions.list; the body: its parameters) -> its result as JSON,
                               so the command imports no boto3 (ops_routes.py, reads.py)

AWS (boto3 reaches them through AWS_ENDPOINT_URL_IOT_DATA_PLANE / AWS_ENDPOINT_URL_LAMBDA):
  POST /topics/{topic}?qos=&retain=            iot-data Publish -> the local broker (+ rules)
  GET  /retainedMessage                        iot-data ListRetainedMessages (one page: all)
  GET  /retainedMessage/{topic}                iot-data GetRetainedMessage
  DELETE /connections/{clientId}               iot-data DeleteConnection -> the broker closes it
  POST /2015-03-31/functions/{name}/invocations   Lambda Invoke (Event or RequestResponse)
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import threading
from collections.abc import Callable
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from mqtt_actions_cli.local.http_guard import own_hosts, refusal
from mqtt_actions_cli.local.output import log
from mqtt_actions_cli.local.runtime import FunctionError, FunctionNotFoundError

if TYPE_CHECKING:
    from mqtt_actions_cli.target import Target

MAX_BODY: Final = 6 * 1024 * 1024  # Lambda's synchronous payload limit
_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


class PublishRefusedError(ValueError):
    """iot-data would refuse this publish; `code` is the AWS error code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class ControlApp(Protocol):
    """What the control server needs from the running stack."""

    @property
    def ready(self) -> bool: ...

    @property
    def idle(self) -> bool: ...

    def outputs(self) -> dict[str, Any]: ...

    def outbox(self) -> list[dict[str, Any]]: ...

    def trusted_client(self) -> dict[str, str]: ...

    def invoke_sync(self, name: str, event: Any) -> Any: ...

    def ops_target(self) -> Target:
        """The stack itself as the ops functions take it (the read routes run them on it)."""
        ...

    def invoke_async(self, name: str, event: Any) -> None: ...

    def iot_publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        user_properties: list[tuple[str, str]],
    ) -> None: ...

    def retained(self, topic: str) -> dict[str, Any] | None: ...

    def retained_topics(self) -> list[dict[str, Any]]: ...

    def disconnect(self, client_id: str) -> bool: ...


def _user_properties(header: str | None) -> list[tuple[str, str]]:
    """The x-amz-mqtt5-user-properties header: base64 of a JSON list of one-key objects."""
    if not header:
        return []
    try:
        decoded = json.loads(base64.b64decode(header, validate=True))
    except (binascii.Error, ValueError) as exc:
        msg = "x-amz-mqtt5-user-properties is not base64-encoded JSON"
        raise PublishRefusedError("InvalidRequestException", msg) from exc
    if isinstance(decoded, str):
        # boto3 JSON-encodes this parameter itself; a caller passing json.dumps([...]) sends a
        # JSON string holding the array. Accepted here so the message flows, but said loudly.
        log.warning(
            "warn iot-data publish: userProperties arrived as a JSON string, not an array "
            "(pass the list itself to boto3, not json.dumps(...)); IoT Core may refuse it"
        )
        try:
            decoded = json.loads(decoded)
        except ValueError:
            decoded = None
    if not isinstance(decoded, list) or not all(isinstance(p, dict) for p in decoded):
        msg = "userProperties must be a JSON array of objects"
        raise PublishRefusedError("InvalidRequestException", msg)
    return [(str(k), str(v)) for prop in decoded for k, v in prop.items()]


class _Handler(BaseHTTPRequestHandler):
    server_version = "mqtt-actions-local"
    protocol_version = "HTTP/1.1"
    app: ControlApp  # set on the subclass made per server
    hosts: frozenset[str] = frozenset()  # the Host values it answers to (set once bound)

    def log_message(self, format: str, *args: Any) -> None:
        return  # one line per request would drown the stack's own log

    # -- plumbing
    def _refused(self) -> bool:
        """Answer a request from a web page or a foreign Host (http_guard), and close."""
        refused = refusal({k.lower(): v for k, v in self.headers.items()}, self.hosts)
        if refused is None:
            return False
        self.close_connection = True  # its body stays unread
        status, reason = refused
        self._json(status, {"error": reason}, headers={"Connection": "close"})
        return True

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise PublishRefusedError("RequestTooLargeException", "request body too large", 413)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value, default=str).encode("utf-8"), headers=headers)

    def _aws_error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"message": message}, headers={"x-amzn-ErrorType": code})

    # -- routes
    def do_GET(self) -> None:
        if self._refused():
            return
        parts = urlsplit(self.path)
        path = parts.path
        if path == "/health":
            self._json(200, {"ready": self.app.ready, "idle": self.app.idle})
        elif path == "/outputs":
            self._json(200, self.app.outputs())
        elif path == "/outbox":
            self._json(200, self.app.outbox())
        elif path == "/trusted-client":
            self._json(200, self.app.trusted_client())
        elif path == "/retainedMessage":
            self._json(200, {"retainedTopics": self.app.retained_topics()})
        elif path.startswith("/retainedMessage/"):
            topic = unquote(path[len("/retainedMessage/") :])
            found = self.app.retained(topic)
            if found is None:
                msg = f"No retained message found for topic {topic}"
                self._aws_error(404, "ResourceNotFoundException", msg)
                return
            found["payload"] = base64.b64encode(found["payload"]).decode("ascii")
            self._json(200, found)
        else:
            self._json(404, {"error": f"no route GET {path}"})

    def do_DELETE(self) -> None:
        if self._refused():
            return
        # iot-data DeleteConnection (DELETE /connections/{clientId}): `devices revoke` locally.
        path = urlsplit(self.path).path
        if not path.startswith("/connections/"):
            self._json(404, {"error": f"no route DELETE {path}"})
            return
        client_id = unquote(path[len("/connections/") :])
        if self.app.disconnect(client_id):
            self._json(200, {})
        else:
            self._aws_error(404, "ResourceNotFoundException", f"no client {client_id!r} connected")

    def do_POST(self) -> None:
        if self._refused():
            return
        parts = urlsplit(self.path)
        path = parts.path
        try:
            body = self._body()
            if path.startswith("/invoke/"):
                self._control_invoke(unquote(path[len("/invoke/") :]), body)
            elif path.startswith("/ops/"):
                self._ops(unquote(path[len("/ops/") :]), body)
            elif path.startswith("/topics/"):
                self._publish(unquote(path[len("/topics/") :]), parse_qs(parts.query), body)
            elif (match := _INVOKE.match(path)) is not None:
                self._lambda_invoke(unquote(match.group("name")), body)
            else:
                self._json(404, {"error": f"no route POST {path}"})
        except PublishRefusedError as exc:
            self._aws_error(exc.status, exc.code, exc.message)

    def _control_invoke(self, name: str, body: bytes) -> None:
        try:
            event = json.loads(body or b"{}")
        except ValueError as exc:
            self._json(400, {"error": f"the body is not JSON: {exc}"})
            return
        try:
            result = self.app.invoke_sync(name, event)
        except FunctionNotFoundError as exc:
            self._json(404, {"error": str(exc)})
        except FunctionError as exc:
            self._json(502, exc.payload)
        else:
            self._json(200, result)

    def _ops(self, operation: str, body: bytes) -> None:
        from mqtt_actions_cli.local import ops_routes

        try:
            params = json.loads(body or b"{}")
        except ValueError as exc:
            self._json(400, {"error": f"the body is not JSON: {exc}", "kind": "UsageError"})
            return
        status, answer = ops_routes.answer(self.app.ops_target(), operation, params)
        self._json(status, answer)

    def _publish(self, topic: str, query: dict[str, list[str]], body: bytes) -> None:
        qos_text = (query.get("qos") or ["0"])[0]
        retain = (query.get("retain") or ["false"])[0].lower() == "true"
        if qos_text not in ("0", "1"):
            raise PublishRefusedError(
                "InvalidRequestException", f"qos must be 0 or 1, not {qos_text}"
            )
        if not topic or "+" in topic or "#" in topic:
            raise PublishRefusedError("InvalidRequestException", f"invalid topic name {topic!r}")
        properties = _user_properties(self.headers.get("x-amz-mqtt5-user-properties"))
        self.app.iot_publish(topic, body, int(qos_text), retain, properties)
        self._json(200, {})

    def _lambda_invoke(self, name: str, body: bytes) -> None:
        kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        try:
            event = json.loads(body) if body else {}
        except ValueError:
            self._aws_error(400, "InvalidRequestContentException", "Could not parse request body")
            return
        try:
            if kind == "Event":
                self.app.invoke_async(name, event)
                self._send(202, headers={"X-Amz-Executed-Version": "$LATEST"})
                return
            if kind != "RequestResponse":
                msg = f"InvocationType {kind} is not supported locally (Event, RequestResponse)"
                self._aws_error(400, "InvalidParameterValueException", msg)
                return
            result = self.app.invoke_sync(name, event)
        except FunctionNotFoundError as exc:
            self._aws_error(404, "ResourceNotFoundException", str(exc))
            return
        except FunctionError as exc:
            self._json(
                200,
                exc.payload,
                headers={"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"},
            )
            return
        self._json(200, result, headers={"X-Amz-Executed-Version": "$LATEST"})


Exchange = Callable[[str, str, HTTPMessage, bytes], tuple[int, dict[str, str], bytes]]


class _InProcess(_Handler):
    """One request answered by the same handler without a socket: the request line and headers
    come parsed, the reply is collected (see in_process.py)."""

    def __init__(self, method: str, target: str, headers: HTTPMessage, body: bytes) -> None:
        # BaseHTTPRequestHandler.__init__ would read a socket: set what parse_request would.
        self.command, self.path, self.headers = method, target, headers
        self.request_version = self.protocol_version
        self.client_address = ("127.0.0.1", 0)
        self.reply = io.BytesIO()
        self.rfile, self.wfile = io.BytesIO(body), self.reply
        self.status = 500
        self.reply_headers: dict[str, str] = {}

    def _refused(self) -> bool:
        return False  # no socket: only the stack's own handlers call it, never a web page

    def send_response(self, code: int, message: str | None = None) -> None:
        self.status = code

    def send_header(self, keyword: str, value: str) -> None:
        self.reply_headers[keyword] = value

    def end_headers(self) -> None:
        return

    @classmethod
    def exchange(
        cls, method: str, target: str, headers: HTTPMessage, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        handler = cls(method, target, headers, body)
        getattr(handler, f"do_{method}")()
        return handler.status, handler.reply_headers, handler.reply.getvalue()


class ControlServer:
    def __init__(self, app: ControlApp, host: str, port: int) -> None:
        handler: type[_Handler] = type("Handler", (_Handler,), {"app": app})
        self._app = app
        self._server = ThreadingHTTPServer((host, port), handler)
        handler.hosts = own_hosts(host, self.port)
        self._server.daemon_threads = True
        self._started = False
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="control",
            daemon=True,
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def in_process_exchange(self) -> Exchange:
        """(method, path?query, headers, body) -> (status, headers, body), answered by the same
        request handler as the HTTP server's, in the calling thread."""
        handler: type[_InProcess] = type("InProcessHandler", (_InProcess,), {"app": self._app})
        return handler.exchange

    def start(self) -> None:
        self._thread.start()
        self._started = True
        log.debug("control API on port %d", self.port)

    def stop(self) -> None:
        if self._started:  # shutdown() waits for serve_forever: only when it runs
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
