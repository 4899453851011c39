"""Actions in DynamoDB: one item per action (pk "ACTION", sk = action id, config = JSON,
fingerprint = its mark, so the router loads it without validating it again)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from mqtt_actions.actions import (
    Action,
    ActionsFileError,
    read_stored_action,
    stored_fingerprint,
)
from mqtt_actions.adapters.dynamo import put_items

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

logger = Logger(child=True)
PK = "ACTION"
MAX_TRANSACTION = 100


class DynamoActionsStore:
    def __init__(self, table: str, client: DynamoDBClient) -> None:
        self._table = table
        self._client = client
        # Ids the last load() validated in full (no mark, or a stale one): `actions apply`
        # rewrites them even when unchanged, so the router loads them fast from then on.
        self.unmarked: set[str] = set()

    def load(self) -> list[Action]:
        """Every stored action. One that no longer validates is logged as an error and skipped,
        so one bad row cannot stop every other action."""
        actions: list[Action] = []
        self.unmarked = set()
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": PK}},
        }
        while True:
            page = self._client.query(**kwargs)
            for item in page["Items"]:
                mark = item.get("fingerprint", {}).get("S")
                try:
                    action, marked = read_stored_action(item["config"]["S"], mark)
                    actions.append(action)
                    if not marked:
                        self.unmarked.add(item["sk"]["S"])
                except (ActionsFileError, ValueError, KeyError) as exc:
                    logger.error(
                        "stored action invalid; skipped",
                        extra={"action_id": item["sk"]["S"], "reason": str(exc)},
                    )
            if "LastEvaluatedKey" not in page:
                return actions
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def ids(self) -> list[str]:
        """Every stored action id, including rows that no longer validate (load() skips those)."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": PK}},
            "ProjectionExpression": "sk",
        }
        ids: list[str] = []
        while True:
            page = self._client.query(**kwargs)
            ids += [item["sk"]["S"] for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return ids
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def put_all(self, actions: Sequence[Action]) -> None:
        """Upsert validated actions (the caller validated the whole file first).

        Up to 100 actions are written in one transaction: all or none. Larger sets go in
        batches of 25 (DynamoDB's transaction limit is 100 items)."""
        items = [_item(a.id, a.model_dump_json()) for a in actions]
        if 0 < len(items) <= MAX_TRANSACTION:
            self._client.transact_write_items(
                TransactItems=[{"Put": {"TableName": self._table, "Item": it}} for it in items]
            )
        else:
            put_items(self._client, self._table, items, what="actions")

    def delete(self, action_id: str) -> bool:
        response = self._client.delete_item(
            TableName=self._table,
            Key={"pk": {"S": PK}, "sk": {"S": action_id}},
            ReturnValues="ALL_OLD",
        )
        return "Attributes" in response


def _item(action_id: str, config: str) -> dict[str, Any]:
    return {
        "pk": {"S": PK},
        "sk": {"S": action_id},
        "config": {"S": config},
        "fingerprint": {"S": stored_fingerprint(config)},
    }
