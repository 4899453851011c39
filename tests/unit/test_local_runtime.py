"""Lambda in-process: asynchronous invocations retry, then reach the OnFailure destination in
Lambda's record shape; synchronous ones return the result or the error."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions_cli.local.runtime import (
    FunctionError,
    FunctionNotFoundError,
    FunctionRuntime,
    LambdaContext,
)
from mqtt_actions_cli.local.template import FunctionSpec

DLQ = "http://queue/DeadLetterQueue"


def spec(name: str, retries: int = 2, env: dict[str, str] | None = None) -> FunctionSpec:
    return FunctionSpec(
        logical_id=name,
        code_dir=Path(),
        module_path=Path(),
        handler_name="handler",
        environment=env or {},
        max_retries=retries,
        on_failure_queue_url=DLQ,
    )


class Sent:
    def __init__(self) -> None:
        self.records: list[tuple[str, Mapping[str, Any]]] = []
        self.arrived = threading.Event()

    def __call__(self, url: str, record: Mapping[str, Any]) -> None:
        self.records.append((url, record))
        self.arrived.set()


def runtime(handler: Any, sent: Sent, retries: int = 2) -> FunctionRuntime:
    rt = FunctionRuntime(
        {"Fn": spec("Fn", retries)},
        send_to_queue=sent,
        retry_delays=(0.01, 0.02),
        handlers={"Fn": handler},
    )
    rt.start()
    return rt


def test_a_failing_async_invocation_is_retried_then_sent_to_the_on_failure_queue() -> None:
    calls: list[dict[str, Any]] = []

    def failing(event: dict[str, Any], context: LambdaContext) -> None:
        calls.append(event)
        raise ValueError("boom")

    sent = Sent()
    rt = runtime(failing, sent)
    try:
        rt.invoke_async("Fn", {"n": 1}, source="test")
        assert sent.arrived.wait(10)
    finally:
        rt.stop()
    assert calls == [{"n": 1}] * 3  # the first try and MaximumRetryAttempts (2) retries
    ((url, record),) = sent.records
    assert url == DLQ
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].endswith(":function:Fn:$LATEST")
    assert record["requestPayload"] == {"n": 1}
    assert record["responsePayload"]["errorMessage"] == "boom"
    assert record["responsePayload"]["errorType"] == "ValueError"


def test_an_invocation_that_succeeds_on_retry_is_not_dead_lettered() -> None:
    attempts = iter([ValueError("once"), None])

    def flaky(event: dict[str, Any], context: LambdaContext) -> str:
        error = next(attempts)
        if error is not None:
            raise error
        return "ok"

    sent = Sent()
    rt = runtime(flaky, sent)
    rt.invoke_async("Fn", {}, source="test")
    deadline = time.monotonic() + 10
    while not rt.idle() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rt.idle(), "the retries did not finish within 10 s"
    rt.stop()
    assert sent.records == []


def test_sync_invocation_returns_the_result_or_the_error() -> None:
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        if event.get("fail"):
            raise KeyError("missing")
        return {"echo": event, "remaining_ms": context.get_remaining_time_in_millis() > 0}

    rt = runtime(handler, Sent())
    try:
        assert rt.invoke_sync("Fn", {"a": 1}) == {"echo": {"a": 1}, "remaining_ms": True}
        arn = "arn:aws:lambda:us-east-1:123456789012:function:Fn:$LATEST"
        assert rt.invoke_sync(arn, {"b": 2})["echo"] == {"b": 2}
        with pytest.raises(FunctionError) as raised:
            rt.invoke_sync("Fn", {"fail": True})
        assert raised.value.payload["errorType"] == "KeyError"
        with pytest.raises(FunctionNotFoundError, match="the template has Fn"):
            rt.invoke_sync("Other", {})
    finally:
        rt.stop()


def test_each_function_runs_with_its_own_environment_then_it_is_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHARED", "process")
    monkeypatch.delenv("ONLY_A", raising=False)

    def seen(event: dict[str, Any], context: LambdaContext) -> dict[str, str | None]:
        return {key: os.environ.get(key) for key in ("SHARED", "ONLY_A")}

    rt = FunctionRuntime(
        {
            "A": spec("A", env={"SHARED": "a", "ONLY_A": "yes"}),
            "B": spec("B", env={"SHARED": "b"}),
        },
        send_to_queue=Sent(),
        handlers={"A": seen, "B": seen},
    )
    rt.start()
    try:
        assert rt.invoke_sync("A", {}) == {"SHARED": "a", "ONLY_A": "yes"}
        assert rt.invoke_sync("B", {}) == {"SHARED": "b", "ONLY_A": None}
    finally:
        rt.stop()
    assert os.environ["SHARED"] == "process"
    assert "ONLY_A" not in os.environ
