"""The local stack under a fleet's load, side by side with the raw broker, in one run.

    .venv/bin/python benchmarks/local_e2e.py [--quick] [--messages N] [--rounds R]

Two loads, each N QoS 1 JSON points (`{"variable": "v", "value": <sequence>}`):
  (a) steady: STEADY_CLIENTS clients, connected first, each publishing its share as fast as the
      broker acknowledges (up to 100 in flight);
  (b) waking: WAKE_CLIENTS devices, each connecting, publishing 1-5 points, disconnecting as soon
      as they are PUBACKed, again, until N in all (the battery-device pattern).
Three paths, each in a fresh subprocess:
  - raw amqtt: the stack's broker (amqtt with its fixes) without the IoT Core plugin or rules;
    "stored" = delivered to a QoS 1 subscriber of `bench/#`;
  - the local stack (`make run`'s command, state saved every few seconds) at
    `InspectorLevel=all` and at `errors`: every message matches two actions, `insert_bucket` and
    `mqtt_publish` (to `out/echo/<device>`, which the route rule routes again); "stored" = the
    stack's outcome line for the message (printed after the handler returned, its row written
    and its echo published), read from its log: polling its moto for rows would compete with
    the handlers for its CPU.
msg/s = N / (last stored - first publish). Lost and duplicated are counted at the end from what
arrived (raw) or from the bucket rows themselves (stack): each device's values must be exactly
its sequence. The script fails when anything is lost or duplicated or an action did not end
`done`.

The handlers' floor: the RouterFunction handler of template.yaml called directly, in one
thread, with the same two actions, for each message and its echo, against moto in-process:
no broker, no rules engine, no runtime. The stack cannot be faster than its handlers.

Rounds: `--rounds R` runs everything R times and prints the medians (the machine is shared: a
single run moves with the load of others; the ratios to the raw broker, same round, move less).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT / "cli"), str(ROOT)]

import boto3  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from _machine import machine  # noqa: E402

from mqtt_actions.adapters.actions_store import DynamoActionsStore  # noqa: E402
from mqtt_actions_cli.actions_file import load_actions_file  # noqa: E402
from scripts.child_process import Child, project_env  # noqa: E402

STEADY_CLIENTS = 20
WAKE_CLIENTS = 50
IN_FLIGHT = 100
STALL_SECONDS = 30.0  # nothing new stored for this long: the rest is lost
LEVELS = ("all", "errors")
READY = re.compile(r"^ready: mqtt://[\d.]+:(\d+) aws=(\S+) control=(\S+)")
OUTCOME = re.compile(r"act  bench/(\S+): (.*) \(RouterFunction")
EXPECTED = ["bench-echo=done", "bench-store=done"]  # the outcome line, sorted
ACTIONS = """
actions:
  - {id: bench-store, topics: ["bench/#"], type: insert_bucket}
  - id: bench-echo
    topics: ["bench/#"]
    type: mqtt_publish
    topic: out/echo/$DEVICE$
    payload: $PAYLOAD$
    qos: 1
