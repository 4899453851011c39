"""`ControlApi.read` (reads.py's transport): what a read route answers comes back as the same
error, word for word, and what is not a read route's answer is said plainly. Against a fake
control API on 127.0.0.1 (the real routes: tests/e2e/test_cli_reads.py)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from mqtt_actions_cli import target as target_module
from mqtt_actions_cli.errors import CliError, NotFoundError, TargetError, UsageError
from mqtt_actions_cli.target import ControlApi
from tests.support.http_servers import send_json, serving

RELEASE = threading.Event()  # the stuck handler waits on it (bounded), released at teardown


class _Fake(http.server.BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, tuple[int, Any]]] = {}

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/ops/stuck":  # answers nothing: the client has given up by then
            RELEASE.wait(10)
            self.close_connection = True
            return
        status, value = self.answers.get(self.path, (404, {"error": f"no route POST {self.path}"}))
        send_json(self, status, value)


@pytest.fixture
def api() -> Iterator[ControlApi]:
    RELEASE.clear()
    with serving(_Fake) as port:
        try:
            yield ControlApi(port)
        finally:
            RELEASE.set()


def _answer(path: str, status: int, value: Any) -> None:
    _Fake.answers = {path: (status, value)}


@pytest.mark.parametrize(
    ("kind", "status", "raised"),
    [
        ("UsageError", 400, UsageError),
        ("NotFoundError", 404, NotFoundError),
        ("TargetError", 502, TargetError),
        ("CliError", 500, CliError),
    ],
)
def test_an_answered_error_is_raised_again_as_it_was(
    api: ControlApi, kind: str, status: int, raised: type[CliError]
) -> None:
    sent = {"error": "limit 0 is out of range", "problems": ["a", "b"], "hint": "use 1-10000"}
    _answer("/ops/bucket.query", status, {**sent, "kind": kind})
    with pytest.raises(CliError) as caught:
        api.read("bucket.query", {"device": "d"})
    assert type(caught.value) is raised
    error = caught.value
    assert (error.message, error.problems, error.hint) == (
        sent["error"],
        sent["problems"],
        sent["hint"],
    )


def test_a_stack_from_before_the_read_routes_says_restart_it(api: ControlApi) -> None:
    _answer("/elsewhere", 200, {})
    with pytest.raises(TargetError) as caught:
        api.read("actions.list", {})
    assert "HTTP 404: no route POST /ops/actions.list" in caught.value.message
    assert "restart it with `make run`" in caught.value.hint


def test_an_answer_that_is_not_an_object_is_said(api: ControlApi) -> None:
    _answer("/ops/actions.list", 200, ["not", "an", "object"])
    with pytest.raises(TargetError, match=r"POST /ops/actions\.list is not a JSON object"):
        api.read("actions.list", {})


def test_a_stack_that_does_not_answer_in_time_is_not_called_missing(
    api: ControlApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(target_module, "READ_TIMEOUT", 0.2)
    with pytest.raises(TargetError) as caught:
        api.read("stuck", {})
    assert "did not answer POST /ops/stuck" in caught.value.message
    assert "no local stack" not in caught.value.message
