"""Sustained QoS 1 publishing through the local stack into insert_bucket, against the ceiling: the
same broker (amqtt, same version, same listener) relaying publish -> subscribe, same run.

    .venv/bin/python benchmarks/local_e2e.py [--quick] [--messages N]

Stack: `mqtt-actions local` in a subprocess (as `make run` starts it); one paho client publishes
QoS 1 JSON points; the action `insert_bucket` stores each in BucketTable (moto). "Stored" is when
the stack logs the message's outcome line (`act  bench/stack: bench-store=done`), which it
prints after the handler has returned, the row written: the n-th such line is the n-th message
(one publisher, one router worker, in order). Reading the log costs the stack nothing; polling
its moto for rows would compete with the handlers for its CPU. Lost is counted from the rows
themselves at the end.
Ceiling: the same broker without the IoT Core plugin and rules, in a subprocess; one publisher,
one QoS 1 subscriber; "stored" is delivery to the subscriber.

Each path is measured twice in one session: msg/s and lost from N messages published as fast as
the broker acknowledges them (a flood: what it sustains); p50/p99 from LATENCY_MESSAGES more
published at half that rate (so latency is the path's, not a backlog's).
Lost = published - stored (rows counted in the bucket; messages counted at the subscriber).

Floor: what the store alone allows. The two DynamoDB writes the router makes for one such message
(its bucket row; its publish and outcome entries in the inspector, one batch), through the real
adapters and boto3 into moto in-process (as the stack's handlers do), nothing else: no broker, no
rules, no handler. The stack cannot go faster than this; its share of the ceiling is the most the
stack could reach while moto is the store.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT / "cli"), str(ROOT)]

import boto3  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from _machine import machine  # noqa: E402

from mqtt_actions.actions import load_actions_file  # noqa: E402
from mqtt_actions.adapters.actions_store import DynamoActionsStore  # noqa: E402
from mqtt_actions.adapters.bucket import DynamoBucket  # noqa: E402
from mqtt_actions.adapters.inspector import DynamoInspector  # noqa: E402
from mqtt_actions.payload import wrap_payload  # noqa: E402
from mqtt_actions.ports import ActionResult, MessageRecord, Outcome  # noqa: E402

LATENCY_MESSAGES = 100
DONE_LINE = "act  bench/stack: bench-store=done"
DEVICE = "bench-device"
READY = re.compile(r"^ready: mqtt://[\d.]+:(\d+) aws=(\S+) control=(\S+)")
ACTIONS = """
actions:
  - {id: bench-store, topics: ["bench/#"], type: insert_bucket}
