"""Fixed-window rate limits as atomic DynamoDB counters (one item per action and window)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DynamoRateLimiter:
    def __init__(self, table: str, client: DynamoDBClient) -> None:
        self._table = table
        self._client = client

    def allow(
        self, action_id: str, max_count: int, per_seconds: int, now: float, count: int = 1
    ) -> bool:
        """Add `count` to the window's counter if the sum stays within `max_count`: one
        conditional UpdateItem (DynamoDB conditions cannot add, so the room left is compared)."""
        if count > max_count:
            return False
        window = int(now // per_seconds)
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"pk": {"S": f"RATE#{action_id}"}, "sk": {"S": str(window)}},
                UpdateExpression="ADD #c :one SET expires_at = :exp",
                ConditionExpression="attribute_not_exists(#c) OR #c <= :room",
                ExpressionAttributeNames={"#c": "count"},
                ExpressionAttributeValues={
                    ":one": {"N": str(count)},
                    ":room": {"N": str(max_count - count)},
                    ":exp": {"N": str((window + 2) * per_seconds)},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True
