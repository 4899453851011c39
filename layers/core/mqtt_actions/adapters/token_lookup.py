"""Which device owns a TagoIO-style device token: one GetItem on the device tokens table.

The table (issue #15, env DEVICE_TOKENS_TABLE) keys each token by `tokenHash`, the lowercase hex
SHA-256 of the token's UTF-8 bytes, and names its device in `device`: the token itself is never
stored, so it is never read either.
"""

from __future__ import annotations

from typing import Any


class DynamoDeviceTokens:
    """Implements `mqtt_actions.tagoio.DeviceTokenLookup` over the device tokens table."""

    def __init__(self, table: str, client: Any) -> None:
        self._table = table
        self._client = client

    def device_for(self, token_hash: str) -> str | None:
        answer = self._client.get_item(
            TableName=self._table,
            Key={"tokenHash": {"S": token_hash}},
            ProjectionExpression="#device",
            ExpressionAttributeNames={"#device": "device"},
        )
        device = answer.get("Item", {}).get("device", {}).get("S")
        return device if isinstance(device, str) and device else None
