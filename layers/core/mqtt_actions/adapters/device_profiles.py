"""The device registry in DynamoDB (DevicesTable): one item per device, partition key `device`.

Item: device (S), kind (S: token | certificate), createdAt / updatedAt (N, ms), tags (L of M
{key, value}), params (L of M {id, key, value, sent (BOOL)}), extra (M of S: settings other
features keep per device). Reads are strongly consistent (a `devices set` counts at once)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from mqtt_actions.device_profiles import DeviceParam, DeviceProfile

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DEVICES_TABLE: Final = "DEVICES_TABLE"


def _profile(item: Mapping[str, Any]) -> DeviceProfile:
    def number(key: str) -> int:
        return int(item.get(key, {}).get("N", "0"))

    def maps(key: str) -> list[Mapping[str, Any]]:
        return [v["M"] for v in item.get(key, {}).get("L", []) if "M" in v]

    return DeviceProfile(
        device=item["device"]["S"],
        kind=item.get("kind", {}).get("S", "token"),
        created_at=number("createdAt"),
        updated_at=number("updatedAt"),
        tags=tuple((m["key"]["S"], m["value"]["S"]) for m in maps("tags")),
        params=tuple(
            DeviceParam(
                m["id"]["S"], m["key"]["S"], m["value"]["S"], bool(m.get("sent", {}).get("BOOL"))
            )
            for m in maps("params")
        ),
        extra={k: v["S"] for k, v in item.get("extra", {}).get("M", {}).items() if "S" in v},
    )


def _item(profile: DeviceProfile) -> dict[str, Any]:
    return {
        "device": {"S": profile.device},
        "kind": {"S": profile.kind},
        "createdAt": {"N": str(profile.created_at)},
        "updatedAt": {"N": str(profile.updated_at)},
        "tags": {"L": [{"M": {"key": {"S": k}, "value": {"S": v}}} for k, v in profile.tags]},
        "params": {
            "L": [
                {
                    "M": {
                        "id": {"S": p.id},
                        "key": {"S": p.key},
                        "value": {"S": p.value},
                        "sent": {"BOOL": p.sent},
                    }
                }
                for p in profile.params
            ]
        },
        "extra": {"M": {k: {"S": v} for k, v in profile.extra.items()}},
    }


class DynamoDeviceProfiles:
    """`ports.DeviceRegistry` over one DynamoDB table."""

    def __init__(self, table: str, client: DynamoDBClient) -> None:
        self._table = table
        self._client = client

    def get(self, device: str) -> DeviceProfile | None:
        item = self._client.get_item(
            TableName=self._table, Key={"device": {"S": device}}, ConsistentRead=True
        ).get("Item")
        return _profile(item) if item else None

    def all(self) -> list[DeviceProfile]:
        out: list[DeviceProfile] = []
        kwargs: dict[str, Any] = {"TableName": self._table, "ConsistentRead": True}
        while True:
            page = self._client.scan(**kwargs)
            out += [_profile(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(out, key=lambda p: p.device)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def put(self, profile: DeviceProfile) -> None:
        self._client.put_item(TableName=self._table, Item=_item(profile))


def profiles_from_env(env: Mapping[str, str] | None = None) -> DynamoDeviceProfiles | None:
    """The registry named by DEVICES_TABLE (template.yaml: `!Ref DevicesTable`), or None when the
    function was not given it. The client is built here, on first use, not at import."""
    table = (env if env is not None else os.environ).get(DEVICES_TABLE, "")
    if not table:
        return None
    from mqtt_actions.adapters.aws import client

    return DynamoDeviceProfiles(table, client("dynamodb"))
