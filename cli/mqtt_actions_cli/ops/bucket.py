"""A device's bucket: the data points insert_bucket actions stored, newest first."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from mqtt_actions.adapters.bucket import DynamoBucket
from mqtt_actions_cli.ops.defaults import BUCKET_MAX_LIMIT
from mqtt_actions_cli.ops.errors import UsageError
from mqtt_actions_cli.output import iso_ms
from mqtt_actions_cli.target import Target


class BucketPage(BaseModel):
    device: str
    points: list[dict[str, Any]]


def query(
    target: Target,
    device: str,
    *,
    variable: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    limit: int = 50,
) -> BucketPage:
    """At most `limit` points of `device` (one `variable`, or all) in [since, until], newest
    first; each with `time_ms` and `time_iso`."""
    if not 1 <= limit <= BUCKET_MAX_LIMIT:
        raise UsageError(f"limit {limit} is out of range", hint=f"use 1-{BUCKET_MAX_LIMIT}")
    if since_ms is not None and until_ms is not None and since_ms > until_ms:
        raise UsageError("since is after until", hint="swap them")
    bucket = DynamoBucket(target.output("BucketTableName"), target.client("dynamodb"))
    rows = bucket.query(
        device, variable=variable, since_ms=since_ms, until_ms=until_ms, limit=limit
    )
    return BucketPage(device=device, points=[_point(row) for row in rows])


def _point(row: dict[str, Any]) -> dict[str, Any]:
    point = {k: v for k, v in row.items() if k != "_time"}
    point["time_ms"] = row.get("_time")
    point["time_iso"] = iso_ms(row.get("_time"))
    return point
