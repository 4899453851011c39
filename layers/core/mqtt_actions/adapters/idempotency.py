"""At most once per (traceid, action id), with Powertools idempotency on DynamoDB.

A failed run deletes its record, so a retry (or `dlq replay`) runs it again; a completed run
returns its stored result instead of sending twice."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext


def _call(key: dict[str, str], work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return work()


class PowertoolsOnce:
    def __init__(self, table: str, client: Any, expires_after_seconds: int) -> None:
        persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=client)
        self._config = IdempotencyConfig(
            event_key_jmespath="[traceid, action_id]",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=expires_after_seconds,
        )

        guard = idempotent_function(
            data_keyword_argument="key",
            persistence_store=persistence,
            config=self._config,
            key_prefix="mqtt-actions.action",
        )
        self._once: Callable[..., dict[str, Any]] = guard(_call)

    def register(self, context: LambdaContext) -> None:
        """Lets an in-progress record expire with the invocation (Lambda's remaining time)."""
        self._config.register_lambda_context(context)

    def run_once(
        self, key: Mapping[str, str], work: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        return self._once(key=dict(key), work=work)
