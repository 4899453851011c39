"""`Device({"token": ...})`: `sendData`, `getData`, `editData`, `deleteData` on the bucket of the
device that owns the token (tago-io/sdk-python `Device/Device.py`). The token is resolved through
the token store (its SHA-256) or as a delegation token; an unknown token is an error, never
another device's bucket."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from mqtt_actions.analysis import InvalidMessageError, NotConfiguredError
from mqtt_actions.tagoio import delegation
from mqtt_actions.tagoio.common import (
    BUCKET_TABLE,
    DEVICE_TOKENS_TABLE,
    BucketRows,
    TagoRun,
    UnknownTokenError,
    Unsupported,
    current,
    hint,
)
from mqtt_actions.tagoio_query import (
    SCAN_LIMIT,
    DataQueryError,
    Row,
    answer,
    matches,
    needs_all,
    parse_query,
)
from mqtt_actions.tokens import token_hash

# Fields TagoIO's API assigns on insert; a ported analysis forwarding scope points holds them.
SERVER_FIELDS = ("id", "origin", "device", "created_at")
_EDITABLE = ("value", "unit", "group", "metadata", "location", "time", "serie")


def now_ms(run: TagoRun) -> int:
    del run
    return int(time.time() * 1000)


def device_of_token(run: TagoRun, token: str, call: str) -> str:
    if delegation.is_delegation(token):
        device = delegation.device_for(token, now_ms(run))
        if device is None:
            raise UnknownTokenError(
                f"{call}: the delegation token {hint(token)} has expired or was issued by "
                "another container; ask Account.devices.tokenList / Utils.getTokenByName again"
            )
        return device
    lookup = run.stores.tokens()
    if lookup is None:
        raise NotConfiguredError(
            f"{call}: {DEVICE_TOKENS_TABLE} is not set, so the token names no device; add "
            f"`{DEVICE_TOKENS_TABLE}: !Ref DeviceTokensTable` (and dynamodb:GetItem on it) to "
            "the function's Environment (`mqtt-actions analyses add-tagoio` does)"
        )
    device = lookup.device_for(token_hash(token))
    if device is None:
        raise UnknownTokenError(
            f"{call}: no device has the token {hint(token)}, or it was revoked (looked up by its "
            f"SHA-256 in {DEVICE_TOKENS_TABLE}); give the device a token (`mqtt-actions devices "
            "create NAME --token`) or import TagoIO's (`mqtt-actions devices import-tokens "
            "FILE.csv`)"
        )
    return device


def rows_store(run: TagoRun, call: str) -> BucketRows:
    store = run.stores.rows()
    if store is None:
        raise NotConfiguredError(
            f"{call} needs {BUCKET_TABLE}: add `{BUCKET_TABLE}: !Ref BucketTable` (and "
            "dynamodb:Query on it) to the function's Environment"
        )
    return store


def send_data(run: TagoRun, device: str, data: object) -> str:
    if isinstance(data, Mapping):
        batch: list[Any] = [data]
    elif isinstance(data, Sequence) and not isinstance(data, str | bytes):
        batch = list(data)
    else:
        raise InvalidMessageError(
            f"sendData takes a data point or a list of them, as in TagoIO's SDK; got {data!r:.60}"
        )
    points = [
        {k: v for k, v in p.items() if k not in SERVER_FIELDS} if isinstance(p, Mapping) else p
        for p in batch
    ]
    stored = run.context.services.bucket(device).insert(points)
    return f"{stored} Data Added"


def select(run: TagoRun, device: str, params: object, call: str) -> tuple[Any, list[Row]]:
    if params is not None and not isinstance(params, Mapping):
        raise InvalidMessageError(
            f"{call} takes TagoIO's query object (a dict), got {params!r:.60}"
        )
    try:
        query = parse_query(params, now_ms(run))
    except DataQueryError as exc:
        raise InvalidMessageError(str(exc).replace("getData", call)) from None
    store = rows_store(run, call)
    limit = SCAN_LIMIT + 1 if needs_all(query) else query.skip + query.qty
    if query.query.startswith("last_") and query.query != "last_location":
        limit = SCAN_LIMIT + 1 if query.query == "last_value" else 1
    found = store.rows(
        device, variables=query.variables, since_ms=query.since_ms, until_ms=query.until_ms,
        limit=max(limit, 1),
    )  # fmt: skip
    if len(found) > SCAN_LIMIT:
        raise InvalidMessageError(
            f"{call}: more than {SCAN_LIMIT:,} points match; narrow it with start_date/end_date "
            "or variables"
        )
    return query, [r for r in found if matches(query, r)]


def get_data(run: TagoRun, device: str, params: object) -> list[dict[str, Any]]:
    query, rows = select(run, device, params, "getData")
    return answer(query, rows, device)


def delete_data(run: TagoRun, device: str, params: object) -> str:
    query, rows = select(run, device, params, "deleteData")
    if (
        query.query == "default"
        or query.query.startswith(("last_", "first_"))
        or query.query in ("min", "max")
    ):
        chosen = {r["id"] for r in answer(query, rows, device)}
        doomed = [r.key for r in rows if r.key in chosen]
    else:
        raise InvalidMessageError(f"deleteData: query {query.query!r} deletes nothing; omit it")
    removed = rows_store(run, "deleteData").delete(device, doomed)
    run.context.services  # noqa: B018 - the run's counts live in the analysis runner
    return f"{removed} Data Removed"


def edit_data(run: TagoRun, device: str, data: object) -> str:
    batch = [data] if isinstance(data, Mapping) else data
    if not isinstance(batch, Sequence) or isinstance(batch, str):
        raise InvalidMessageError("editData takes a data point with its id, or a list of them")
    store = rows_store(run, "editData")
    edited = 0
    for item in batch:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
            raise InvalidMessageError(
                "editData: each point needs the `id` getData gave it, e.g. "
                "{'id': point['id'], 'value': 21}"
            )
        unknown = sorted(set(item) - {"id", "variable", *_EDITABLE})
        if unknown:
            raise InvalidMessageError(
                f"editData: cannot change {', '.join(unknown)}; editable: {', '.join(_EDITABLE)}"
            )
        changes = {k: v for k, v in item.items() if k != "id"}
        if not store.rewrite(device, item["id"], changes):
            raise InvalidMessageError(
                f"editData: device {device!r} has no data point with id {item['id']!r}"
            )
        edited += 1
    return f"{edited} item(s) edited"


class Device:
    """`Device({"token": device_token})` or `Device(params={"token": ...})`."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        token = params.get("token") if isinstance(params, Mapping) else None
        if not isinstance(token, str) or not token:
            raise InvalidMessageError(
                'Device takes {"token": "<the device token>"}, as in TagoIO\'s SDK'
            )
        self._token = token

    def _device(self, run: TagoRun, call: str) -> str:
        return device_of_token(run, self._token, f"Device.{call}")

    def sendData(self, data: Any = None) -> str:  # noqa: N802 - TagoIO's name
        """Store one data point or a list; "N Data Added" as TagoIO answers. Fields TagoIO
        assigns itself (id, origin, device, created_at) are dropped, as its API does."""
        run = current("Device.sendData")
        return send_data(run, self._device(run, "sendData"), data)

    def getData(self, queryParams: Any = None) -> list[dict[str, Any]]:  # noqa: N802, N803
        """TagoIO's query (variables, qty, start_date/end_date, query: last_item, min, ...)."""
        run = current("Device.getData")
        return get_data(run, self._device(run, "getData"), queryParams)

    def editData(self, data: Any = None) -> str:  # noqa: N802
        """Change stored points by id (value, unit, group, metadata, location, time)."""
        run = current("Device.editData")
        return edit_data(run, self._device(run, "editData"), data)

    def deleteData(self, queryParams: Any = None) -> str:  # noqa: N802, N803
        """Delete the points the same query would return; "N Data Removed"."""
        run = current("Device.deleteData")
        return delete_data(run, self._device(run, "deleteData"), queryParams)

    def __getattr__(self, name: str) -> Unsupported:
        if name.startswith("_"):
            raise AttributeError(name)
        instead = {
            "info": "the device's tags and params: Account(...).devices.info(name)",
            "getParameters": "Account(...).devices.paramList(name)",
        }.get(name, "Device has sendData, getData, editData and deleteData here")
        return Unsupported(f"Device.{name}", instead)
