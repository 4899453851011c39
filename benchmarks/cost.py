"""What a million device messages cost on AWS, measured, against a bare IoT rule doing the minimum.

    .venv/bin/python benchmarks/cost.py [--json] [-n N] [--levels all,outcomes,errors]

Sends N device messages (default 2,000) through the real handlers (functions/router,
functions/inspector) in this process against moto, with the tables created from template.yaml:
every message is stored (insert_bucket); ~1 % fire an SMS and ~1 % an e-mail through `when`;
~5 % go to a topic with a webhook; ~1 % to a topic with an mqtt_publish whose republish goes
through the route rule again (as on AWS, where `FROM '#'` sees it); 50 devices connect before and
disconnect after (lifecycle events through the inspector function).

Every AWS request is counted by a botocore hook (`before-parameter-build` / `after-call`), not
by reading our code: DynamoDB write units from the real item sizes (1 per started KB, plus one
write per secondary index holding the item, sized by its projection, as template.yaml defines
them), read units from the items returned (1 per started 4 KB, half when eventually consistent),
SNS and SES sends, iot-data publishes (5 KB units), SQS messages (64 KB chunks), Lambda
invocations. IoT Core itself is metered by the script: one message per 5 KB of payload + topic,
one rule triggered and one action per rule that matches.

Lambda duration: each handler's CPU time is measured here (thread CPU, minus the time spent
inside AWS calls, which moto answers in this thread), scaled to the CPU share Lambda gives the
function's MemorySize (1,769 MB = one vCPU), plus an assumed in-region wait per AWS round trip
(WAIT_MS below: not measurable here, stated as an assumption). MemorySize and Architectures are
read from template.yaml (Globals, or the function's own).

The floor: a bare IoT rule `SELECT * FROM '#'` with one DynamoDBv2 action writing the message's
JSON as one item (device + timestamp keys, no index) to a table, for the same device messages.
SMS and e-mail prices are what those sends cost whoever sends them: shown, but outside the ratio.

Output: a table in $ per million device messages by line item, per InspectorLevel, and the
ratio to the floor; `--json`: one object per level with `level` and `ratio` (and the lines).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.server
import io
import json
import math
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT), str(ROOT / "cli")]
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "MqttActionsBench")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "mqtt-actions-bench")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "ERROR")
os.environ.setdefault("POWERTOOLS_DEV", "false")

import _billing as bill  # noqa: E402
from _machine import machine  # noqa: E402

REGION = "us-east-1"
SENDER = "alerts@example.com"
DEVICES = 50
LEVELS = ("all", "outcomes", "errors")
VCPU_MB = 1769  # Lambda: a function with 1,769 MB has the equivalent of one vCPU
# RouterBatching=Kinesis, as template.yaml's RouteStreamMapping sets it: up to BATCH_SIZE records
# an invocation, gathered for up to 1 s (MaximumBatchingWindowInSeconds) per shard.
BATCH_SIZE = 100
RATES = (10, 100, 1000)  # messages/s at which the stream's fixed cost is priced
MESSAGES_PER_SHARD = 500  # planned per shard (a shard takes 1,000 records/s): half its limit
MAX_PARALLELIZATION = 10  # Lambda's ParallelizationFactor: concurrent batches per shard
# Assumed wait per round trip from a warm Lambda in us-east-1 (ms). Not measurable here: moto
# answers in-process. A webhook's wait is the receiver's; 100 ms is a typical HTTPS POST.
WAIT_MS = {
    "dynamodb": 5.0,
    "sqs": 10.0,
    "sns": 20.0,
    "sesv2": 30.0,
    "iot-data": 10.0,
    "lambda": 15.0,
    "webhook": 100.0,
}

ACTIONS = """
actions:
  - {id: store, topics: ["devices/#"], type: insert_bucket}
  - id: too-hot
    topics: ["devices/+/telemetry"]
    type: sms
    to: ["+15555550100"]
    message: "$DEVICE$ at $VALUE$$UNIT$"
    when: [{variable: temperature, op: ">", value: 39.6}]
    rate_limit: {max: 1000000, per_seconds: 60}
  - id: too-cold
    topics: ["devices/+/telemetry"]
    type: email
    to: [ops@example.com]
    subject: "$DEVICE$ is cold"
    message: "$DEVICE$ at $VALUE$$UNIT$"
    when: [{variable: temperature, op: "<", value: 0.4}]
    rate_limit: {max: 1000000, per_seconds: 60}
  - {id: hook, topics: ["devices/+/event"], type: webhook, url: "WEBHOOK_URL", allow_http: true}
  - {id: ack, topics: ["devices/+/cmd"], type: mqtt_publish, topic: "ack/$DEVICE$", payload: "ok"}
