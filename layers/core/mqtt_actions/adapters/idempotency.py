"""At most once per (traceid, action id), with Powertools idempotency on DynamoDB.

A failed run deletes its record, so a retry (or `dlq replay`) runs it again; a completed run
returns its stored result instead of sending twice. A run that never finished (the invocation
crashed) leaves its record in progress until that invocation's deadline (`register`): until then
another run of the key raises InProgressError, after it the key runs again.

Powertools' idempotency utility (and jmespath) is imported on the first `run_once`, not with this
module: a router whose messages only meet insert_bucket actions never needs it (cold start)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from mqtt_actions.ports import InProgressError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient


def _call(key: dict[str, str], work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    return work()


class PowertoolsOnce:
    def __init__(self, table: str, client: DynamoDBClient, expires_after_seconds: int) -> None:
        self._table = table
        self._client = client
        self._expires_after_seconds = expires_after_seconds
        self._context: LambdaContext | None = None
        self._config: IdempotencyConfig | None = None
        self._once: Callable[..., dict[str, Any]] | None = None
        self._in_progress: type[Exception] = Exception  # set with the guard, before first use

    def _guard(self) -> Callable[..., dict[str, Any]]:
        if self._once is None:
            from aws_lambda_powertools.utilities.idempotency import (
                DynamoDBPersistenceLayer,
                IdempotencyConfig,
                idempotent_function,
            )
            from aws_lambda_powertools.utilities.idempotency.exceptions import (
                IdempotencyAlreadyInProgressError,
            )

            self._in_progress = IdempotencyAlreadyInProgressError

            persistence = DynamoDBPersistenceLayer(
                table_name=self._table, boto3_client=self._client
            )
            self._config = IdempotencyConfig(
                event_key_jmespath="[traceid, action_id]",
                raise_on_no_idempotency_key=True,
                expires_after_seconds=self._expires_after_seconds,
            )
            if self._context is not None:
                self._config.register_lambda_context(self._context)
            guard = idempotent_function(
                data_keyword_argument="key",
                persistence_store=persistence,
                config=self._config,
                key_prefix="mqtt-actions.action",
            )
            self._once = guard(_call)
        return self._once

    def register(self, context: LambdaContext) -> None:
        """Lets an in-progress record expire with the invocation (Lambda's remaining time)."""
        self._context = context
        if self._config is not None:
            self._config.register_lambda_context(context)

    def run_once(
        self, key: Mapping[str, str], work: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        once = self._guard()
        try:
            return once(key=dict(key), work=work)
        except self._in_progress as exc:
            raise InProgressError(str(exc)) from exc
