"""The handlers' iot-data and Lambda calls, answered in this process: the transport, not the code.

The handlers reach iot-data and Lambda through `AWS_ENDPOINT_URL_IOT_DATA_PLANE` /
`AWS_ENDPOINT_URL_LAMBDA`, set to the control API's URL (as on AWS, boto3 signs and serializes
each call). Over HTTP, every such call cost a socket round trip and a hand-off to the control
server's thread, the calling handler waiting. This botocore `before-send` hook (the same hook
moto's in-process mock uses) takes a request addressed to the control API before it leaves the
process and runs the control API's own request handler on it in the calling thread: same routes,
same checks, same answers; the CLI, the console and your tools still reach it over HTTP.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from http.client import HTTPMessage
from typing import Any, Final

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.handlers import BUILTIN_HANDLERS

from mqtt_actions_cli.local.control import ControlServer

EVENT: Final = "before-send"
METHODS: Final = frozenset({"GET", "POST", "DELETE"})


class _Body(io.BytesIO):
    """What botocore reads a response from (`raw.stream()`)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        if chunk := self.read():
            yield chunk


class InProcessControl:
    """Registered for every botocore session created after `install()` (handlers build their
    clients on their first message); disabled again by `uninstall()`."""

    def __init__(self, server: ControlServer, url: str) -> None:
        self._exchange = server.in_process_exchange()
        self._prefix = url.rstrip("/") + "/"
        self.enabled = False
        self.answered = 0  # requests answered in-process (tests check the path is taken)

    def install(self) -> None:
        self.enabled = True
        if (EVENT, self) not in BUILTIN_HANDLERS:
            BUILTIN_HANDLERS.append((EVENT, self))

    def uninstall(self) -> None:
        self.enabled = False
        if (EVENT, self) in BUILTIN_HANDLERS:
            BUILTIN_HANDLERS.remove((EVENT, self))

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        if not self.enabled or request.method not in METHODS:
            return None
        if not request.url.startswith(self._prefix):
            return None
        target = request.url[len(self._prefix) - 1 :]
        headers = HTTPMessage()
        for name, value in request.headers.items():
            headers[name] = value if isinstance(value, str) else value.decode("latin-1")
        body = _bytes(request.body)
        if headers.get("Content-Length") is None:
            headers["Content-Length"] = str(len(body))
        status, reply_headers, reply = self._exchange(request.method, target, headers, body)
        self.answered += 1
        return AWSResponse(request.url, status, reply_headers, _Body(reply))  # type: ignore[arg-type]


def _bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return bytes(body.read())  # a file-like body (botocore streams large blobs)