"""
LOADS = {
    "steady": f"(a) {STEADY_CLIENTS} steady publishers",
    "wake": f"(b) {WAKE_CLIENTS} waking devices",
}


@dataclass
class Result:
    rate: float  # msg/s, first publish -> last stored
    lost: int
    duplicated: int
    cycles: int = 0  # connect-publish-disconnect rounds (waking devices)
    problems: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- processes


@contextlib.contextmanager
def _process(
    command: list[str], pattern: re.Pattern[str], on_line: Callable[[str], None] | None = None
) -> Iterator[re.Match[str]]:
    """Run `command` until the block ends (SIGINT, as Ctrl-C); yields its first line matching
    `pattern`. Every line goes to `on_line` (the child never blocks on a full pipe)."""
    child = Child(command, on_line=on_line)
    try:
        match = child.wait_for(pattern, 120)
        if match is None:
            raise SystemExit(f"{command} did not start")
        yield match
    finally:
        child.stop(timeout=60)


# ---------------------------------------------------------------------------- the two loads


def _client(client_id: str, port: int) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.max_inflight_messages_set(IN_FLIGHT)
    client.max_queued_messages_set(0)
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_start()
    if not connected.wait(30):
        raise SystemExit(f"{client_id} could not connect")
    return client


def _point(value: int) -> str:
    return json.dumps({"variable": "v", "value": value})


def _shares(count: int, clients: int) -> list[int]:
    return [count // clients + (n < count % clients) for n in range(clients)]


def _run_threads(work: Callable[[int], None], clients: int) -> None:
    failures: list[str] = []

    def guarded(number: int) -> None:
        try:
            work(number)
        except Exception as exc:  # reported below: a benchmark that cannot publish stops
            failures.append(f"client {number}: {exc!r}")

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"publishing failed: {failures[:3]}")


def steady(port: int, count: int) -> tuple[float, dict[str, int], int]:
    """(first publish, device -> points sent, cycles)."""
    shares = _shares(count, STEADY_CLIENTS)
    names = [f"steady-{n:02d}" for n in range(STEADY_CLIENTS)]
    clients = [_client(name, port) for name in names]

    def publish(number: int) -> None:
        client, topic = clients[number], f"bench/{names[number]}"
        infos = [client.publish(topic, _point(v), qos=1) for v in range(shares[number])]
        for info in infos:
            info.wait_for_publish(timeout=600)

    start = time.time()
    _run_threads(publish, STEADY_CLIENTS)
    for client in clients:
        client.disconnect()
        client.loop_stop()
    return start, dict(zip(names, shares, strict=True)), STEADY_CLIENTS


def wake(port: int, count: int) -> tuple[float, dict[str, int], int]:
    """(first connect, device -> points sent, connect-publish-disconnect cycles)."""
    shares = _shares(count, WAKE_CLIENTS)
    names = [f"wake-{n:02d}" for n in range(WAKE_CLIENTS)]
    cycles: list[int] = []

    def device(number: int) -> None:
        name, sent, draw = names[number], 0, random.Random(number)
        while sent < shares[number]:
            burst = min(draw.randint(1, 5), shares[number] - sent)
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
            client.connect("127.0.0.1", port, keepalive=60)
            client.loop_start()
            infos = [
                client.publish(f"bench/{name}", _point(v), 1) for v in range(sent, sent + burst)
            ]
            for info in infos:
                info.wait_for_publish(timeout=600)
            client.disconnect()
            client.loop_stop()
            sent += burst
            cycles.append(1)

    start = time.time()
    _run_threads(device, WAKE_CLIENTS)
    return start, dict(zip(names, shares, strict=True)), len(cycles)


Load = Callable[[int, int], tuple[float, dict[str, int], int]]
LOAD_FUNCTIONS: dict[str, Load] = {"steady": steady, "wake": wake}


def _settle(progress: Callable[[], int], count: int) -> None:
    """Wait until `count` arrived, or nothing new for STALL_SECONDS."""
    seen, since = -1, time.monotonic()
    while (now_seen := progress()) < count and time.monotonic() - since < STALL_SECONDS:
        if now_seen != seen:
            seen, since = now_seen, time.monotonic()
        time.sleep(0.1)


def _check(sent: dict[str, int], got: dict[str, list[int]]) -> tuple[int, int]:
    """(lost, duplicated): each device must have exactly values 0 .. sent-1."""
    lost = duplicated = 0
    for device, count in sent.items():
        values = got.get(device, [])
        lost += len(set(range(count)) - set(values))
        duplicated += len(values) - len(set(values))
    return lost, duplicated


# ---------------------------------------------------------------------------- raw broker


def serve_raw_broker() -> None:
    """Child mode: the local stack's broker (amqtt with the stack's fixes, the same listener on a
    socket of ours) with no IoT Core plugin and no rules, on 127.0.0.1; prints its port; runs
    until SIGINT/SIGTERM."""
    from amqtt.adapters import StreamReaderAdapter, StreamWriterAdapter

    from mqtt_actions_cli.local.amqtt_fixes import FixedBroker
    from mqtt_actions_cli.local.broker import LISTENER, IotCorePlugin, broker_config

    async def serve() -> None:
        config = broker_config()
        config["plugins"].pop(f"{IotCorePlugin.__module__}.{IotCorePlugin.__qualname__}")
        broker = FixedBroker(config)
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


def bench_raw(load: str, count: int) -> Result:
    command = [sys.executable, __file__, "--raw-broker"]
    received: dict[str, list[int]] = {}
    times: list[float] = []
    lock = threading.Lock()

    def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        with lock:
            received.setdefault(message.topic.split("/", 1)[1], []).append(
                json.loads(message.payload)["value"]
            )
            times.append(time.time())

    with _process(command, re.compile(r"^raw broker port (\d+)")) as match:
        port = int(match[1])
        subscriber = _client("bench-sub", port)
        subscribed = threading.Event()
        subscriber.on_message = on_message
        subscriber.on_subscribe = lambda *_: subscribed.set()
        subscriber.subscribe("bench/#", 1)
        subscribed.wait(10)
        start, sent, cycles = LOAD_FUNCTIONS[load](port, count)
        _settle(lambda: len(times), count)
        subscriber.disconnect()
        subscriber.loop_stop()
    lost, duplicated = _check(sent, received)
    return Result(count / (max(times, default=time.time()) - start), lost, duplicated, cycles)


# ---------------------------------------------------------------------------- the stack


def _dynamodb(aws: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=aws,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto accepts any
    )


def _rows(dynamodb: Any, device: str) -> list[int]:
    values: list[int] = []
    kwargs: dict[str, Any] = {
        "TableName": "BucketTable",
        "KeyConditionExpression": "device = :d AND begins_with(sk, :v)",
        "ExpressionAttributeValues": {":d": {"S": device}, ":v": {"S": "v#"}},
    }
    while True:
        page = dynamodb.query(**kwargs)
        values += [int(item["value_n"]["N"]) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return values
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def bench_stack(load: str, count: int, level: str) -> Result:
    stored: list[float] = []
    problems: list[str] = []

    def on_line(line: str) -> None:
        if (match := OUTCOME.search(line)) is not None:
            stored.append(time.time())
            if sorted(match[2].split(", ")) != EXPECTED:
                problems.append(f"{match[1]}: {match[2]}")

    with tempfile.TemporaryDirectory(prefix="bench-state-") as state_dir:
        command = [sys.executable, "-m", "mqtt_actions_cli.main", "local", "--no-console"]
        command += ["--mqtt-port", "0", "--aws-port", "0", "--control-port", "0"]
        command += ["--state-dir", state_dir, "--fresh", "--param", f"InspectorLevel={level}"]
        with _process(command, READY, on_line) as match:
            port, dynamodb = int(match[1]), _dynamodb(match[2])
            DynamoActionsStore("ActionsTable", dynamodb).put_all(load_actions_file(ACTIONS))
            start, sent, cycles = LOAD_FUNCTIONS[load](port, count)
            _settle(lambda: len(stored), count)
            rows = {device: _rows(dynamodb, device) for device in sent}
    lost, duplicated = _check(sent, rows)
    rate = len(stored) / (max(stored, default=time.time()) - start)
    return Result(rate, lost, duplicated, cycles, problems)


# ---------------------------------------------------------------------------- handlers alone


def run_handlers(level: str, count: int) -> None:
    """Child mode: RouterFunction's handler called directly for `count` messages and their
    echoes, against moto in-process; prints msg/s."""
    from moto import mock_aws

    from mqtt_actions_cli.cfn import LocalNames, create_queues, create_tables, load_template
    from mqtt_actions_cli.local.runtime import LambdaContext, function_environment, load_handler
    from mqtt_actions_cli.local.template import REGION, load_local_template

    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    with mock_aws():
        template = load_template(ROOT / "template.yaml")
        names = LocalNames()
        physical = {
            **create_tables(template, boto3.client("dynamodb", region_name=REGION), names),
            **create_queues(template, boto3.client("sqs", region_name=REGION), names),
        }
        spec = load_local_template(
            template, root=ROOT, physical=physical, parameters={"InspectorLevel": level}
        ).functions["RouterFunction"]
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        DynamoActionsStore(physical["ActionsTable"], dynamodb).put_all(load_actions_file(ACTIONS))
        # As `make run` sets it without --auth tokens: the client id names the device.
        environment = {**spec.environment, "DEVICE_IDENTITY": "client-id"}
        with function_environment(environment):
            handler = load_handler(spec)

            def invoke(topic: str, payload: bytes, n: int) -> Any:
                import base64

                event = {
                    "payload": base64.b64encode(payload).decode(),
                    "topic": topic,
                    "clientid": "floor",
                    "principal": "floor",
                    "timestamp": int(time.time() * 1000),
                    "traceid": f"{topic}-{n}",
                }
                context = LambdaContext(spec.logical_id, spec.arn, 256, 30)
                return handler(json.loads(json.dumps(event)), context)

            invoke("bench/floor", _point(-1).encode(), -1)  # warm: imports, clients, actions
            start = time.perf_counter()
            for n in range(count):
                payload = _point(n).encode()
                outcomes = invoke("bench/floor", payload, n)["outcomes"]
                assert outcomes == {"bench-store": "done", "bench-echo": "done"}, outcomes
                invoke("out/echo/floor", payload, n)  # the echo, routed again by the route rule
            print(f"handlers {count / (time.perf_counter() - start):.1f}", flush=True)


def bench_handlers(level: str, count: int) -> float:
    command = [sys.executable, __file__, "--handlers", level, str(count)]
    done = subprocess.run(  # noqa: S603 - our own command
        command,
        cwd=ROOT,
        env=project_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    match = re.search(r"^handlers ([\d.]+)$", done.stdout, re.MULTILINE)
    if match is None:
        raise SystemExit(f"the handlers' floor failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return float(match[1])


# ---------------------------------------------------------------------------- report


Round = dict[tuple[str, str], Result]  # (load, path) -> result


def one_round(count: int) -> tuple[Round, dict[str, float]]:
    results: Round = {}
    for load in LOADS:
        results[(load, "raw")] = bench_raw(load, count)
        for level in LEVELS:
            results[(load, level)] = bench_stack(load, count, level)
    floors = {level: bench_handlers(level, max(200, count // 4)) for level in LEVELS}
    return results, floors


def render(rounds: list[tuple[Round, dict[str, float]]], count: int) -> str:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    lines = [
        f"{count:,} QoS 1 messages per load; msg/s from the first publish to the last stored "
        f"(raw: delivered to a subscriber); every stack message matches insert_bucket and "
        f"mqtt_publish; median of {len(rounds)} round(s), each round's figures in brackets",
        "",
        "| load | path | msg/s | of raw | lost | duplicated |",
        "|---|---|---:|---:|---:|---:|",
    ]
    paths = {
        "raw": "raw amqtt, publish → subscribe",
        "all": "local stack, `InspectorLevel=all`",
        "errors": "local stack, `InspectorLevel=errors`",
    }
    for load, load_name in LOADS.items():
        raw = [r[(load, "raw")].rate for r, _ in rounds]
        for path, path_name in paths.items():
            rates = [r[(load, path)].rate for r, _ in rounds]
            shares = [rate / base for rate, base in zip(rates, raw, strict=True)]
            lost = sum(r[(load, path)].lost for r, _ in rounds)
            duplicated = sum(r[(load, path)].duplicated for r, _ in rounds)
            each = " / ".join(f"{rate:,.0f}" for rate in rates)
            lines.append(
                f"| {load_name} | {path_name} | {median(rates):,.0f} ({each}) "
                f"| {median(shares):.2f}x | {lost} | {duplicated} |"
            )
    lines.append("")
    for level in LEVELS:
        floors = [f[level] for _, f in rounds]
        lines.append(
            f"Handlers alone at `{level}` (RouterFunction called directly for each message and "
            f"its echo, moto in-process, one thread): {median(floors):,.0f} msg/s "
            f"({' / '.join(f'{v:,.0f}' for v in floors)})"
        )
    cycles = [r[("wake", "raw")].cycles for r, _ in rounds]
    lines.append(f"Waking devices: {median(cycles):,.0f} connect-publish-disconnect cycles a run")
    return "\n".join(lines)


def main() -> None:
    if "--raw-broker" in sys.argv:
        serve_raw_broker()
        return
    if "--handlers" in sys.argv:
        at = sys.argv.index("--handlers")
        run_handlers(sys.argv[at + 1], int(sys.argv[at + 2]))
        return
    count = 500 if "--quick" in sys.argv else 2_000
    if "--messages" in sys.argv:
        count = int(sys.argv[sys.argv.index("--messages") + 1])
    total = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 1
    rounds = []
    for number in range(total):
        load_before = os.getloadavg()[0]
        rounds.append(one_round(count))
        print(
            f"round {number + 1}/{total} done; load average {load_before:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after",
            file=sys.stderr,
            flush=True,
        )
    print(render(rounds, count))
    print()
    print(f"Machine: {machine()}; load average at the end {os.getloadavg()[0]:.1f}")
    problems = [
        f"{load}/{path}: {p}"
        for r, _ in rounds
        for (load, path), res in r.items()
        for p in res.problems
    ]
    if problems:
        raise SystemExit(f"actions did not end done: {problems[:5]}")
    if any(res.lost or res.duplicated for r, _ in rounds for res in r.values()):
        raise SystemExit("messages were lost or duplicated")


if __name__ == "__main__":
    main()