"""
Seen = dict[str, dict[int, float]]  # variable -> value (sequence number) -> when stored


@dataclass
class Result:
    rate: float
    latencies_ms: list[float]
    lost: int

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _env() -> dict[str, str]:
    paths = [str(ROOT / "cli"), str(ROOT / "layers" / "core"), str(ROOT)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}


def _start(
    command: list[str],
    pattern: re.Pattern[str],
    on_line: Callable[[str], None] | None = None,
) -> tuple[subprocess.Popen[str], re.Match[str]]:
    process = subprocess.Popen(  # noqa: S603 - our own commands
        command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    found: queue.Queue[re.Match[str] | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # keep draining so the child never blocks on a full pipe
            if on_line is not None:
                on_line(line)
            if (match := pattern.match(line)) is not None:
                found.put(match)
        found.put(None)

    threading.Thread(target=read, daemon=True).start()
    match = found.get(timeout=120)
    if match is None:
        raise SystemExit(f"{command} did not start")
    return process, match


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    if process.stdout is not None:
        process.stdout.close()


def _client(client_id: str, port: int) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_start()
    if not connected.wait(10):
        raise SystemExit(f"{client_id} could not connect")
    return client


def _publish(
    client: mqtt.Client, topic: str, variable: str, count: int, per_second: float | None = None
) -> list[float]:
    """Publish `count` points (value = sequence number), paced when `per_second` is given."""
    sent: list[float] = []
    infos = []
    start = time.perf_counter()
    for i in range(count):
        if per_second:
            time.sleep(max(0.0, start + i / per_second - time.perf_counter()))
        sent.append(time.time())
        infos.append(client.publish(topic, json.dumps({"variable": variable, "value": i}), qos=1))
    for info in infos:
        info.wait_for_publish(timeout=60)
    return sent


def _wait(seen: Seen, variable: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(seen[variable]) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def _measure(
    client: mqtt.Client,
    topic: str,
    seen: Seen,
    count: int,
    latency_count: int,
) -> tuple[float, list[float]]:
    """(msg/s sustained by a flood of `count`, latencies of `latency_count` at half that rate)."""
    sent = _publish(client, topic, "flood", count)
    _wait(seen, "flood", count, timeout=max(120.0, count / 2))
    flood = seen["flood"]
    rate = count / (max(flood.values(), default=sent[-1]) - sent[0])
    sent = _publish(client, topic, "paced", latency_count, per_second=rate / 2)
    _wait(seen, "paced", latency_count, timeout=max(60.0, latency_count / rate * 4))
    paced = seen["paced"]
    return rate, [(paced[i] - sent[i]) * 1000 for i in paced]


# ---------------------------------------------------------------------------- raw ceiling


def serve_raw_broker() -> None:
    """Child mode: the local stack's broker (amqtt, the same listener on a socket of ours) with no
    IoT Core plugin and no rules, on 127.0.0.1; prints its port; runs until SIGINT/SIGTERM."""
    from amqtt.adapters import StreamReaderAdapter, StreamWriterAdapter

    from mqtt_actions_cli.local.broker import LISTENER, IotCorePlugin, _Broker, broker_config

    async def main() -> None:
        config = broker_config()
        config["plugins"].pop(f"{IotCorePlugin.__module__}.{IotCorePlugin.__qualname__}")
        broker = _Broker(config)
        await broker.start()

        async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await broker.external_connected(
                StreamReaderAdapter(reader), StreamWriterAdapter(writer), LISTENER
            )

        server = await asyncio.start_server(connected, "127.0.0.1", 0)
        print(f"raw broker port {server.sockets[0].getsockname()[1]}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.close()
        await broker.shutdown()

    asyncio.run(main())


def bench_raw(count: int, latency_count: int) -> Result:
    process, match = _start(
        [sys.executable, __file__, "--raw-broker"], re.compile(r"^raw broker port (\d+)")
    )
    seen: Seen = {"flood": {}, "paced": {}}
    try:
        port = int(match[1])
        subscriber = _client("bench-sub", port)

        def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
            point = json.loads(message.payload)
            seen[point["variable"]][point["value"]] = time.time()

        subscribed = threading.Event()
        subscriber.on_message = on_message
        subscriber.on_subscribe = lambda *_: subscribed.set()
        subscriber.subscribe("bench/#", 1)
        subscribed.wait(10)
        publisher = _client("bench-pub", port)
        rate, latencies = _measure(publisher, "bench/raw", seen, count, latency_count)
        for client in (publisher, subscriber):
            client.disconnect()
            client.loop_stop()
    finally:
        _stop(process)
    lost = count - len(seen["flood"]) + latency_count - len(seen["paced"])
    return Result(rate, latencies, lost)


# ---------------------------------------------------------------------------- the stack


def _count(dynamodb: Any, variable: str) -> int:
    count: int = dynamodb.query(
        TableName="BucketTable",
        KeyConditionExpression="device = :d AND begins_with(sk, :v)",
        ExpressionAttributeValues={":d": {"S": DEVICE}, ":v": {"S": f"{variable}#"}},
        Select="COUNT",
    )["Count"]
    return count


def bench_stack(count: int, latency_count: int, cache_seconds: int) -> Result:
    command = [sys.executable, "-m", "mqtt_actions_cli.main", "local"]
    command += ["--mqtt-port", "0", "--aws-port", "0", "--control-port", "0"]
    command += ["--param", f"ActionsCacheSeconds={cache_seconds}"]
    seen: Seen = {"warm": {}, "flood": {}, "paced": {}}
    order = [("warm", 0)]
    order += [("flood", i) for i in range(count)]
    order += [("paced", i) for i in range(latency_count)]
    done = iter(order)

    def on_line(line: str) -> None:
        if DONE_LINE in line:
            variable, value = next(done, ("extra", 0))
            seen.setdefault(variable, {})[value] = time.time()

    process, match = _start(command, READY, on_line)
    try:
        port, aws = int(match[1]), match[2]
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=aws,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto accepts any
        )
        DynamoActionsStore("ActionsTable", dynamodb).put_all(load_actions_file(ACTIONS))
        publisher = _client(DEVICE, port)
        # Warm up (the first invocation imports and connects), outside the measurement.
        _publish(publisher, "bench/stack", "warm", 1)
        _wait(seen, "warm", 1, timeout=60)
        rate, latencies = _measure(publisher, "bench/stack", seen, count, latency_count)
        publisher.disconnect()
        publisher.loop_stop()
        lost = count - _count(dynamodb, "flood") + latency_count - _count(dynamodb, "paced")
    finally:
        _stop(process)
    if "extra" in seen:
        raise SystemExit("the stack logged more outcome lines than messages were published")
    return Result(rate, latencies, lost)


# ---------------------------------------------------------------------------- the store's floor


def bench_floor(count: int) -> float:
    """msg/s of the router's two DynamoDB writes per message alone (see the module docstring)."""
    from moto import mock_aws

    from mqtt_actions_cli.cfn import LocalNames, create_tables, load_template

    with mock_aws():
        dynamodb = boto3.client(
            "dynamodb",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto accepts any
        )
        tables = create_tables(load_template(ROOT / "template.yaml"), dynamodb, LocalNames())
        bucket = DynamoBucket(tables["BucketTable"], dynamodb)
        inspector = DynamoInspector(tables["InspectorTable"], dynamodb, 7)
        done = ActionResult(
            action_id="bench-store", action_type="insert_bucket", outcome=Outcome.DONE
        )
        start = time.perf_counter()
        for i in range(count):
            payload = json.dumps({"variable": "floor", "value": i}).encode()
            points = wrap_payload(payload, "bench/floor")
            message = MessageRecord(
                device=DEVICE,
                topic="bench/floor",
                traceid=f"floor-{i}",
                timestamp=int(time.time() * 1000),
                size=len(payload),
                preview=payload.decode(),
                points=len(points),
                matched=1,
            )
            inspector.record_message(message)
            bucket.insert(DEVICE, points, traceid=message.traceid, timestamp=message.timestamp)
            inspector.record_outcomes(message, [done])
        return count / (time.perf_counter() - start)


