"""moto's private state, read by the local stack to save it (local/moto_private.py): pinned to the
moto version it was checked against, and checked to read what the public API shows."""

from __future__ import annotations

from importlib.metadata import version

import boto3
from moto import mock_aws

from mqtt_actions_cli.local import moto_private
from mqtt_actions_cli.local.template import REGION


def test_the_private_reads_were_checked_against_the_installed_moto() -> None:
    # A new moto: check table_items and queue_messages against it, then update MOTO_CHECKED.
    assert version("moto") == moto_private.MOTO_CHECKED


def test_table_items_are_what_a_scan_returns() -> None:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName="t",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for n in range(3):
            item = {"pk": {"S": f"k{n}"}, "n": {"N": str(n)}, "b": {"B": b"\x00\xff"}}
            dynamodb.put_item(TableName="t", Item=item)
        scanned = dynamodb.scan(TableName="t")["Items"]

        read = moto_private.table_items("t")

    key = lambda item: item["pk"]["S"]  # noqa: E731
    assert len(read) == 3
    assert sorted(read, key=key) == sorted(scanned, key=key)  # binary values as bytes, as boto3's


def test_queue_messages_are_every_message_with_its_string_attributes() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(
            QueueUrl=url,
            MessageBody='{"kind": "action_failed"}',
            MessageAttributes={"ErrorCode": {"DataType": "String", "StringValue": "500"}},
        )
        sqs.send_message(QueueUrl=url, MessageBody="second")
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)  # in flight: still saved

        ids = [m["MessageId"] for m in sqs.receive_message(QueueUrl=url)["Messages"]]
        read = moto_private.queue_messages("q")

    assert [{k: v for k, v in m.items() if k not in {"id", "sent_ms"}} for m in read] == [
        {
            "body": '{"kind": "action_failed"}',
            "attributes": {"ErrorCode": {"DataType": "String", "StringValue": "500"}},
        },
        {"body": "second", "attributes": {}},
    ]
    assert {m["id"] for m in read} >= set(ids)
    assert all(isinstance(m["sent_ms"], int) and m["sent_ms"] > 1_700_000_000_000 for m in read)
