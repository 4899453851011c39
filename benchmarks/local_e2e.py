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

Two stack rows: `make run` as it is (actions cached for ActionsCacheSeconds, reloaded when the
change marker says they changed) and as it was (ActionsCacheSeconds=0: reloaded per message).
Both keep their state in a temporary directory, saved every few seconds as `make run` does.

Waking devices: WAKE_CLIENTS clients each connect, publish 1-5 QoS 1 messages and disconnect as
soon as they are PUBACKed, again, until N messages; lost = PUBACKed but never delivered to a
QoS 1 subscriber (the broker alone: amqtt 0.12.1 as released, the named peer, and amqtt with the
stack's fixes) or never stored as a bucket row (the stack). The script fails if the fixed broker
or the stack loses any.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import tempfile
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

from mqtt_actions.adapters.actions_store import DynamoActionsStore  # noqa: E402
from mqtt_actions.adapters.bucket import DynamoBucket  # noqa: E402
from mqtt_actions.adapters.inspector import DynamoInspector  # noqa: E402
from mqtt_actions.payload import wrap_payload  # noqa: E402
from mqtt_actions.ports import ActionResult, MessageRecord, Outcome  # noqa: E402
from mqtt_actions_cli.actions_file import load_actions_file  # noqa: E402

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


def serve_raw_broker(unpatched: bool) -> None:
    """Child mode: the local stack's broker (amqtt with the stack's fixes, the same listener on a
    socket of ours; `unpatched`: amqtt's own Broker) with no IoT Core plugin and no rules, on
    127.0.0.1; prints its port; runs until SIGINT/SIGTERM."""
    from amqtt.adapters import StreamReaderAdapter, StreamWriterAdapter
    from amqtt.broker import Broker

    from mqtt_actions_cli.local.amqtt_fixes import FixedBroker
    from mqtt_actions_cli.local.broker import LISTENER, IotCorePlugin, broker_config

    async def serve() -> None:
        config = broker_config()
        config["plugins"].pop(f"{IotCorePlugin.__module__}.{IotCorePlugin.__qualname__}")
        broker = Broker(config) if unpatched else FixedBroker(config)
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

    asyncio.run(serve())


def _raw_broker(unpatched: bool = False) -> tuple[subprocess.Popen[str], int]:
    command = [sys.executable, __file__, "--raw-broker"] + (["--unpatched"] if unpatched else [])
    process, match = _start(command, re.compile(r"^raw broker port (\d+)"))
    return process, int(match[1])


def bench_raw(count: int, latency_count: int) -> Result:
    process, port = _raw_broker()
    seen: Seen = {"flood": {}, "paced": {}}
    try:
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


def _count(dynamodb: Any, variable: str, device: str = DEVICE) -> int:
    count, kwargs = (
        0,
        {
            "TableName": "BucketTable",
            "KeyConditionExpression": "device = :d AND begins_with(sk, :v)",
            "ExpressionAttributeValues": {":d": {"S": device}, ":v": {"S": f"{variable}#"}},
            "Select": "COUNT",
        },
    )
    while True:
        page = dynamodb.query(**kwargs)
        count += page["Count"]
        if "LastEvaluatedKey" not in page:
            return count
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _stack_command(state_dir: str, *params: str) -> list[str]:
    """`make run`'s command on free ports, its state in `state_dir` (saved as `make run` does)."""
    command = [sys.executable, "-m", "mqtt_actions_cli.main", "local"]
    command += ["--mqtt-port", "0", "--aws-port", "0", "--control-port", "0"]
    command += ["--state-dir", state_dir, "--fresh"]
    for param in params:
        command += ["--param", param]
    return command


def _dynamodb(aws: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=aws,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto accepts any
    )


def bench_stack(count: int, latency_count: int, *params: str) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-state-") as state_dir:
        return _bench_stack(_stack_command(state_dir, *params), count, latency_count)


def _bench_stack(command: list[str], count: int, latency_count: int) -> Result:
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
        dynamodb = _dynamodb(aws)
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


# ---------------------------------------------------------------------------- waking devices

WAKE_CLIENTS = 20
WAKE_STALL_SECONDS = 15.0  # nothing new stored for this long: the rest is lost


@dataclass
class WakeResult:
    rate: float  # msg/s from the first connect to the last message stored/delivered
    lost: int  # acknowledged (PUBACKed) but never stored/delivered
    cycles: int  # connect -> publish 1-5 -> disconnect rounds


def _wake(port: int, count: int) -> tuple[float, int]:
    """WAKE_CLIENTS devices (wake-NN) each connect, publish 1-5 QoS 1 points on bench/wake-NN,
    disconnect as soon as they are PUBACKed, again, until `count` in all; (start, cycles)."""
    cycles: list[int] = []
    failures: list[str] = []

    def device(number: int, share: int) -> None:
        name, sent, draw = f"wake-{number:02d}", 0, random.Random(number)
        try:
            while sent < share:
                burst = min(draw.randint(1, 5), share - sent)
                client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
                client.connect("127.0.0.1", port, keepalive=60)
                client.loop_start()
                infos = [
                    client.publish(f"bench/{name}", json.dumps({"variable": "w", "value": v}), 1)
                    for v in range(sent, sent + burst)
                ]
                for info in infos:
                    info.wait_for_publish(timeout=60)
                client.disconnect()
                client.loop_stop()
                sent += burst
                cycles.append(1)
        except Exception as exc:  # reported below: a benchmark that cannot publish stops
            failures.append(f"{name}: {exc!r}")

    shares = [count // WAKE_CLIENTS + (n < count % WAKE_CLIENTS) for n in range(WAKE_CLIENTS)]
    start = time.time()
    threads = [threading.Thread(target=device, args=(n, shares[n])) for n in range(WAKE_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"waking devices could not publish: {failures[:3]}")
    return start, len(cycles)


def _settle(progress: Callable[[], int], count: int) -> None:
    """Wait until `count` arrived, or nothing new for WAKE_STALL_SECONDS."""
    seen, since = -1, time.monotonic()
    while (now_seen := progress()) < count and time.monotonic() - since < WAKE_STALL_SECONDS:
        if now_seen != seen:
            seen, since = now_seen, time.monotonic()
        time.sleep(0.2)


def bench_wake_raw(count: int, unpatched: bool) -> WakeResult:
    """The waking devices against the broker alone; delivered = reached a QoS 1 subscriber."""
    process, port = _raw_broker(unpatched)
    received: dict[tuple[str, int], float] = {}
    try:
        subscriber = _client("bench-sub", port)

        def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
            received[(message.topic, json.loads(message.payload)["value"])] = time.time()

        subscribed = threading.Event()
        subscriber.on_message = on_message
        subscriber.on_subscribe = lambda *_: subscribed.set()
        subscriber.subscribe("bench/#", 1)
        subscribed.wait(10)
        start, cycles = _wake(port, count)
        _settle(lambda: len(received), count)
        subscriber.disconnect()
        subscriber.loop_stop()
    finally:
        _stop(process)
    last = max(received.values(), default=time.time())
    return WakeResult(len(received) / (last - start), count - len(received), cycles)


def bench_wake_stack(count: int) -> WakeResult:
    """The waking devices against `make run`'s stack; stored = a bucket row (counted at the end),
    timed by the outcome lines."""
    stored: list[float] = []

    def on_line(line: str) -> None:
        if "act  bench/wake-" in line and "bench-store=done" in line:
            stored.append(time.time())

    with tempfile.TemporaryDirectory(prefix="bench-state-") as state_dir:
        process, match = _start(_stack_command(state_dir), READY, on_line)
        try:
            port, dynamodb = int(match[1]), _dynamodb(match[2])
            DynamoActionsStore("ActionsTable", dynamodb).put_all(load_actions_file(ACTIONS))
            start, cycles = _wake(port, count)
            _settle(lambda: len(stored), count)
            rows = sum(_count(dynamodb, "w", f"wake-{n:02d}") for n in range(WAKE_CLIENTS))
        finally:
            _stop(process)
    last = max(stored, default=time.time())
    return WakeResult(len(stored) / (last - start), count - rows, cycles)


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
        serve_raw_broker(unpatched="--unpatched" in sys.argv)
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
            "local stack, `make run` (actions cached, change marker)",
            bench_stack(count, latency_count),
        ),
        (
            "local stack, actions reloaded on every message (`make run` before)",
            bench_stack(count, latency_count, "ActionsCacheSeconds=0"),
        ),
    ]
    floor = bench_floor(count)
    wake = [
        ("amqtt 0.12.1 as released, publish → subscribe", bench_wake_raw(count, unpatched=True)),
        ("amqtt with the stack's fixes, publish → subscribe", bench_wake_raw(count, False)),
        ("local stack (`make run`), publish → stored", bench_wake_stack(count)),
    ]
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
        print(
            f"| {name} | {_rate(result.rate)} | {result.pct(0.5):,.0f} | {result.pct(0.99):,.0f} "
            f"| {result.lost} | {_share(share)} |"
        )
    print(
        f"| floor: the router's 2 DynamoDB writes / message into moto in-process, nothing else "
        f"| {floor:,.0f} | - | - | - | {floor / raw.rate * 100:.0f} % |"
    )
    print()
    print(
        f"Waking devices: {WAKE_CLIENTS} clients each connect, publish 1-5 QoS 1 messages and "
        f"disconnect at once, until {count:,} messages; lost = PUBACKed but never delivered "
        "(broker) or stored (stack); msg/s from the first connect to the last delivery"
    )
    print()
    print("| path | cycles | msg/s | lost | share lost |")
    print("|---|---:|---:|---:|---:|")
    for name, result in wake:
        print(
            f"| {name} | {result.cycles:,} | {_rate(result.rate)} | {result.lost:,} "
            f"| {result.lost / count * 100:.1f} % |"
        )
    print()
    print(f"Machine: {machine()}")
    if any(r.lost for _, r in rows) or any(r.lost for _, r in wake[1:]):
        raise SystemExit("messages were lost")


def _rate(rate: float) -> str:
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.1f}"


def _share(percent: float) -> str:
    return f"{percent:.0f} %" if percent >= 10 else f"{percent:.1f} %"


if __name__ == "__main__":
    main()