"""


# ---------------------------------------------------------------- the meter (botocore hook)


@dataclass
class Meter:
    """Counts every AWS request by service and operation, and what each one bills."""

    table_of: dict[str, str]  # physical table name -> logical id
    indexes: dict[str, list[bill.Index]]  # logical id -> its secondary indexes
    requests: Counter[str] = field(default_factory=Counter)
    units: Counter[str] = field(default_factory=Counter)  # line item -> billed quantity
    item_bytes: dict[str, list[int]] = field(default_factory=dict)  # table -> item sizes
    in_calls: float = 0.0  # thread CPU seconds spent inside AWS calls (moto's, not ours)
    waits_ms: float = 0.0  # assumed wall time of the round trips (WAIT_MS)
    round_trips: int = 0

    def register(self, events: Any) -> None:
        for event, handler in self._handlers():
            events.register(event, handler)

    def unregister(self, events: Any) -> None:
        for event, handler in self._handlers():
            events.unregister(event, handler)

    def _handlers(self) -> list[tuple[str, Callable[..., None]]]:
        return [
            ("before-parameter-build", self._params),
            ("before-call", self._before_call),
            ("after-call", self._after_call),
        ]

    def _params(
        self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        context[f"meter_params_{id(self)}"] = dict(params)

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        context[f"meter_start_{id(self)}"] = time.thread_time()

    def _after_call(
        self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        start = context.pop(f"meter_start_{id(self)}", None)
        params = context.pop(f"meter_params_{id(self)}", None)
        if start is None or params is None:  # a client this meter did not see from the start
            return
        self.in_calls += time.thread_time() - start
        service = model.service_model.service_name
        operation = model.name
        self.requests[f"{service}:{operation}"] += 1
        self.round_trips += 1
        self.waits_ms += WAIT_MS.get(service, 10.0)
        getattr(self, f"_bill_{service.replace('-', '_')}", _ignore)(operation, params, parsed)

    # ------------------------------------------------------------ per service

    def _bill_dynamodb(
        self, operation: str, params: dict[str, Any], parsed: dict[str, Any]
    ) -> None:
        if operation == "PutItem":
            self._put(params["TableName"], params["Item"])
        elif operation == "BatchWriteItem":
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        self._put(table, request["PutRequest"]["Item"])
                    else:
                        self._put(table, request["DeleteRequest"]["Key"], index=False)
        elif operation == "UpdateItem":
            # The item after the update: its key and every value the update writes (rate
            # counters and idempotency records, all far below 1 KB).
            item = dict(params["Key"])
            item.update(params.get("ExpressionAttributeValues", {}))
            self._put(params["TableName"], item, index=False)
        elif operation == "DeleteItem":
            self._put(params["TableName"], params["Key"], index=False)
        elif operation in ("GetItem", "Query", "Scan"):
            found = [parsed["Item"]] if parsed.get("Item") else parsed.get("Items", [])
            size = sum(bill.item_size(i) for i in found)
            units = bill.read_units(size, consistent=bool(params.get("ConsistentRead")))
            self.units[f"dynamodb_rru:{self._logical(params['TableName'])}"] += units

    def _put(self, table: str, item: Mapping[str, Any], *, index: bool = True) -> None:
        logical = self._logical(table)
        table_units, index_units = bill.put_write_units(
            item, self.indexes.get(logical, []) if index else []
        )
        self.units[f"dynamodb_wru:{logical}"] += table_units
        if index_units:
            self.units[f"dynamodb_wru:{logical} indexes"] += index_units
        self.item_bytes.setdefault(logical, []).append(bill.item_size(item))

    def _logical(self, table: str) -> str:
        return self.table_of.get(table, table)

    def _bill_sns(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if operation == "Publish" and "PhoneNumber" in params:
            self.units["sns_sms_us"] += 1

    def _bill_sesv2(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if operation == "SendEmail":
            destination = params.get("Destination", {})
            self.units["ses_email"] += sum(
                len(destination.get(k, [])) for k in ("ToAddresses", "CcAddresses", "BccAddresses")
            )

    def _bill_iot_data(
        self, operation: str, params: dict[str, Any], parsed: dict[str, Any]
    ) -> None:
        if operation == "Publish":
            payload = params.get("payload") or b""
            self.units["iot_message:service publishes"] += bill.iot_message_units(
                len(payload), params["topic"]
            )

    def _bill_sqs(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        self.units["sqs_request"] += bill.sqs_requests(len(params.get("MessageBody", "")))

    def _bill_lambda(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> None:
        if operation == "Invoke":
            self.units["lambda_request:analyses"] += 1


def _ignore(*_: Any) -> None:
    return None


# ---------------------------------------------------------------- the template's functions


@dataclass(frozen=True)
class FunctionSize:
    memory_mb: int
    architecture: str


def function_size(template: Mapping[str, Any], logical_id: str) -> FunctionSize:
    """MemorySize and Architectures of a function: its own, else the template's Globals."""
    globals_ = template.get("Globals", {}).get("Function", {})
    props = template["Resources"][logical_id]["Properties"]
    memory = int(props.get("MemorySize", globals_.get("MemorySize", 128)))
    architecture = (props.get("Architectures") or globals_.get("Architectures") or ["x86_64"])[0]
    return FunctionSize(memory, architecture)


