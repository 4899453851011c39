"""The device-token authorizer: time per call with a warm table (p50/p99) and its cold import.

    .venv/bin/python benchmarks/authorizer.py [--quick]

Warm: `functions/authorizer/app.py` in this process against moto in-process (DeviceTokensTable
created from template.yaml, 1,000 stored tokens), IoT Core's event for each call: 80 % known
tokens (last seen already recorded, so one GetItem), 20 % unknown ones. Peer, same run: one bare
GetItem on the same table (the floor every lookup pays). IoT Core gives an authorizer 5 s; the
target is a p99 under 20 ms warm. moto in-process stands in for DynamoDB: the table's own
latency on AWS (single-digit ms) comes on top of both rows alike.
Cold import: the authorizer, the router and a bare `import boto3; from aws_lambda_powertools
import Logger`, each in a fresh interpreter, best of N.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT / "cli"), str(ROOT)]
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": "bench",
    }
)

from _machine import machine  # noqa: E402


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The handler logs a JSON line per call (as on Lambda): keep the work, drop the output."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)


def event(token: str, client_id: str) -> dict[str, Any]:
    return {
        "signatureVerified": False,
        "protocols": ["tls", "mqtt"],
        "protocolData": {
            "tls": {"serverName": "example-ats.iot.us-east-1.amazonaws.com"},
            "mqtt": {
                "username": "Token",
                "password": base64.b64encode(token.encode()).decode(),
                "clientId": client_id,
            },
        },
        "connectionMetadata": {"id": "00000000-0000-4000-8000-000000000000"},
    }


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def timed(calls: list[Callable[[], object]]) -> list[float]:
    out = []
    for call in calls:
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def warm(calls: int) -> tuple[tuple[float, float], tuple[float, float], tuple[float, float]]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        from functions.authorizer import app
        from mqtt_actions.adapters.token_store import DynamoTokenStore
        from mqtt_actions.tokens import TokenRecord, token_hash
        from mqtt_actions_cli.cfn import LocalNames, create_tables, load_template

        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        table = create_tables(load_template(), dynamodb, LocalNames())["DeviceTokensTable"]
        os.environ["DEVICE_TOKENS_TABLE"] = table
        os.environ["IOT_ARN_PREFIX"] = "arn:aws:iot:us-east-1:123456789012"
        store = DynamoTokenStore(table, dynamodb)
        rng = random.Random(7)
        tokens = [f"{rng.getrandbits(128):032x}-bench" for _ in range(1_000)]
        for i, token in enumerate(tokens):
            store.add(token_hash(token), TokenRecord(f"dev-{i}", created_at=1))
        context: Any = None
        with quiet():
            first = timed(
                [lambda t=t: app.lambda_handler(event(t, "c"), context) for t in tokens[:200]]
            )
            mixed = [
                event(rng.choice(tokens), "c") if rng.random() < 0.8 else event(f"{i:036d}", "x")
                for i in range(calls)
            ]
            handler = timed([lambda e=e: app.lambda_handler(e, context) for e in mixed])
        key = {"tokenHash": {"S": token_hash(tokens[0])}}
        floor = timed(
            [
                lambda: dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)
                for _ in range(calls)
            ]
        )
    return percentiles(floor), percentiles(handler), percentiles(first)


def import_time(code: str, repeats: int) -> float:
    env = {"PYTHONPATH": f"{ROOT / 'layers' / 'core'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    best = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)  # noqa: S603
        best.append(time.perf_counter() - start)
    return min(best) * 1000


def main() -> None:
    quick = "--quick" in sys.argv
    floor, handler, first = warm(500 if quick else 3_000)
    print("| warm, per call (moto in-process) | p50 ms | p99 ms | p50 ratio to GetItem |")
    print("|---|---:|---:|---:|")
    print(
        f"| peer: one bare GetItem on DeviceTokensTable | {floor[0]:.2f} | {floor[1]:.2f} | 1.00 |"
    )
    print(
        f"| authorizer, 80 % known / 20 % unknown tokens | {handler[0]:.2f} | {handler[1]:.2f} "
        f"| {handler[0] / floor[0]:.2f} |"
    )
    print(
        f"| authorizer, first connect of a token (+ last-seen write) | {first[0]:.2f} "
        f"| {first[1]:.2f} | {first[0] / floor[0]:.2f} |"
    )
    repeats = 3 if quick else 7
    baseline = import_time("import boto3; from aws_lambda_powertools import Logger", repeats)
    authorizer = import_time("import functions.authorizer.app", repeats)
    router = import_time("import functions.router.app", repeats)
    print()
    print(f"| cold import (fresh interpreter, best of {repeats}) | ms | ratio to the router |")
    print("|---|---:|---:|")
    print(f"| baseline: boto3 + Powertools Logger | {baseline:.0f} | {baseline / router:.2f} |")
    print(f"| functions/authorizer/app.py | {authorizer:.0f} | {authorizer / router:.2f} |")
    print(f"| functions/router/app.py (peer) | {router:.0f} | 1.00 |")
    print()
    print("Target: p99 under 20 ms warm (IoT Core allows an authorizer 5 s).")
    print(f"Machine: {machine()}")


if __name__ == "__main__":
    main()
