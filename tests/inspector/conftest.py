"""The inspector suite's fixtures: moto (the integration suite's `aws_env`), the lifecycle handler
and the adapter. A test that uses moto is marked `integration`; the others are pure."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mqtt_actions.adapters.inspector import DynamoInspector
from tests.inspector.support import NOW_S
from tests.integration.conftest import Aws, aws_env
from tests.support.lambda_env import LambdaContext, lambda_context

__all__ = ["aws_env"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "aws_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)


def Context() -> LambdaContext:  # noqa: N802 - stands for the class it replaced
    return lambda_context("InspectorFunction")


Handler = Callable[[dict[str, Any]], dict[str, Any]]


@pytest.fixture
def handler(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Handler]:
    from functions.inspector import app

    monkeypatch.setenv("INSPECTOR_TABLE", aws_env.tables["InspectorTable"])
    monkeypatch.setenv("INSPECTOR_RETENTION_DAYS", "7")
    monkeypatch.setenv("DEAD_LETTER_QUEUE_URL", aws_env.queues["DeadLetterQueue"])
    app.settings.cache_clear()
    app.deps.cache_clear()
    app.refusals.cache_clear()

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = app.lambda_handler(event, Context())
        return result

    yield invoke
    app.settings.cache_clear()
    app.deps.cache_clear()


@pytest.fixture
def inspector(aws_env: Aws) -> DynamoInspector:
    return DynamoInspector(
        aws_env.tables["InspectorTable"], aws_env.dynamodb, retention_days=7, clock=lambda: NOW_S
    )