# ---------------------------------------------------------------- the run


class Context:
    memory_limit_in_mb = 256
    aws_request_id = "bench"

    def __init__(self, name: str) -> None:
        self.function_name = name
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:{name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Invocations:
    """Per function: requests, own CPU seconds, assumed waits (ms)."""

    count: Counter[str] = field(default_factory=Counter)
    cpu: Counter[str] = field(default_factory=Counter)
    waits_ms: Counter[str] = field(default_factory=Counter)


@dataclass
class Run:
    level: str
    messages: int
    meter: Meter
    invocations: Invocations
    iot_messages: int = 0
    rules: int = 0
    rule_actions: int = 0
    floor_wru: int = 0
    floor_item_bytes: list[int] = field(default_factory=list)
    stored_only_round_trips: list[int] = field(default_factory=list)
    batch: int = 0  # RouterBatching=Kinesis: records per router invocation; 0 = one a message
    kinesis_put_units: int = 0
    bucket_queries: dict[str, dict[str, Any]] = field(default_factory=dict)


@contextmanager
def webhook_receiver() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/in"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class TimedWebhooks:
    """The real webhook client; each call is a round trip (the receiver's time is not ours)."""

    def __init__(self, inner: Any, meter: Meter) -> None:
        self._inner = inner
        self._meter = meter

    def post(self, *args: Any, **kwargs: Any) -> int:
        start = time.thread_time()
        try:
            status: int = self._inner.post(*args, **kwargs)
            return status
        finally:
            self._meter.in_calls += time.thread_time() - start
            self._meter.round_trips += 1
            self._meter.waits_ms += WAIT_MS["webhook"]
            self._meter.requests["https:webhook POST"] += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def device_messages(n: int, rng: random.Random) -> Iterator[tuple[str, str, bytes]]:
    """(client id, topic, payload): 93 % telemetry, 5 % events (webhook), 1 % commands (republish),
    1 % more telemetry; one data point each."""
    for _ in range(n):
        device = f"sensor-{rng.randrange(DEVICES):02d}"
        r = rng.random()
        if r < 0.05:
            topic, point = f"devices/{device}/event", {"variable": "door", "value": "open"}
        elif r < 0.06:
            topic, point = f"devices/{device}/cmd", {"variable": "reboot", "value": True}
        else:
            value = round(rng.uniform(0, 40), 2)
            topic = f"devices/{device}/telemetry"
            point = {"variable": "temperature", "value": value, "unit": "°C"}
        yield device, topic, json.dumps(point, ensure_ascii=False).encode()


def run_level(level: str, n: int, seed: int, batch: int = 0) -> Run:
    import boto3
    from moto import mock_aws
    from moto.iotdata.models import iotdata_backends

    from mqtt_actions.adapters import aws
    from mqtt_actions.adapters.actions_store import DynamoActionsStore
    from mqtt_actions_cli.actions_file import load_actions_file
    from mqtt_actions_cli.cfn import (
        LocalNames,
        create_queues,
        create_tables,
        load_template,
        resources,
    )

    template = load_template()
    with mock_aws(), webhook_receiver() as hook_url:
        aws.reset()
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        tables = create_tables(template, dynamodb, LocalNames(prefix="bench-"))
        queues = create_queues(template, sqs, LocalNames(prefix="bench-"))
        boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
        DynamoActionsStore(tables["ActionsTable"], dynamodb).put_all(
            load_actions_file(ACTIONS.replace("WEBHOOK_URL", hook_url))
        )
        props = resources(template, "AWS::DynamoDB::Table")
        meter = Meter(
            table_of={name: logical for logical, name in tables.items()},
            indexes={logical: bill.table_indexes(p) for logical, p in props.items()},
        )
        meter.register(aws._session().events)
        env = {
            "BUCKET_TABLE": tables["BucketTable"],
            "ACTIONS_TABLE": tables["ActionsTable"],
            "IDEMPOTENCY_TABLE": tables["IdempotencyTable"],
            "DEAD_LETTER_QUEUE_URL": queues["DeadLetterQueue"],
            "INSPECTOR_TABLE": tables["InspectorTable"],
            "INSPECTOR_RETENTION_DAYS": "7",
            "INSPECTOR_LEVEL": level,
            "EMAIL_SENDER": SENDER,
            "ACTIONS_CACHE_SECONDS": "30",  # the template's default
            "WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on 127.0.0.1
            "DEVICE_BINDINGS_TABLE": tables["DeviceBindingsTable"],
            # the points caps at the template's defaults (the per-minute one counts in DynamoDB)
            "MAX_POINTS_PER_MESSAGE": str(template["Parameters"]["MaxPointsPerMessage"]["Default"]),
            "MAX_POINTS_PER_DEVICE_MINUTE": str(
                template["Parameters"]["MaxPointsPerDeviceMinute"]["Default"]
            ),
        }
        os.environ.update(env)
        from functions.inspector import app as inspector_app
        from functions.router import app as router_app

        for module in (router_app, inspector_app):
            module.settings.cache_clear()
            module.deps.cache_clear()
        wired = router_app.deps()
        wired.webhooks = TimedWebhooks(wired.webhooks, meter)
        inspector_app.deps()
        result = Run(level, n, meter, Invocations(), batch=batch)
        published = iotdata_backends["123456789012"][REGION].published_payloads

        def invoke(
            name: str, handler: Callable[[dict[str, Any], Any], Any], event: dict[str, Any]
        ) -> Any:
            calls_before, waits_before = meter.in_calls, meter.waits_ms
            trips_before = meter.round_trips
            start = time.thread_time()
            answer = handler(event, Context(name))
            own = (time.thread_time() - start) - (meter.in_calls - calls_before)
            result.invocations.count[name] += 1
            result.invocations.cpu[name] += max(own, 0.0)
            result.invocations.waits_ms[name] += meter.waits_ms - waits_before
            if name == "InspectorFunction" or not batch:  # a batch's rules count per message
                result.rules += 1
                result.rule_actions += 1
            if name == "RouterFunction" and stored_only(answer.get("outcomes", {})):
                result.stored_only_round_trips.append(meter.round_trips - trips_before)
            return answer

        pending: list[dict[str, Any]] = []  # RouterBatching=Kinesis: records on the stream
        now = [0]  # the last device message's time, for republishes routed from a batch

        def flush(final: bool = False) -> None:
            """Lambda's event source mapping: full batches (and at the end what is left), one
            invocation each; a republish joins a later batch, as on the stream."""
            while batch and (len(pending) >= batch or (final and pending)):
                records = [
                    {
                        "kinesis": {
                            "sequenceNumber": str(10**20 + result.kinesis_put_units + i),
                            "data": base64.b64encode(json.dumps(event).encode()).decode(),
                        }
                    }
                    for i, event in enumerate(pending[:batch])
                ]
                del pending[:batch]
                seen = len(published)
                answer = invoke("RouterFunction", router_app.lambda_handler, {"Records": records})
                if answer["batchItemFailures"]:
                    raise RuntimeError(f"the benchmark's batch failed: {answer}")
                for republished_topic, body in list(published[seen:]):
                    # The republish goes through the rule and the stream again: a later batch.
                    route(republished_topic.split("/")[-1], republished_topic, body, now[0], 1)

        def route(client: str, topic: str, payload: bytes, at: int, hops: int = 0) -> None:
            event = {
                "payload": base64.b64encode(payload).decode(),
                "topic": topic,
                "clientid": client,
                # Certificate devices: the client id is the thing (no binding to read).
                "principal": "0123456789abcdef" * 4,
                "timestamp": at,
                "traceid": str(uuid.UUID(int=random.getrandbits(128))),
                "hops": [str(hops)] if hops else None,
            }
            if batch:
                result.rules += 1
                result.rule_actions += 1
                result.kinesis_put_units += bill.kinesis_put_units(len(json.dumps(event)))
                pending.append(event)
                if len(pending) >= batch:
                    flush()
                return
            invoke("RouterFunction", router_app.lambda_handler, event)

        rng = random.Random(seed)
        random.seed(seed)
        lifecycle = json.loads((ROOT / "events" / "lifecycle" / "connected.json").read_text())
        gone = json.loads(
            (ROOT / "events" / "lifecycle" / "disconnected_client_initiated.json").read_text()
        )
        at = 1_764_072_000_000
        for d in range(DEVICES):
            event = lifecycle | {"clientId": f"sensor-{d:02d}", "timestamp": at + d}
            invoke("InspectorFunction", inspector_app.lambda_handler, event)
        for i, (device, topic, payload) in enumerate(device_messages(n, rng)):
            stamp = at + 1000 + i * 50
            now[0] = stamp
            result.iot_messages += bill.iot_message_units(len(payload), topic)
            seen = len(published)
            route(device, topic, payload, stamp)
            result.floor_item_bytes.append(floor_item_size(device, stamp, payload))
            for republished_topic, body in list(published[seen:]) if not batch else []:
                # The service's publish is metered by the hook; the route rule sees it too.
                route(republished_topic.split("/")[-1], republished_topic, body, stamp, hops=1)
        flush(final=True)
        for d in range(DEVICES):
            event = gone | {"clientId": f"sensor-{d:02d}", "timestamp": at + 10_000_000 + d}
            invoke("InspectorFunction", inspector_app.lambda_handler, event)
        result.floor_wru = sum(bill.write_units(size) for size in result.floor_item_bytes)
        result.bucket_queries = measure_bucket_queries(meter, tables["BucketTable"])
        for module in (router_app, inspector_app):
            module.settings.cache_clear()
            module.deps.cache_clear()
        aws.reset()
        for key in env:
            os.environ.pop(key, None)
        meter.unregister(aws._session().events)
        return result


QUERY_DEVICE = "sensor-00"
QUERY_LIMIT = 50


def measure_bucket_queries(meter: Meter, table: str) -> dict[str, dict[str, Any]]:
    """What `mqtt-actions bucket query` costs on the run's data, by a meter of its own (the
    reads are not part of the per-message bill): requests and read units per query."""
    import boto3

    from mqtt_actions.adapters.bucket import DynamoBucket

    answers: dict[str, dict[str, Any]] = {}
    for label, variable in (
        ("without --variable", None),
        ("--variable temperature", "temperature"),
    ):
        # A client of boto3's default session: the run's meter (on the handlers' session) does
        # not see these reads.
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        own = Meter(table_of=meter.table_of, indexes=meter.indexes)
        own.register(dynamodb.meta.events)
        rows = DynamoBucket(table, dynamodb).query(
            QUERY_DEVICE, variable=variable, limit=QUERY_LIMIT
        )
        own.unregister(dynamodb.meta.events)
        answers[label] = {
            "points": len(rows),
            "variables": len({r["variable"] for r in rows}),
            "requests": own.requests["dynamodb:Query"],
            "rru": own.units["dynamodb_rru:BucketTable"],
        }
    return answers


def stored_only(outcomes: Mapping[str, str]) -> bool:
    """A message whose actions only stored it: `store` done, every other one's `when` false."""
    return outcomes.get("store") == "done" and all(
        outcome == "condition_false" for action, outcome in outcomes.items() if action != "store"
    )


def floor_item_size(device: str, stamp: int, payload: bytes) -> int:
    """The item a DynamoDBv2 rule action writes: the payload's fields as columns, plus keys."""
    from decimal import Decimal

    from boto3.dynamodb.types import TypeSerializer

    data = json.loads(payload, parse_float=Decimal)
    data |= {"device": device, "timestamp": stamp}
    serializer = TypeSerializer()
    return bill.item_size({k: serializer.serialize(v) for k, v in data.items()})


# ---------------------------------------------------------------- pricing


@dataclass(frozen=True)
class Line:
    item: str
    quantity: float  # per device message
    usd_per_million: float
    in_ratio: bool = True


def price(run: Run, template: Mapping[str, Any]) -> list[Line]:
    per = 1 / run.messages
    p = bill.PRICES
    lines = [
        Line("IoT Core messages (device publishes)", run.iot_messages * per, 0.0),
    ]
    service_publishes = run.meter.units.get("iot_message:service publishes", 0)
    lines.append(Line("IoT Core messages (republished by actions)", service_publishes * per, 0.0))
    lines.append(Line("IoT rules triggered", run.rules * per, 0.0))
    target = "Kinesis" if run.batch else "Lambda"
    lines.append(Line(f"IoT rule actions ({target})", run.rule_actions * per, 0.0))
    lines = [
        Line(line.item, line.quantity, line.quantity * 1e6 * rate)
        for line, rate in zip(
            lines,
            (p["iot_message"].usd, p["iot_message"].usd, p["iot_rule"].usd, p["iot_action"].usd),
            strict=True,
        )
    ]
    if run.batch:
        units = run.kinesis_put_units * per
        lines.append(
            Line("Kinesis PUT payload units", units, units * 1e6 * p["kinesis_put_unit"].usd)
        )
    for name in sorted(run.invocations.count):
        count = run.invocations.count[name]
        size = function_size(template, name)
        cpu_s = run.invocations.cpu[name] * max(1.0, VCPU_MB / size.memory_mb)
        billed_s = cpu_s + run.invocations.waits_ms[name] / 1000
        gbs = billed_s * size.memory_mb / 1024
        rate = p[f"lambda_gbs_{size.architecture}"].usd
        lines.append(
            Line(
                f"Lambda requests: {name}", count * per, count * per * 1e6 * p["lambda_request"].usd
            )
        )
        lines.append(
            Line(
                f"Lambda duration: {name} ({size.memory_mb} MB {size.architecture})",
                gbs * per,
                gbs * per * 1e6 * rate,
            )
        )
    analyses = run.meter.units.get("lambda_request:analyses", 0)
    if analyses:
        lines.append(
            Line(
                "Lambda requests: analyses",
                analyses * per,
                analyses * per * 1e6 * p["lambda_request"].usd,
            )
        )
    for key in sorted(run.meter.units):
        kind, _, what = key.partition(":")
        quantity = run.meter.units[key] * per
        if kind == "dynamodb_wru":
            lines.append(
                Line(
                    f"DynamoDB writes: {what} (WRU)",
                    quantity,
                    quantity * 1e6 * p["dynamodb_wru"].usd,
                )
            )
        elif kind == "dynamodb_rru":
            lines.append(
                Line(
                    f"DynamoDB reads: {what} (RRU)",
                    quantity,
                    quantity * 1e6 * p["dynamodb_rru"].usd,
                )
            )
        elif kind == "sqs_request":
            lines.append(Line("SQS requests", quantity, quantity * 1e6 * p["sqs_request"].usd))
        elif kind in ("sns_sms_us", "ses_email"):
            label = "SMS sent (SNS)" if kind == "sns_sms_us" else "e-mails sent (SES)"
            lines.append(Line(label, quantity, quantity * 1e6 * p[kind].usd, in_ratio=False))
    return lines


def floor_lines(run: Run) -> list[Line]:
    per = 1 / run.messages
    p = bill.PRICES
    return [
        Line(
            "IoT Core messages (device publishes)",
            run.iot_messages * per,
            run.iot_messages * per * 1e6 * p["iot_message"].usd,
        ),
        Line("IoT rules triggered", 1.0, 1e6 * p["iot_rule"].usd),
        Line("IoT rule actions (DynamoDBv2)", 1.0, 1e6 * p["iot_action"].usd),
        Line(
            "DynamoDB writes: floor table (WRU)",
            run.floor_wru * per,
            run.floor_wru * per * 1e6 * p["dynamodb_wru"].usd,
        ),
    ]


def total(lines: list[Line]) -> float:
    return sum(line.usd_per_million for line in lines if line.in_ratio)


# ---------------------------------------------------------------- output


def plan(rate: int, record_s: float, records: float) -> tuple[int, int, int, float]:
    """The cheapest (shards, parallelization, records an invocation, $/M of requests + shard
    hours) that keeps up with `rate`: a shard takes MESSAGES_PER_SHARD; Lambda runs up to
    `parallelization` (1-10) batches of a shard at once, each holding the share of the shard's
    records its partition keys give it, gathered for up to 1 s; each batch runs its records one
    after another, so a shard needs parallelization >= 1.5 x its rate x `record_s`."""
    best: tuple[int, int, int, float] | None = None
    for shards in range(max(1, math.ceil(rate / MESSAGES_PER_SHARD)), rate + 1):
        per_shard = rate / shards
        factor = max(1, math.ceil(1.5 * per_shard * record_s))
        if factor > MAX_PARALLELIZATION:
            continue
        fills = max(1, min(BATCH_SIZE, math.floor(per_shard / factor)))
        usd = (
            records / fills * 1e6 * bill.PRICES["lambda_request"].usd
            + shards * bill.PRICES["kinesis_shard_hour"].usd / (rate * 3600) * 1e6
        )
        if best is None or usd < best[3]:
            best = (shards, factor, fills, usd)
        if fills == BATCH_SIZE or factor == 1:
            break  # more shards only add hours
    if best is None:
        raise ValueError(f"no plan keeps up with {rate} msg/s")
    return best


def at_rates(batched: Run, template: Mapping[str, Any], floor: float) -> dict[str, Any]:
    """RouterBatching=Kinesis priced at RATES: the measured run (BATCH_SIZE records an
    invocation) with the router's requests scaled to the batch each rate fills under `plan`,
    plus the shards' hours spread over the messages of an hour."""
    lines = price(batched, template)
    measured = total(lines)
    requests = next(ln for ln in lines if ln.item == "Lambda requests: RouterFunction")
    records = batched.rule_actions / batched.messages  # device messages and republishes
    size = function_size(template, "RouterFunction")
    billed_s = (
        batched.invocations.cpu["RouterFunction"] * max(1.0, VCPU_MB / size.memory_mb)
        + batched.invocations.waits_ms["RouterFunction"] / 1000
    )
    record_s = billed_s / batched.rule_actions
    rates = []
    for rate in RATES:
        shards, factor, fills, _ = plan(rate, record_s, records)
        scaled = records / fills * 1e6 * bill.PRICES["lambda_request"].usd
        fixed = shards * bill.PRICES["kinesis_shard_hour"].usd / (rate * 3600) * 1e6
        usd = measured - requests.usd_per_million + scaled + fixed
        rates.append(
            {
                "messages_per_second": rate,
                "shards": shards,
                "parallelization": factor,
                "records_per_invocation": fills,
                "router_requests_usd_per_million": round(scaled, 4),
                "shard_hours_usd_per_million": round(fixed, 4),
                "usd_per_million": round(usd, 4),
                "ratio": round(usd / floor, 3),
            }
        )
    return {
        "records_per_invocation_measured": BATCH_SIZE,
        "router_billed_ms_per_record": round(record_s * 1000, 2),
        "usd_per_million_measured": round(measured, 4),
        "lines": [
            {"item": ln.item, "usd_per_million": round(ln.usd_per_million, 4)} for ln in lines
        ],
        "rates": rates,
    }


def summary(run: Run, template: Mapping[str, Any], batched: Run | None = None) -> dict[str, Any]:
    lines = price(run, template)
    floor = floor_lines(run)
    ours, base = total(lines), total(floor)
    trips = run.stored_only_round_trips
    router_calls = run.invocations.count["RouterFunction"]
    return {
        "level": run.level,
        "ratio": round(ours / base, 3),
        "usd_per_million": round(ours, 4),
        "floor_usd_per_million": round(base, 4),
        "sends_usd_per_million": round(
            sum(ln.usd_per_million for ln in lines if not ln.in_ratio), 4
        ),
        "lines": [
            {
                "item": ln.item,
                "per_message": round(ln.quantity, 6),
                "usd_per_million": round(ln.usd_per_million, 4),
                "in_ratio": ln.in_ratio,
            }
            for ln in lines
        ],
        "floor_lines": [
            {
                "item": ln.item,
                "per_message": round(ln.quantity, 6),
                "usd_per_million": round(ln.usd_per_million, 4),
            }
            for ln in floor
        ],
        "requests": dict(sorted(run.meter.requests.items())),
        "item_bytes_avg": {
            t: round(sum(s) / len(s), 1) for t, s in sorted(run.meter.item_bytes.items())
        }
        | {"floor": round(sum(run.floor_item_bytes) / len(run.floor_item_bytes), 1)},
        "stored_only_round_trips": {
            "messages": len(trips),
            "avg": round(sum(trips) / len(trips), 3) if trips else None,
            "max": max(trips) if trips else None,
        },
        "router_cpu_us_per_message": round(
            run.invocations.cpu["RouterFunction"] / router_calls * 1e6, 1
        ),
        "router_billed_ms": round(
            (
                run.invocations.cpu["RouterFunction"]
                * max(1.0, VCPU_MB / function_size(template, "RouterFunction").memory_mb)
                + run.invocations.waits_ms["RouterFunction"] / 1000
            )
            / router_calls
            * 1000,
            2,
        ),
        "device_messages": run.messages,
        "kinesis": at_rates(batched, template, base) if batched else None,
        "bucket_queries": {
            label: q
            | {
                "usd_per_million_queries": round(
                    q["rru"] * bill.PRICES["dynamodb_rru"].usd * 1e6, 4
                )
            }
            for label, q in run.bucket_queries.items()
        },
    }


def render(results: list[dict[str, Any]]) -> str:
    out = [f"$ per million device messages, us-east-1, prices checked {bill.PRICES_CHECKED}"]
    floor = results[0]
    items: list[str] = []
    for r in results:
        for line in r["lines"]:
            if line["item"] not in items:
                items.append(line["item"])
    head = "| line item | " + " | ".join(f"level {r['level']}" for r in results) + " |"
    out += ["", head, "|---|" + "---:|" * len(results)]
    for item in items:
        cells = []
        for r in results:
            found = [ln for ln in r["lines"] if ln["item"] == item]
            cells.append(f"{found[0]['usd_per_million']:.4f}" if found else "-")
        mark = (
            " (outside the ratio)"
            if any(not ln["in_ratio"] for r in results for ln in r["lines"] if ln["item"] == item)
            else ""
        )
        out.append(f"| {item}{mark} | " + " | ".join(cells) + " |")
    out.append(
        "| **total (ratio basis)** | "
        + " | ".join(f"**{r['usd_per_million']:.4f}**" for r in results)
        + " |"
    )
    out.append(
        "| **ratio to the floor** | " + " | ".join(f"**{r['ratio']:.2f}x**" for r in results) + " |"
    )
    out += [
        "",
        "Floor: bare IoT rule SELECT * FROM '#' + one DynamoDBv2 PutItem, same messages",
        "",
        "| line item | $ / M |",
        "|---|---:|",
    ]
    for line in floor["floor_lines"]:
        out.append(f"| {line['item']} | {line['usd_per_million']:.4f} |")
    out.append(f"| **total** | **{floor['floor_usd_per_million']:.4f}** |")
    out += [
        "",
        "| per level | " + " | ".join(r["level"] for r in results) + " |",
        "|---|" + "---:|" * len(results),
    ]
    out.append(
        "| round trips per stored-only message (avg / max) | "
        + " | ".join(
            f"{r['stored_only_round_trips']['avg']} / {r['stored_only_round_trips']['max']}"
            for r in results
        )
        + " |"
    )
    out.append(
        "| router CPU µs per invocation (this machine) | "
        + " | ".join(f"{r['router_cpu_us_per_message']}" for r in results)
        + " |"
    )
    out.append(
        "| router billed ms per invocation (CPU at its MemorySize + assumed waits) | "
        + " | ".join(f"{r['router_billed_ms']}" for r in results)
        + " |"
    )
    tables = sorted({t for r in results for t in r["item_bytes_avg"]})
    for t in tables:
        out.append(
            f"| avg item bytes: {t} | "
            + " | ".join(f"{r['item_bytes_avg'].get(t, '-')}" for r in results)
            + " |"
        )
    if all(r["kinesis"] for r in results):
        out += [
            "",
            "RouterBatching=Kinesis: measured with "
            f"{BATCH_SIZE} records an invocation; at each rate the cheapest shards and "
            "parallelization that keep up (see `plan`), the router's requests scaled to the "
            "batch that fills in 1 s, the shards' hours spread over the messages",
            "",
            "| $ per million (ratio to the floor) | Disabled | "
            + " | ".join(f"Kinesis at {rate:,} msg/s" for rate in RATES)
            + " |",
            "|---|" + "---:|" * (1 + len(RATES)),
        ]
        for r in results:
            cells = [f"{r['usd_per_million']:.4f} ({r['ratio']:.2f}x)"] + [
                f"{k['usd_per_million']:.4f} ({k['ratio']:.2f}x)" for k in r["kinesis"]["rates"]
            ]
            out.append(f"| level {r['level']} | " + " | ".join(cells) + " |")
        first = results[0]["kinesis"]["rates"]
        out.append(
            f"| shards, parallelization, records an invocation (level {results[0]['level']}) | - | "
            + " | ".join(
                f"{k['shards']}, {k['parallelization']}, {k['records_per_invocation']}"
                for k in first
            )
            + " |"
        )

        def line(r: dict[str, Any], item: str) -> float:
            found = [ln["usd_per_million"] for ln in r["lines"] if ln["item"] == item]
            return float(found[0]) if found else 0.0

        requests, duration = "Lambda requests: RouterFunction", "Lambda duration: RouterFunction"
        duration = next(ln["item"] for ln in results[0]["lines"] if ln["item"].startswith(duration))
        out.append(
            f"| router requests $/M (level {results[0]['level']}) | "
            f"{line(results[0], requests):.4f} | "
            + " | ".join(f"{k['router_requests_usd_per_million']:.4f}" for k in first)
            + " |"
        )
        batched_duration = line(results[0]["kinesis"], duration)
        out.append(
            f"| router duration $/M (level {results[0]['level']}) | "
            f"{line(results[0], duration):.4f} | "
            + " | ".join(f"{batched_duration:.4f}" for _ in first)
            + " |"
        )
        out.append(
            "| shard-hours $/M | - | "
            + " | ".join(f"{k['shard_hours_usd_per_million']:.4f}" for k in first)
            + " |"
        )
    out += [
        "",
        f"`bucket query {QUERY_DEVICE} --limit {QUERY_LIMIT}` on this data"
        f" (level {results[0]['level']}):",
    ]
    for label, q in results[0]["bucket_queries"].items():
        out.append(
            f"  {label}: {q['points']} points of {q['variables']} variables, "
            f"{q['requests']} Query requests, {q['rru']} RRU "
            f"(${q['usd_per_million_queries']} per million queries)"
        )
    out += ["", "Requests counted by the hook (whole run, level " + results[0]["level"] + "):"]
    out += [f"  {k}: {v}" for k, v in results[0]["requests"].items()]
    out += [
        "",
        f"Prices (us-east-1, checked {bill.PRICES_CHECKED}; prices change: re-check them):",
    ]
    for name, p in bill.PRICES.items():
        out.append(f"  {name}: ${p.usd:.10g} per {p.unit} — {p.source} ({p.checked})")
    out += ["", f"Machine: {machine()}"]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="device messages per level (≥ 1)")
    parser.add_argument("--json", action="store_true", help="one JSON object per level")
    parser.add_argument("--levels", default=",".join(LEVELS), help="InspectorLevel values to run")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument(
        "--no-kinesis",
        dest="kinesis",
        action="store_false",
        help="skip the RouterBatching=Kinesis runs (half the time)",
    )
    args = parser.parse_args()
    if args.n < 1:
        parser.error("-n must be at least 1")
    levels = [level.strip() for level in args.levels.split(",") if level.strip()]
    unknown = [level for level in levels if level not in LEVELS]
    if unknown:
        parser.error(f"--levels: unknown {', '.join(unknown)}; choose from {', '.join(LEVELS)}")
    from mqtt_actions_cli.cfn import load_template

    template = load_template()
    import logging

    logging.disable(logging.CRITICAL)  # the handlers' logs are not the benchmark's output
    with contextlib.redirect_stdout(io.StringIO()):  # Powertools prints its EMF metrics
        runs = [run_level(level, args.n, args.seed) for level in levels]
        batched = (
            [run_level(level, args.n, args.seed, BATCH_SIZE) for level in levels]
            if args.kinesis
            else [None] * len(runs)
        )
    results = [summary(run, template, b) for run, b in zip(runs, batched, strict=True)]
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        print(render(results))


if __name__ == "__main__":
    main()
