"""moto_partition: a Query on a table's key reads one partition, and answers exactly what moto's
own Query answers, page by page, for every kind of table and Query the project makes (and more)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models.table import Table

from mqtt_actions_cli.local import moto_partition

REGION = "us-east-1"


def _key(name: str, kind: str) -> dict[str, str]:
    return {"AttributeName": name, "AttributeType": kind}


def _tables(client: Any) -> None:
    client.create_table(  # like the bucket table: device + sort key, and an index
        TableName="ranged",
        KeySchema=[
            {"AttributeName": "device", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[_key("device", "S"), _key("sk", "S"), _key("variable", "S")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-variable",
                "KeySchema": [
                    {"AttributeName": "variable", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.create_table(  # a numeric sort key: order by number, not by text
        TableName="numbered",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "n", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[_key("pk", "S"), _key("n", "N")],
        BillingMode="PAY_PER_REQUEST",
    )
    client.create_table(  # a partition key alone, like the bindings table
        TableName="plain",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[_key("id", "S")],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(300):  # written out of order: the answer's order is the Query's own
        m = (n * 7919) % 300
        client.put_item(
            TableName="ranged",
            Item={
                "device": {"S": f"d{m % 4}"},
                "sk": {"S": f"{m:05d}"},
                "variable": {"S": "t" if m % 3 else "h"},
                "value": {"N": str(m)},
            },
        )
        client.put_item(
            TableName="numbered", Item={"pk": {"S": f"p{m % 2}"}, "n": {"N": str(m * 3 - 400)}}
        )
    for name in ("a", "b", "c"):
        client.put_item(TableName="plain", Item={"id": {"S": name}, "v": {"N": "1"}})


def _q(table: str, condition: str, values: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "TableName": table,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        **more,
    }


D1 = {":d": {"S": "d1"}}
CASES: dict[str, dict[str, Any]] = {
    "a partition": _q("ranged", "device = :d", D1),
    "a partition, backwards": _q("ranged", "device = :d", D1, ScanIndexForward=False),
    "pages of 7": _q("ranged", "device = :d", D1, Limit=7),
    "pages of 7, backwards": _q("ranged", "device = :d", D1, Limit=7, ScanIndexForward=False),
    "count": _q("ranged", "device = :d", D1, Select="COUNT"),
    "sort key between": _q(
        "ranged",
        "device = :d AND sk BETWEEN :a AND :b",
        {**D1, ":a": {"S": "00050"}, ":b": {"S": "00150"}},
        Limit=10,
    ),
    "sort key begins_with": _q(
        "ranged", "device = :d AND begins_with(sk, :p)", {**D1, ":p": {"S": "001"}}
    ),
    "sort key >": _q("ranged", "device = :d AND sk > :a", {**D1, ":a": {"S": "00200"}}),
    "filter": _q(
        "ranged",
        "device = :d",
        {**D1, ":v": {"S": "h"}},
        FilterExpression="#var = :v",
        ExpressionAttributeNames={"#var": "variable"},
        Limit=9,
    ),
    "projection": _q(
        "ranged",
        "device = :d",
        D1,
        ProjectionExpression="sk, #v",
        ExpressionAttributeNames={"#v": "value"},
    ),
    "no such partition": _q("ranged", "device = :d", {":d": {"S": "nobody"}}),
    "an index": _q(
        "ranged",
        "#var = :v",
        {":v": {"S": "h"}},
        ExpressionAttributeNames={"#var": "variable"},
        IndexName="by-variable",
        Limit=11,
    ),
    "a numeric sort key": _q("numbered", "pk = :p", {":p": {"S": "p1"}}, Limit=13),
    "a numeric sort key, below 0": _q(
        "numbered", "pk = :p AND n < :z", {":p": {"S": "p0"}, ":z": {"N": "0"}}
    ),
    "a partition key alone": _q("plain", "id = :i", {":i": {"S": "b"}}),
    "a partition key alone, missing": _q("plain", "id = :i", {":i": {"S": "z"}}),
}


def _pages(client: Any, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    kwargs = dict(request)
    for _ in range(200):  # bounded
        page = client.query(**kwargs)
        page.pop("ResponseMetadata", None)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    raise AssertionError("more than 200 pages")


@pytest.fixture(scope="module")
def answers() -> Iterator[Callable[[str], tuple[list[Any], list[Any]]]]:
    """For a case: moto's own pages, and the pages with the partition read alone."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        _tables(client)

        def both(case: str) -> tuple[list[Any], list[Any]]:
            own = list(_pages(client, CASES[case]))
            undo = moto_partition.install()
            try:
                fast = list(_pages(client, CASES[case]))
            finally:
                undo()
            return own, fast

        yield both


@pytest.mark.parametrize("case", list(CASES))
def test_a_query_answers_what_moto_answers(
    case: str, answers: Callable[[str], tuple[list[Any], list[Any]]]
) -> None:
    own, fast = answers(case)
    assert fast == own
    assert own  # the case ran


def test_a_query_on_the_key_does_not_walk_the_whole_table(
    answers: Callable[[str], tuple[list[Any], list[Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    walked: list[int] = []
    whole = Table.all_items

    def counting(self: Any) -> Any:
        found = whole(self)
        walked.append(len(found))
        return found

    monkeypatch.setattr(Table, "all_items", counting)
    answers("a partition")  # moto's own Query, then with the partition read alone
    assert walked[0] == 300  # moto's: every row of the table
    # installed over the counting one, which the patched Query no longer calls
    assert walked[1:] == []


def test_installing_twice_changes_nothing_and_undo_restores_moto() -> None:
    own_query, own_items = Table.query, Table.all_items
    undo = moto_partition.install()
    again = moto_partition.install()
    try:
        assert Table.query is not own_query
        patched = Table.query
        again()
        assert Table.query is patched
    finally:
        undo()
    assert (Table.query, Table.all_items) == (own_query, own_items)
