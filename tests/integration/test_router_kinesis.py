"""RouterBatching=Kinesis: messages put on a Kinesis stream in moto (as the route rule's Kinesis
action does), read back the way Lambda's event source mapping reads them, and handed to the
router handler in batches; partial failures checkpointed as Lambda does (retry from the lowest
reported sequence number)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from typing import Any

import boto3
import pytest

from tests.integration.conftest import REGION, Aws, Router, bucket, message
from tests.support.webhook import Hook

pytestmark = pytest.mark.integration

STREAM = "test-route-stream"


class Stream:
    """One-shard stream; `deliver` plays Lambda's poller for a standard iterator."""

    def __init__(self) -> None:
        self.kinesis = boto3.client("kinesis", region_name=REGION)
        self.kinesis.create_stream(StreamName=STREAM, ShardCount=1)
        self.shard = self.kinesis.describe_stream(StreamName=STREAM)["StreamDescription"]["Shards"][
            0
        ]["ShardId"]
        self.checkpoint: str | None = None  # the next sequence number to deliver
        self.invocations: list[list[str]] = []

    def put(self, event: dict[str, Any]) -> str:
        answer = self.kinesis.put_record(
            StreamName=STREAM, Data=json.dumps(event).encode(), PartitionKey=event["traceid"]
        )
        return str(answer["SequenceNumber"])

    def put_raw(self, data: bytes) -> str:
        answer = self.kinesis.put_record(StreamName=STREAM, Data=data, PartitionKey="raw")
        return str(answer["SequenceNumber"])

    def _read(self, limit: int) -> list[dict[str, Any]]:
        where: dict[str, Any] = (
            {"ShardIteratorType": "AT_SEQUENCE_NUMBER", "StartingSequenceNumber": self.checkpoint}
            if self.checkpoint
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = self.kinesis.get_shard_iterator(StreamName=STREAM, ShardId=self.shard, **where)
        records = self.kinesis.get_records(ShardIterator=iterator["ShardIterator"], Limit=limit)
        return list(records["Records"])

    def kinesis_records(self) -> list[dict[str, Any]]:
        """Every record on the stream, from its start."""
        iterator = self.kinesis.get_shard_iterator(
            StreamName=STREAM, ShardId=self.shard, ShardIteratorType="TRIM_HORIZON"
        )
        return list(self.kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"])

    def deliver(self, router: Router, *, batch_size: int = 100) -> dict[str, Any] | None:
        """One invocation with the records from the checkpoint on; None when none are left."""
        records = self._read(batch_size)
        if not records:
            return None
        event = lambda_batch(records)
        self.invocations.append([r["SequenceNumber"] for r in records])
        answer = router(event)
        failed = [f["itemIdentifier"] for f in answer["batchItemFailures"]]
        if failed:
            self.checkpoint = min(failed, key=int)
        else:
            self.checkpoint = str(int(records[-1]["SequenceNumber"]) + 1)
        return answer

    def drain(self, router: Router, *, batch_size: int = 100, most: int = 20) -> None:
        for _ in range(most):
            if self.deliver(router, batch_size=batch_size) is None:
                return
        raise AssertionError(f"stream not drained in {most} invocations: {self.invocations}")


def lambda_batch(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The event Lambda's event source mapping builds from GetRecords' answer."""
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r["PartitionKey"],
                    "sequenceNumber": r["SequenceNumber"],
                    "data": base64.b64encode(r["Data"]).decode(),
                    "approximateArrivalTimestamp": r["ApproximateArrivalTimestamp"].timestamp(),
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{r['SequenceNumber']}",
                "eventName": "aws:kinesis:record",
                "awsRegion": REGION,
            }
            for r in records
        ]
    }


@pytest.fixture
def stream(aws_env: Aws) -> Stream:
    return Stream()


ACTIONS = """
actions:
  - {{id: store, topics: ["home/#", "alarm/#"], type: insert_bucket}}
  - {{id: hook, topics: ["alarm/#"], type: webhook, url: "{url}", allow_http: true}}
"""


def test_a_batch_routes_every_record_as_it_would_route_each_message(
    router: Router, apply: Callable[[str], None], stream: Stream, webhook: Hook, aws_env: Aws
) -> None:
    apply(ACTIONS.format(url=webhook.url))
    for i in range(5):
        stream.put(message({"variable": "t", "value": i}, "home/kitchen/temperature"))
    stream.put(message({"variable": "alarm", "value": 1}, "alarm/boiler"))
    stream.drain(router)
    assert len(stream.invocations) == 1
    assert sorted((p["variable"], p["value"]) for p in bucket(aws_env)) == [("alarm", 1)] + [
        ("t", i) for i in range(5)
    ]
    assert len(webhook.requests) == 1
    assert aws_env.dead_letters() == []


def test_a_record_that_is_not_the_rules_json_is_dead_lettered_and_the_rest_go_on(
    router: Router, apply: Callable[[str], None], stream: Stream, webhook: Hook, aws_env: Aws
) -> None:
    apply(ACTIONS.format(url=webhook.url))
    stream.put(message({"variable": "t", "value": 1}, "home/a"))
    bad = stream.put_raw(b"\x00 not json")
    invalid = message({"variable": "t", "value": 2}, "home/b")
    del invalid["topic"]
    stream.put(invalid)
    stream.put(message({"variable": "t", "value": 3}, "home/c"))
    answer = stream.deliver(router)
    assert answer == {"batchItemFailures": []}
    assert sorted(p["value"] for p in bucket(aws_env)) == [1, 3]
    letters = aws_env.dead_letters()
    assert [d["kind"] for d in letters] == ["invalid_event", "invalid_event"]
    assert letters[0]["reason"].startswith(f"record {bad}: kinesis.data is not base64 JSON")
    assert letters[0]["event"] == {"kinesis": {"sequenceNumber": bad}}
    assert "topic" in letters[1]["reason"]
    assert letters[1]["event"] == invalid


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_failing_record_is_reported_then_redelivered_without_repeating_a_side_effect(
    router: Router,
    apply: Callable[[str], None],
    stream: Stream,
    webhook: Hook,
    aws_env: Aws,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from functions.router import app

    apply(ACTIONS.format(url=webhook.url))
    events = [message({"variable": "v", "value": i}, f"alarm/{i}") for i in range(4)]
    sequences = [stream.put(e) for e in events]
    # Given the inspector failing once, after the second message's actions ran
    inspector = app.deps().inspector
    record_outcomes = inspector.record_outcomes
    failures = {events[1]["traceid"]: 1}

    def flaky(message: Any, results: Any) -> None:
        if failures.get(message.traceid):
            failures[message.traceid] -= 1
            raise RuntimeError("inspector table unavailable")
        record_outcomes(message, results)

    monkeypatch.setattr(inspector, "record_outcomes", flaky)

    # When Lambda delivers the batch, the second record is reported and the batch stops there
    first = stream.deliver(router)
    assert first == {"batchItemFailures": [{"itemIdentifier": sequences[1]}]}
    assert sorted(p["value"] for p in bucket(aws_env)) == [0, 1]

    # Then Lambda delivers it and the later ones again; its webhook is not called twice
    stream.drain(router)
    assert stream.invocations == [sequences, sequences[1:]]
    assert sorted(p["value"] for p in bucket(aws_env)) == [0, 1, 2, 3]
    assert len(webhook.requests) == 4

    # And a whole batch delivered again (a bisected retry) repeats nothing either
    assert router(lambda_batch(stream.kinesis_records())) == {"batchItemFailures": []}
    assert len(webhook.requests) == 4
    assert len(bucket(aws_env)) == 4
