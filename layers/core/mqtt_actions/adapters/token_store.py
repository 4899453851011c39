"""Device tokens in DynamoDB (DeviceTokensTable): partition key `tokenHash`, GSI `ByDevice`.

Item: tokenHash (S), device (S), publish / subscribe (L of S), createdAt (N, ms), and when set
revokedAt, lastSeen (N, ms) and lastClientId (S). The authorizer reads one item per connect
(GetItem, strongly consistent, so a revoke counts from the next connect on)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mqtt_actions.tokens import TokenRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef
    from mypy_boto3_iot_data import IoTDataPlaneClient

BY_DEVICE = "ByDevice"


def _record(item: dict[str, Any]) -> TokenRecord:
    def number(key: str) -> int | None:
        value = item.get(key, {}).get("N")
        return int(value) if value is not None else None

    def texts(key: str) -> tuple[str, ...]:
        return tuple(v["S"] for v in item.get(key, {}).get("L", []) if "S" in v)

    return TokenRecord(
        device=item["device"]["S"],
        publish=texts("publish"),
        subscribe=texts("subscribe"),
        created_at=number("createdAt") or 0,
        revoked_at=number("revokedAt"),
        last_seen=number("lastSeen"),
        last_client_id=item.get("lastClientId", {}).get("S"),
    )


class DynamoTokenStore:
    def __init__(self, table: str, client: DynamoDBClient) -> None:
        self._table = table
        self._client = client

    def get(self, token_hash: str) -> TokenRecord | None:
        item = self._client.get_item(
            TableName=self._table, Key={"tokenHash": {"S": token_hash}}, ConsistentRead=True
        ).get("Item")
        return _record(item) if item else None

    def device_for(self, token_hash: str) -> str | None:
        """The device a live (not revoked) token belongs to: `Device({"token"})` in analyses."""
        record = self.get(token_hash)
        return record.device if record is not None and record.revoked_at is None else None

    def add(self, token_hash: str, record: TokenRecord) -> bool:
        item: dict[str, AttributeValueTypeDef] = {
            "tokenHash": {"S": token_hash},
            "device": {"S": record.device},
            "publish": {"L": [{"S": f} for f in record.publish]},
            "subscribe": {"L": [{"S": f} for f in record.subscribe]},
            "createdAt": {"N": str(record.created_at)},
        }
        if record.revoked_at is not None:
            item["revokedAt"] = {"N": str(record.revoked_at)}
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(tokenHash)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def by_device(self, device: str) -> list[tuple[str, TokenRecord]]:
        return self._pages(
            "query",
            IndexName=BY_DEVICE,
            KeyConditionExpression="device = :d",
            ExpressionAttributeValues={":d": {"S": device}},
        )

    def all(self) -> list[tuple[str, TokenRecord]]:
        return self._pages("scan")

    def _pages(self, operation: str, **kwargs: Any) -> list[tuple[str, TokenRecord]]:
        out: list[tuple[str, TokenRecord]] = []
        call = getattr(self._client, operation)
        while True:
            page = call(TableName=self._table, **kwargs)
            out += [(item["tokenHash"]["S"], _record(item)) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def revoke(self, token_hash: str, at_ms: int) -> None:
        self._client.update_item(
            TableName=self._table,
            Key={"tokenHash": {"S": token_hash}},
            UpdateExpression="SET revokedAt = if_not_exists(revokedAt, :t)",
            ConditionExpression="attribute_exists(tokenHash)",
            ExpressionAttributeValues={":t": {"N": str(at_ms)}},
        )

    def touch(self, token_hash: str, at_ms: int, client_id: str | None) -> None:
        values: dict[str, Any] = {":t": {"N": str(at_ms)}}
        update = "SET lastSeen = :t"
        if client_id:
            update += ", lastClientId = :c"
            values[":c"] = {"S": client_id}
        self._client.update_item(
            TableName=self._table,
            Key={"tokenHash": {"S": token_hash}},
            UpdateExpression=update,
            ConditionExpression="attribute_exists(tokenHash)",
            ExpressionAttributeValues=values,
        )


class IotDataConnections:
    """ConnectionCloser over iot-data DeleteConnection (locally the control API answers it)."""

    def __init__(self, client: IoTDataPlaneClient) -> None:
        self._client = client

    def close(self, client_id: str) -> bool:
        try:
            self._client.delete_connection(clientId=client_id)
        except self._client.exceptions.ResourceNotFoundException:
            return False
        return True
