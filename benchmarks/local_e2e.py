"""Sustained QoS 1 publishing through the local stack into insert_bucket, against the ceiling: the
same broker (amqtt, same version, same listener) relaying publish -> subscribe, same run.

    .venv/bin/python benchmarks/local_e2e.py [--quick] [--messages N]

Stack: `mqtt-actions local` in a subprocess (as `make run` starts it); one paho client publishes
QoS 1 JSON points as fast as the broker acknowledges them; the action `insert_bucket` stores each
in BucketTable (moto). "Stored" is when a poll of the bucket (every POLL_S) first sees the row,
so latencies carry up to POLL_S of observation delay. Lost = published - rows in the bucket.
Raw: a bare amqtt broker (no IoT Core plugin, no rules) in a subprocess; one publisher, one QoS 1
subscriber; latency is publish -> delivery.
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

POLL_S = 0.02
DEVICE = "bench-device"
READY = re.compile(r"^ready: mqtt://[\d.]+:(\d+) aws=(\S+) control=(\S+)")
ACTIONS = """
actions:
  - {id: bench-store, topics: ["bench/#"], type: insert_bucket}
"""


@dataclass
class Result:
    messages: int
    seconds: float
    latencies_ms: list[float]
    lost: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _env() -> dict[str, str]:
    paths = [str(ROOT / "cli"), str(ROOT / "layers" / "core"), str(ROOT)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONUNBUFFERED": "1"}


def _start(
    command: list[str], pattern: re.Pattern[str]
) -> tuple[subprocess.Popen[str], re.Match[str]]:
    process = subprocess.Popen(  # noqa: S603 - our own commands
        command, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    found: queue.Queue[re.Match[str] | None] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:  # keep draining so the child never blocks on a full pipe
            if (match := pattern.match(line)) is not None:
                found.put(match)
        found.put(None)

    threading.Thread(target=read, daemon=True).start()
    match = found.get(timeout=120)
    if match is None:
        raise SystemExit(f"{command[3:5]} did not start")
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


def _publish_all(client: mqtt.Client, count: int, topic: str) -> list[float]:
    sent: list[float] = []
    infos = []
    for i in range(count):
        sent.append(time.time())
        payload = json.dumps({"variable": "seq", "value": i})
        infos.append(client.publish(topic, payload, qos=1))
    for info in infos:
        info.wait_for_publish(timeout=60)
    return sent


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


def bench_raw(count: int) -> Result:
    process, match = _start(
        [sys.executable, __file__, "--raw-broker"], re.compile(r"^raw broker port (\d+)")
    )
    try:
        port = int(match[1])
        received: dict[int, float] = {}
        done = threading.Event()
        subscriber = _client("bench-sub", port)

        def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
            received[json.loads(message.payload)["value"]] = time.time()
            if len(received) == count:
                done.set()

        subscribed = threading.Event()
        subscriber.on_message = on_message
        subscriber.on_subscribe = lambda *_: subscribed.set()
        subscriber.subscribe("bench/#", 1)
        subscribed.wait(10)
        publisher = _client("bench-pub", port)
        sent = _publish_all(publisher, count, "bench/raw")
        done.wait(timeout=max(60.0, count / 50))
        publisher.disconnect()
        subscriber.disconnect()
        publisher.loop_stop()
        subscriber.loop_stop()
    finally:
        _stop(process)
    latencies = [(received[i] - sent[i]) * 1000 for i in received]
    last = max(received.values(), default=sent[-1])
    return Result(count, last - sent[0], latencies, count - len(received))


# ---------------------------------------------------------------------------- the stack


def _rows_since(dynamodb: Any, from_sk: str, limit: int = 500) -> list[dict[str, Any]]:
    """Rows of variable `seq`/`warm` from `from_sk` on (inclusive), in key order."""
    prefix = from_sk.split("#", 1)[0]
    page = dynamodb.query(
        TableName="BucketTable",
        KeyConditionExpression="device = :d AND sk BETWEEN :lo AND :hi",
        ExpressionAttributeValues={
            ":d": {"S": DEVICE},
            ":lo": {"S": from_sk},
            ":hi": {"S": f"{prefix}#~"},
        },
        Limit=limit,
    )
    items: list[dict[str, Any]] = page["Items"]
    return items


def bench_stack(count: int, cache_seconds: int) -> Result:
    command = [sys.executable, "-m", "mqtt_actions_cli.main", "local"]
    command += ["--mqtt-port", "0", "--aws-port", "0", "--control-port", "0"]
    command += ["--param", f"ActionsCacheSeconds={cache_seconds}"]
    process, match = _start(command, READY)
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
        # Warm up (first invocation imports and connects), outside the measurement.
        publisher.publish("bench/warmup", json.dumps({"variable": "warm", "value": 0}), qos=1)
        deadline = time.monotonic() + 60
        while not _rows_since(dynamodb, "warm#") and time.monotonic() < deadline:
            time.sleep(0.1)

        stored: dict[int, float] = {}
        after = "seq#"
        stop_polling = threading.Event()

        def poll() -> None:
            nonlocal after
            while not stop_polling.is_set() and len(stored) < count:
                for item in _rows_since(dynamodb, after):
                    stored.setdefault(int(json.loads(item["data"]["S"])["value"]), time.time())
                    after = item["sk"]["S"]
                time.sleep(POLL_S)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        sent = _publish_all(publisher, count, "bench/stack")
        poller.join(timeout=max(120.0, count / 5))
        stop_polling.set()
        publisher.disconnect()
        publisher.loop_stop()
        rows = dynamodb.query(
            TableName="BucketTable",
            KeyConditionExpression="device = :d AND begins_with(sk, :v)",
            ExpressionAttributeValues={":d": {"S": DEVICE}, ":v": {"S": "seq#"}},
            Select="COUNT",
        )["Count"]
    finally:
        _stop(process)
    latencies = [(stored[i] - sent[i]) * 1000 for i in stored]
    last = max(stored.values(), default=sent[-1])
    return Result(count, last - sent[0], latencies, count - rows)


def main() -> None:
    if "--raw-broker" in sys.argv:
        serve_raw_broker()
        return
    quick = "--quick" in sys.argv
    count = 200 if quick else 1_000
    if "--messages" in sys.argv:
        count = int(sys.argv[sys.argv.index("--messages") + 1])
    raw = bench_raw(count)
    rows = [
        ("amqtt publish → subscribe (the ceiling)", raw),
        ("local stack publish → stored, actions cache 30 s", bench_stack(count, 30)),
        (
            "local stack publish → stored, actions cache 0 s (`make run`)",
            bench_stack(count, 0),
        ),
    ]
    print(
        f"QoS 1, {count:,} messages, one publisher; "
        f"stored = first seen by a {POLL_S * 1000:.0f} ms poll of the bucket"
    )
    print()
    print("| path | msg/s | p50 ms | p99 ms | lost | of ceiling |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, result in rows:
        share = result.rate / raw.rate * 100
        print(
            f"| {name} | {result.rate:,.0f} | {result.pct(0.5):,.0f} | {result.pct(0.99):,.0f} "
            f"| {result.lost} | {share:.0f} % |"
        )
    print()
    print(f"Machine: {machine()}")
    if any(r.lost for _, r in rows):
        raise SystemExit("messages were lost")


if __name__ == "__main__":
    main()