def main() -> None:
    if "--raw-broker" in sys.argv:
        serve_raw_broker()
        return
    quick = "--quick" in sys.argv
    count = 200 if quick else 1_000
    if "--messages" in sys.argv:
        count = int(sys.argv[sys.argv.index("--messages") + 1])
    latency_count = min(count, 50 if quick else LATENCY_MESSAGES)
    raw = bench_raw(count, latency_count)
    rows = [
        ("amqtt publish → subscribe (the ceiling)", raw),
        (
            "local stack publish → stored, actions cache 30 s",
            bench_stack(count, latency_count, 30),
        ),
        (
            "local stack publish → stored, actions cache 0 s (`make run`)",
            bench_stack(count, latency_count, 0),
        ),
    ]
    floor = bench_floor(count)
    print(
        f"QoS 1, one publisher: msg/s from {count:,} messages as fast as acknowledged; "
        f"p50/p99 from {latency_count} more at half that rate; "
        "stored = the stack's outcome line for the message (the handler returned)"
    )
    print()
    print("| path | msg/s | p50 ms | p99 ms | lost | of ceiling |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, result in rows:
        share = result.rate / raw.rate * 100
        rate = f"{result.rate:,.0f}" if result.rate >= 100 else f"{result.rate:.1f}"
        print(
            f"| {name} | {rate} | {result.pct(0.5):,.0f} | {result.pct(0.99):,.0f} "
            f"| {result.lost} | {share:.0f} % |"
            if share >= 10
            else f"| {name} | {rate} | {result.pct(0.5):,.0f} | {result.pct(0.99):,.0f} "
            f"| {result.lost} | {share:.1f} % |"
        )
    print(
        f"| floor: the router's 2 DynamoDB writes / message into moto in-process, nothing else "
        f"| {floor:,.0f} | - | - | - | {floor / raw.rate * 100:.0f} % |"
    )
    print()
    print(f"Machine: {machine()}")
    if any(r.lost for _, r in rows):
        raise SystemExit("messages were lost")


if __name__ == "__main__":
    main()
