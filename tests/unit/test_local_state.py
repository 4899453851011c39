"""The local stack's state file (state.py), its moto request watcher (moto_watch.py), the
broker's front door parser (connect_gate.py) and the router's actions change marker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mqtt_actions.change_marker import ChangeMarker
from mqtt_actions.router import ActionsSource
from mqtt_actions_cli.actions_file import load_actions_file
from mqtt_actions_cli.local.connect_gate import (
    FirstPacket,
    ReplayingReader,
    parse_connect,
    read_first_packet,
)
from mqtt_actions_cli.local.moto_watch import written_tables
from mqtt_actions_cli.local.state import STATE_FILE, Snapshot, StateDir, StateError

# --- state.py ----------------------------------------------------------------------------------


def test_a_saved_snapshot_loads_back_equal(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "nested")
    saved = Snapshot(
        tables={"BucketTable": [{"device": {"S": "d"}}]},
        queues={"DeadLetterQueue": [{"body": "{}", "attributes": {}}]},
        outbox=[{"kind": "sms", "to": "+1", "message": "hi"}],
        retained={"a/b": {"payload": "AA==", "qos": 1, "at": 5}},
    )
    state.save(saved)
    assert state.load() == saved
    assert [p.name for p in state.directory.iterdir()] == [STATE_FILE]  # no temporary left
    # issue #23: token hashes, bucket rows and the outbox are the user's alone
    assert (state.directory / STATE_FILE).stat().st_mode & 0o777 == 0o600
    assert state.directory.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "Expecting property name"),
        (b'{"format": 99}', "format 99, expected 1"),
        (b"[]", "format 'list', expected 1"),
        (b'{"format": 1, "tables": [1]}', "'tables' is a list, expected a dict"),
        (b'{"format": 1, "tables": {"T": [1]}}', "'T' does not hold a list of objects"),
        (b"\xff\xfe", "cannot read it"),
    ],
)
def test_an_unreadable_state_file_is_set_aside_with_the_reason(
    tmp_path: Path, content: bytes, why: str
) -> None:
    (tmp_path / STATE_FILE).write_bytes(content)
    state = StateDir(tmp_path)
    assert state.load() is None
    assert state.problem is not None
    assert why in state.problem
    assert state.set_aside is not None
    assert state.set_aside.read_bytes() == content
    assert not (tmp_path / STATE_FILE).exists()


def test_no_state_file_is_no_snapshot_and_nothing_set_aside(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    assert (state.load(), state.set_aside) == (None, None)


def test_the_summary_names_what_is_there_in_a_fixed_order() -> None:
    snapshot = Snapshot(
        tables={"BucketTable": [{}, {}], "ActionsTable": [{}], "IdempotencyTable": [{}]},
        queues={"DeadLetterQueue": [{"body": "x"}]},
        retained={"t": {}},
    )
    labels = {"ActionsTable": "actions", "BucketTable": "bucket rows"}
    assert snapshot.summary(labels) == (
        "1 actions, 2 bucket rows, 1 dead letters, 1 retained messages"
    )
    assert Snapshot().summary(labels) == "nothing"


def test_state_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="format"):
        Snapshot.from_json({"format": 0})
    assert issubclass(StateError, ValueError)


# --- moto_watch.py -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "body", "tables"),
    [
        ("PutItem", {"TableName": "A"}, {"A"}),
        ("DeleteItem", {"TableName": "arn:aws:dynamodb:us-east-1:1:table/A"}, {"A"}),
        ("BatchWriteItem", {"RequestItems": {"A": [], "B": []}}, {"A", "B"}),
        ("TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "C"}}]}, {"C"}),
        ("PutItem", "not an object", set()),
    ],
)
def test_the_tables_a_write_names(operation: str, body: object, tables: set[str]) -> None:
    assert written_tables(operation, json.dumps(body).encode()) == tables


def test_every_call_into_moto_holds_the_one_lock_from_the_server_and_in_process() -> None:
    """moto is not thread-safe: the server's request threads and the handlers' in-process calls
    raced (a Query iterating a table while a PutItem grew it: "dictionary changed size")."""
    import threading

    from botocore.handlers import BUILTIN_HANDLERS
    from moto.core.models import botocore_stubber

    from mqtt_actions_cli.local.moto_watch import MOTO_LOCK, _Watch, serialize_in_process

    held: list[bool] = []

    def owned() -> bool:  # whether *another* thread could take the lock now
        taken: list[bool] = []

        def probe() -> None:
            taken.append(MOTO_LOCK.acquire(blocking=False))
            if taken[0]:
                MOTO_LOCK.release()

        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
        return not taken[0]

    def app(_environ: object, _start: object) -> list[bytes]:
        held.append(owned())
        return [b"{}"]

    environ = {"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.Query", "REQUEST_METHOD": "POST"}
    _Watch(app, on_write=lambda _t: None)(environ, lambda *_: None)

    undo = serialize_in_process()
    try:
        hook = next(e[1] for e in BUILTIN_HANDLERS if getattr(e[1], "hook", 0) is botocore_stubber)
        hook.hook = lambda *_a, **_k: held.append(owned())
        hook("before-send", request=None)
        assert ("before-send", botocore_stubber) not in BUILTIN_HANDLERS
    finally:
        undo()
    assert ("before-send", botocore_stubber) in BUILTIN_HANDLERS
    assert held == [True, True]
    assert not owned()


# --- connect_gate.py ---------------------------------------------------------------------------


def _connect(name: bytes, level: int, client_id: bytes, properties: bytes = b"") -> bytes:
    body = len(name).to_bytes(2, "big") + name + bytes([level, 0x02]) + (60).to_bytes(2, "big")
    if level == 5:
        body += bytes([len(properties)]) + properties
    body += len(client_id).to_bytes(2, "big") + client_id
    return bytes([0x10, len(body)]) + body


@pytest.mark.parametrize(
    ("packet", "protocol", "unsupported"),
    [
        (_connect(b"MQTT", 4, b"dev"), "MQTT 3.1.1", False),
        (_connect(b"MQTT", 5, b"dev", properties=b"\x11\x00\x00\x00\x3c"), "MQTT 5", True),
        (_connect(b"MQIsdp", 3, b"dev"), "MQTT 3.1", True),
    ],
)
def test_the_first_packet_says_the_protocol_and_client_id(
    packet: bytes, protocol: str, unsupported: bool
) -> None:
    first = asyncio.run(_read(packet))
    assert (first.protocol, first.unsupported, first.client_id) == (protocol, unsupported, "dev")
    assert first.raw == packet


def test_a_truncated_connect_names_no_client() -> None:
    assert parse_connect(b"\x00\x04MQTT\x05\x02\x00\x3c") == (b"MQTT", 5, None)


def test_the_replaying_reader_hands_back_what_was_read_then_the_stream() -> None:
    async def scenario() -> bytes:
        stream = asyncio.StreamReader()
        stream.feed_data(b"rest")
        stream.feed_eof()
        reader = ReplayingReader(stream, b"head")
        return bytes(await reader.read(2) + await reader.read(4) + await reader.read(2))

    assert asyncio.run(scenario()) == b"headrest"


async def _read(packet: bytes) -> FirstPacket:
    stream = asyncio.StreamReader()
    stream.feed_data(packet)
    stream.feed_eof()
    return await read_first_packet(stream)


# --- change marker -----------------------------------------------------------------------------


def test_the_router_reloads_its_cached_actions_when_the_marker_changes(tmp_path: Path) -> None:
    marker_file = tmp_path / "actions.changed"
    versions = [
        load_actions_file("actions: [{id: a, topics: [x], type: insert_bucket}]"),
        load_actions_file("actions: [{id: b, topics: [x], type: insert_bucket}]"),
    ]
    loads: list[int] = []

    def load() -> list:  # type: ignore[type-arg]
        loads.append(1)
        return list(versions[min(len(loads), 2) - 1])

    source = ActionsSource(load, 3600, clock=lambda: 0.0, changed=ChangeMarker(marker_file).changed)
    assert [a.id for a in source.match("x")] == ["a"]
    assert [a.id for a in source.match("x")] == ["a"]  # cached: no marker change
    marker_file.write_text("1")
    assert [a.id for a in source.match("x")] == ["b"]
    assert len(loads) == 2
