"""Client id -> device bindings in DynamoDB (DeviceBindingsTable): partition key `clientId`, GSI
`ByDevice`, TTL `expiresAt` (s). Item: clientId, device, connectionId (S), boundAt (N, ms),
expiresAt (N, s), endedAt (N, ms; only once ended). DynamoDB deletes expired items within days,
so every read checks `expiresAt`.

The authorizer binds with one conditional PutItem (a client id held by another device's live
binding that has not ended is refused, atomically; an ended one is replaced); the inspector ends
a binding with one conditional UpdateItem setting `endedAt` when its connection's disconnect
event arrives (mqtt_actions.bindings.ends_binding). The ended item stays until it expires: it
still names the device of the connection's last messages (mqtt_actions.bindings)."""

from __future__ import annotations

from typing import Any

from mqtt_actions.bindings import Binding

BY_DEVICE = "ByDevice"


def _binding(item: dict[str, Any]) -> Binding:
    return Binding(
        client_id=item["clientId"]["S"],
        device=item["device"]["S"],
        connection_id=item.get("connectionId", {}).get("S", ""),
        bound_at_ms=int(item.get("boundAt", {}).get("N", "0")),
        expires_at_s=int(item.get("expiresAt", {}).get("N", "0")),
        ended_at_ms=int(item["endedAt"]["N"]) if "endedAt" in item else None,
    )


class DynamoBindingStore:
    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._client = client

    def get(self, client_id: str) -> Binding | None:
        item = self._client.get_item(
            TableName=self._table, Key={"clientId": {"S": client_id}}, ConsistentRead=True
        ).get("Item")
        return _binding(item) if item else None

    def bind(self, binding: Binding, now_s: int) -> Binding | None:
        """Record `binding` unless another device's live binding that has not ended holds the
        client id: then that binding is returned and nothing changes. The same device's binding
        is replaced (IoT Core closes its older connection: one per client id), and so is an
        ended or expired one."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    "clientId": {"S": binding.client_id},
                    "device": {"S": binding.device},
                    "connectionId": {"S": binding.connection_id},
                    "boundAt": {"N": str(binding.bound_at_ms)},
                    "expiresAt": {"N": str(binding.expires_at_s)},
                },
                ConditionExpression=(
                    "attribute_not_exists(clientId) OR device = :d OR expiresAt <= :now "
                    "OR attribute_exists(endedAt)"
                ),
                ExpressionAttributeValues={
                    ":d": {"S": binding.device},
                    ":now": {"N": str(now_s)},
                },
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            holder = self.get(binding.client_id)
            # Gone between the two calls: refuse this once anyway (the device reconnects).
            return holder if holder is not None else binding
        return None

    def end(self, client_id: str, *, bound_at_most_ms: int) -> bool:
        """Mark the binding of `client_id` ended at that time (its connection's disconnect) if
        it was recorded at or before it (a later one belongs to a newer connection) and has not
        ended yet; True when it was marked. The item stays until it expires."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"clientId": {"S": client_id}},
                UpdateExpression="SET endedAt = :t",
                ConditionExpression="boundAt <= :t AND attribute_not_exists(endedAt)",
                ExpressionAttributeValues={":t": {"N": str(bound_at_most_ms)}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def delete(self, client_id: str, device: str) -> bool:
        """Delete the binding of `client_id` if `device` holds it (revoke); True if deleted."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={"clientId": {"S": client_id}},
                ConditionExpression="device = :d",
                ExpressionAttributeValues={":d": {"S": device}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def by_device(self, device: str) -> list[Binding]:
        return self._pages(
            "query",
            IndexName=BY_DEVICE,
            KeyConditionExpression="device = :d",
            ExpressionAttributeValues={":d": {"S": device}},
        )

    def all(self) -> list[Binding]:
        return self._pages("scan")

    def _pages(self, operation: str, **kwargs: Any) -> list[Binding]:
        out: list[Binding] = []
        call = getattr(self._client, operation)
        while True:
            page = call(TableName=self._table, **kwargs)
            out += [_binding(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return out
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
