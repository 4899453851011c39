"""TagoIO's data query (`Device.getData` / `deleteData`, `devices.getDeviceData`) over stored rows.
Pure: no I/O. The parameters are TagoIO's (tago-io/sdk-python `Device/Device_Type.py`,
`DataQuery`): `variables` / `variable`, `groups` / `group`, `ids`, `values`, `qty`, `skip`,
`ordination`, `start_date` / `end_date` (ISO text, a datetime, or relative as `"1 day"`, `"30
minutes"`: that long before now), and `query`: `default`, `last_*` / `first_*` (`item`, `value`,
`location`, `insert`), `min`, `max`, `avg`, `sum`, `count`. Points come back in the SDK's shape:
`time` and `created_at` as naive UTC datetimes (its `dateParser` drops the zone).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

DEFAULT_QTY: Final = 15  # TagoIO returns this many points when no qty is given
MAX_QTY: Final = 10_000
SCAN_LIMIT: Final = 10_000  # rows read at most for one aggregate; more is refused, never cut

_UNITS: Final = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86_400,
    "week": 7 * 86_400,
    "month": 30 * 86_400,
    "year": 365 * 86_400,
}
_RELATIVE: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*", re.IGNORECASE)
_FIRST_LAST: Final = ("item", "value", "location", "insert")
AGGREGATES: Final = ("min", "max", "avg", "sum", "count")
QUERIES: Final = (
    "default",
    *(f"last_{x}" for x in _FIRST_LAST),
    *(f"first_{x}" for x in _FIRST_LAST),
    *AGGREGATES,
)


class DataQueryError(ValueError):
    """A query parameter TagoIO would refuse or we cannot answer; names it and the fix."""


@dataclass(frozen=True)
class Row:
    """One stored data point: `key` is its row id (TagoIO's data `id`), `time_ms` its time."""

    key: str
    point: Mapping[str, Any]
    time_ms: int


@dataclass(frozen=True)
class DataQuery:
    variables: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()
    since_ms: int | None = None
    until_ms: int | None = None
    query: str = "default"
    qty: int = DEFAULT_QTY
    skip: int = 0
    ascending: bool = False


def _texts(name: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise DataQueryError(f"getData: {name} must be text or a list of text, got {value!r}")


def to_ms(name: str, value: object, now_ms: int) -> int | None:
    """`start_date`/`end_date`: ISO text (naive = UTC), a datetime, ms, or relative (`"1 day"`)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return int(aware.timestamp() * 1000)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        relative = _RELATIVE.fullmatch(value)
        if relative and relative.group(2).lower() in _UNITS:
            seconds = float(relative.group(1)) * _UNITS[relative.group(2).lower()]
            return now_ms - int(seconds * 1000)
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return to_ms(name, parsed, now_ms)
    raise DataQueryError(
        f"getData: {name} {value!r} is neither a date (ISO 8601) nor a relative time such as "
        f"'1 day' or '30 minutes' (units: {', '.join(_UNITS)})"
    )


def _whole(name: str, value: object, default: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise DataQueryError(f"getData: {name} must be a whole number, got {value!r}")
    if not 0 <= int(value) <= high:
        raise DataQueryError(f"getData: {name} must be 0 to {high}, got {value!r}")
    return int(value)


def parse_query(params: Mapping[str, Any] | None, now_ms: int) -> DataQuery:
    """TagoIO's query parameters as a DataQuery; unknown keys are refused, by name."""
    given = dict(params or {})
    known = {
        "variables", "variable", "groups", "group", "ids", "id", "values", "value", "qty",
        "skip", "ordination", "start_date", "end_date", "query", "details",
    }  # fmt: skip
    unknown = sorted(set(given) - known)
    if unknown:
        raise DataQueryError(
            f"getData: unknown query parameter(s) {', '.join(unknown)}; TagoIO's are "
            f"{', '.join(sorted(known))}"
        )
    query = given.get("query") or "default"
    if query not in QUERIES:
        raise DataQueryError(f"getData: query {query!r} is not one of {', '.join(QUERIES)}")
    ordination = given.get("ordination") or "descending"
    if ordination not in ("descending", "ascending"):
        raise DataQueryError(f"getData: ordination must be descending or ascending: {ordination!r}")
    values = given.get("values", given.get("value"))
    return DataQuery(
        variables=_texts("variables", given.get("variables", given.get("variable"))),
        groups=_texts("groups", given.get("groups", given.get("group"))),
        ids=_texts("ids", given.get("ids", given.get("id"))),
        values=tuple(values)
        if isinstance(values, list | tuple)
        else (() if values is None else (values,)),
        since_ms=to_ms("start_date", given.get("start_date"), now_ms),
        until_ms=to_ms("end_date", given.get("end_date"), now_ms),
        query=query,
        qty=_whole("qty", given.get("qty"), DEFAULT_QTY, MAX_QTY),
        skip=_whole("skip", given.get("skip"), 0, MAX_QTY),
        ascending=ordination == "ascending",
    )


def matches(query: DataQuery, row: Row) -> bool:
    point = row.point
    if query.variables and point.get("variable") not in query.variables:
        return False
    if query.groups and point.get("group") not in query.groups:
        return False
    if query.ids and row.key not in query.ids:
        return False
    if query.values and point.get("value") not in query.values:
        return False
    if query.since_ms is not None and row.time_ms < query.since_ms:
        return False
    return query.until_ms is None or row.time_ms <= query.until_ms


def naive_utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)


def as_tagoio(row: Row, device: str) -> dict[str, Any]:
    """A stored point as TagoIO's SDK returns it."""
    out: dict[str, Any] = {"id": row.key, **row.point}
    out["time"] = naive_utc(row.time_ms)
    out.setdefault("created_at", out["time"])
    out["device"] = device
    out.setdefault("origin", device)
    return out


def _number(row: Row) -> float | None:
    value = row.point.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def answer(query: DataQuery, rows: Sequence[Row], device: str) -> list[dict[str, Any]]:
    """The query's answer over `rows` (newest first, already narrowed by `matches`)."""
    newest_first = sorted(rows, key=lambda r: (r.time_ms, r.key), reverse=True)
    kind = query.query
    if kind == "default":
        picked = newest_first[query.skip : query.skip + query.qty]
        if query.ascending:
            picked.reverse()
        return [as_tagoio(r, device) for r in picked]
    if kind.startswith(("last_", "first_")):
        ordered = newest_first if kind.startswith("last_") else newest_first[::-1]
        if kind.endswith("_location"):
            ordered = [r for r in ordered if r.point.get("location")]
        if kind.endswith(("_item", "_insert", "_location")):
            return [as_tagoio(r, device) for r in ordered[:1]]
        # last_value / first_value: one point per variable
        seen: dict[str, Row] = {}
        for row in ordered:
            seen.setdefault(str(row.point.get("variable")), row)
        return [as_tagoio(r, device) for r in seen.values()]
    if kind == "count":
        return [
            {
                "id": "none",
                "origin": "?",
                "variable": "?",
                "value": len(newest_first),
                "time": naive_utc(0),
            }
        ]
    numeric = [(r, n) for r in newest_first if (n := _number(r)) is not None]
    if not numeric:
        return []
    if kind in ("min", "max"):
        choose: Callable[..., tuple[Row, float]] = min if kind == "min" else max
        row, _ = choose(numeric, key=lambda pair: pair[1])
        return [as_tagoio(row, device)]
    total = sum(n for _, n in numeric)
    value = total if kind == "sum" else total / len(numeric)
    variable = str(numeric[0][0].point.get("variable"))
    return [
        {
            "id": "none",
            "origin": device,
            "device": device,
            "variable": variable,
            "value": value,
            "time": naive_utc(numeric[0][0].time_ms),
        }
    ]


def needs_all(query: DataQuery) -> bool:
    """Whether answering needs every matching row (aggregates, first_*, values, groups)."""
    return (
        (query.query != "default" and not query.query.startswith("last_"))
        or bool(query.groups or query.ids or query.values)
        or query.query == "last_location"
    )
