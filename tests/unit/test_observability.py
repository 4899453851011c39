"""Tracing is opt-in: the X-Ray SDK is imported only when DETAILED_TRACING=true."""

from __future__ import annotations

from typing import Any

import pytest

from mqtt_actions.observability import traced
from tests.support.lambda_env import LambdaContext, lambda_context


def Context() -> LambdaContext:  # noqa: N802 - stands for the class it replaced
    return lambda_context("f", aws_request_id="r")


@pytest.mark.parametrize("flag", ["true", "false", None])
def test_handler_runs_with_and_without_the_tracer(
    flag: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if flag is None:
        monkeypatch.delenv("DETAILED_TRACING", raising=False)
    else:
        monkeypatch.setenv("DETAILED_TRACING", flag)
    calls: list[Any] = []

    @traced
    def handler(event: Any, context: Any) -> dict[str, Any]:
        calls.append(event)
        return {"ok": event}

    assert handler({"n": 1}, Context()) == {"ok": {"n": 1}}
    assert handler({"n": 2}, Context()) == {"ok": {"n": 2}}
    assert calls == [{"n": 1}, {"n": 2}]
    assert handler.__name__ == "handler"
