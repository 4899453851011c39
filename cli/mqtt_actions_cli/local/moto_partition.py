"""moto's DynamoDB Query, reading one partition instead of the whole table.

moto (5.x) answers every Query by sorting *all* the table's items and then keeping those of the
queried partition key (`Table.query` walks `Table.all_items()`). The bucket table of a local stack
that has stored 20,000 rows took 160 ms a Query of one device's 400 rows, under the lock every call
into moto holds (`moto_watch.MOTO_LOCK`): the load tests' row counts (one Query per device every
few seconds) held it most of the time and the handlers waited (50 waking devices: 12 stored
messages/s). DynamoDB itself reads one partition for a Query on the table's key
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Query.html: "You must provide
the name of the partition key attribute and a single value for that attribute. Query returns all
items with that partition key value").

`install()` makes a Query on a table's own key (no `IndexName`) see only the items of its
partition (moto's Query then sorts them by sort key, as before). Everything else in
moto's Query (conditions, filters, pages, `ScanIndexForward`, projections) runs unchanged on
that list. Queries on an index, and Scans, are moto's own. Only the local stack installs it;
`tests/unit/test_moto_partition.py` checks answers with and without it, page by page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Final

_HINT: Final = threading.local()  # the partition key value of the Query running in this thread
_INDEX_NAME_AT: Final = 6  # Table.query(hash_key, range_comparison, range_objs, limit,
# exclusive_start_key, scan_index_forward, projection_expressions, index_name, ...): its 7th
# positional argument after hash_key


def install() -> Callable[[], None]:
    """Patch moto's `Table` class for this process; returns the undo. Installed twice, the
    second is a no-op (and so is its undo)."""
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_one_partition", False):
        return lambda: None
    whole_query = Table.query
    whole_items = Table.all_items

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index = args[_INDEX_NAME_AT] if len(args) > _INDEX_NAME_AT else kwargs.get("index_name")
        if index or hash_key is None:
            return whole_query(self, hash_key, *args, **kwargs)
        _HINT.key = hash_key
        try:
            return whole_query(self, hash_key, *args, **kwargs)
        finally:
            _HINT.key = None

    def all_items(self: Any) -> Any:
        key = getattr(_HINT, "key", None)
        if key is None:
            return whole_items(self)
        partition = self.items.get(key)  # .get: the defaultdict must not grow a partition
        if partition is None:
            return []
        # moto's Query sorts what it is given by sort key itself
        return list(partition.values()) if self.range_key_attr else [partition]

    query._one_partition = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]

    def undo() -> None:
        Table.query = whole_query  # type: ignore[method-assign]
        Table.all_items = whole_items  # type: ignore[method-assign]

    return undo
