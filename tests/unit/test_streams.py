"""Decoding a Kinesis event source batch (RouterBatching=Kinesis) and the partial-batch answer."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from mqtt_actions.streams import (
    StreamRecord,
    batch_response,
    is_stream_batch,
    stream_records,
)


def record(
    data: Any, sequence: str = "49590338271490256608559692538361571095921575989136588898"
) -> dict[str, Any]:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return {
        "eventSource": "aws:kinesis",
        "eventID": f"shardId-000000000000:{sequence}",
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": "trace",
            "sequenceNumber": sequence,
            "data": base64.b64encode(raw).decode(),
            "approximateArrivalTimestamp": 1764072000.123,
        },
    }


RULE_EVENT = {"payload": "e30=", "topic": "a/b", "clientid": "d", "timestamp": 1, "traceid": "t"}


def test_a_batch_is_told_from_the_rules_own_event() -> None:
    assert is_stream_batch({"Records": [record(RULE_EVENT)]})
    assert is_stream_batch({"Records": []})
    assert not is_stream_batch(RULE_EVENT)


def test_each_record_is_the_rules_json() -> None:
    batch = {"Records": [record(RULE_EVENT, "1"), record(RULE_EVENT | {"traceid": "u"}, "2")]}
    assert stream_records(batch) == [
        StreamRecord("1", RULE_EVENT),
        StreamRecord("2", RULE_EVENT | {"traceid": "u"}),
    ]


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"not json", "is not base64 JSON"),
        (b"\xff\xfe", "is not base64 JSON"),
        (b"[1, 2]", "holds list, not the rule's object"),
        (b'"text"', "holds str, not the rule's object"),
    ],
)
def test_a_record_that_is_not_the_rules_object_says_why(data: bytes, why: str) -> None:
    (got,) = stream_records({"Records": [record(data, "7")]})
    assert got.event is None
    assert got.sequence == "7"
    assert why in str(got.problem)
    assert str(got.problem).startswith("record 7: kinesis.data")


def test_data_that_is_not_base64_says_why() -> None:
    bad = record(RULE_EVENT, "8")
    bad["kinesis"]["data"] = "***"
    (got,) = stream_records({"Records": [bad]})
    assert got.event is None
    assert "not base64 JSON" in str(got.problem)


@pytest.mark.parametrize(
    "records",
    [[{"kinesis": {"data": "e30="}}], [{"sqs": {}}], ["text"]],
)
def test_a_batch_that_is_not_lambdas_shape_is_refused(records: list[Any]) -> None:
    with pytest.raises(ValueError, match=r"Records\[0\] has no kinesis.sequenceNumber"):
        stream_records({"Records": records})


def test_the_partial_batch_answer() -> None:
    assert batch_response([]) == {"batchItemFailures": []}
    assert batch_response(["5", "9"]) == {
        "batchItemFailures": [{"itemIdentifier": "5"}, {"itemIdentifier": "9"}]
    }
