"""Run TagoIO Python analyses unchanged, the way a user would, and check what each one did.

    .venv/bin/python scripts/tagoio_corpus.py --snippets DIR [--json]
    make corpus SNIPPETS=DIR

For each `*.py` in DIR: `analyses add-tagoio SCRIPT --name NAME --env ...` into a copy of this
project (template.yaml + the script), then the function is read back from that template.yaml as
the local stack reads it (`local.template`), loaded with the local stack's loader (`local.runtime`:
Handler mqtt_actions.tagoio.handler, TAGOIO_SCRIPT) and invoked once, against moto in this
process (tables from the same template), with seeded devices, tags, tokens and bucket data.
Each run's effect is checked (rows, e-mails, SMS, publishes, notifications, log lines).

DIR is meant for TagoIO's public snippets (github tago-io/analysis-snippets,
snippets/analysis/python-rt2025), which this project does not ship: fetch them yourself.
Exit 0 always when every script ran (the table says which did what); 2 on a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
SENDER = "alerts@example.com"
DEVICE_TOKEN = "6f1c2a8e-5a3b-4b8f-9c61-0d4e7a9b3c21"  # noqa: S105 - a seeded test token
SENSOR = "sensor-01"
DAY_MS = 86_400_000

# What each TagoIO snippet needs in its environment (as a user sets it on TagoIO).
COMMON_ENV = {
    "account_token": "any-account-token-00000000000000000",  # 36 characters, as TagoIO's
    "device_token": DEVICE_TOKEN,
    "email": "ops@example.com",
    "email_list": "ops@example.com",
    "sms_list": "+15555550100",
    "check_in_time": "30",
    "tag_key": "type",
    "tag_value": "sensor",
    "message": "Hello from the corpus",
    "title": "Corpus",
}
SCOPES: dict[str, list[dict[str, Any]]] = {
    "mqtt-push": [{"variable": "push_payload", "value": "86", "device": SENSOR}],
    "dynamic-notification": [{"variable": "temperature", "value": 31, "device": SENSOR}],
    "downlink-dashboard": [
        {"variable": "form_payload", "value": "x", "device_id": SENSOR, "payload": "0101"},
        {"variable": "form_port", "value": 1},
    ],
}


@dataclass
class Effects:
    """What a run did: read from moto and from the run's inspector entries."""

    outcome: str
    reason: str | None
    log: list[str]
    rows: dict[str, list[dict[str, Any]]]
    emails: list[Any]
    sms: list[Any]
    mqtt: list[Any]
    notifications: list[dict[str, Any]]
    seeded_rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _variables(effects: Effects) -> set[str]:
    return {str(p.get("variable")) for p in effects.rows.get(SENSOR, [])}


def _logged(effects: Effects, text: str) -> bool:
    return any(text in line for line in effects.log)


# The effect each snippet must have, by file stem (other scripts: the run must be done).
CHECKS: dict[str, tuple[str, Callable[[Effects], bool]]] = {
    "console": ("prints Hello World", lambda e: _logged(e, "Hello World")),
    "device-list": (
        "lists devices by tag (none has its example tag)",
        lambda e: _logged(e, "Total devices: 0"),
    ),
    "device-offline": (
        "e-mails and texts the silent devices",
        lambda e: bool(e.emails) and bool(e.sms) and _logged(e, "Sending notifications"),
    ),
    "data-retention": (
        "deletes points older than 30 days",
        lambda e: len(e.rows.get(SENSOR, [])) < e.seeded_rows,
    ),
    "find": ("stores temperature_double", lambda e: "temperature_double" in _variables(e)),
    "http-get": ("runs (prints the HTTP outcome)", lambda e: bool(e.log)),
    "mqtt-push": (
        "publishes on tago/my_topic",
        lambda e: any(t == "tago/my_topic" for t, _ in e.mqtt),
    ),
    "send-notification": ("records a notification", lambda e: bool(e.notifications)),
    "avg-min-max": (
        "stores min, max and average",
        lambda e: (
            {"temperature_minimum", "temperature_maximum", "temperature_average"} <= _variables(e)
        ),
    ),
    "data-transaction": (
        "stores the transactions per user",
        lambda e: "transactions_result" in _variables(e),
    ),
    "email-export": (
        "e-mails the CSV as an attachment",
        lambda e: any("exported_file.csv" in str(getattr(m, "raw_data", "")) for m in e.emails),
    ),
}


def seed(tables: dict[str, str], dynamodb: Any, now_ms: int) -> int:
    from mqtt_actions.adapters.bucket import DynamoBucket
    from mqtt_actions.adapters.device_profiles import DynamoDeviceProfiles
    from mqtt_actions.adapters.token_store import DynamoTokenStore
    from mqtt_actions.device_profiles import DeviceParam, DeviceProfile
    from mqtt_actions.tokens import TokenRecord, token_hash

    DynamoTokenStore(tables["DeviceTokensTable"], dynamodb).add(
        token_hash(DEVICE_TOKEN), TokenRecord(SENSOR, created_at=now_ms - 40 * DAY_MS)
    )
    registry = DynamoDeviceProfiles(tables["DevicesTable"], dynamodb)
    registry.put(
        DeviceProfile(
            SENSOR,
            created_at=now_ms - 40 * DAY_MS,
            tags=(
                ("type", "sensor"),
                ("user_email", "ann@example.com"),
                ("email", "ann@example.com"),
                ("phone", "+15555550101"),
            ),
            params=(DeviceParam("5f0c0000000000000000000a", "temperature", "-"),),
        )
    )
    registry.put(
        DeviceProfile("door-01", created_at=now_ms - 40 * DAY_MS, tags=(("type", "door"),))
    )
    bucket = DynamoBucket(tables["BucketTable"], dynamodb)
    points = [
        ("temperature", 18.5, 35 * DAY_MS),
        ("temperature", 21.0, 3 * 3_600_000),
        ("temperature", 23.5, 2 * 3_600_000),
        ("temperature", 22.0, 3_600_000),
        ("fuel_level", 80, 5 * 3_600_000),
        ("fuel_level", 75, 4 * 3_600_000),
        ("fuel_level", 71, 3 * 3_600_000),
    ]
    for n, (variable, value, ago) in enumerate(points):
        bucket.insert(
            SENSOR,
            [{"variable": variable, "value": value}],
            traceid=f"seed{n}",
            timestamp=now_ms - ago,
        )
    door = [{"variable": "status", "value": "open"}]
    bucket.insert("door-01", door, traceid="seed-door", timestamp=now_ms - 2 * DAY_MS)
    return len(points)


def run_one(script: Path, project: Path, tables: dict[str, str], seeded_rows: int) -> Effects:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iotdata.models import iotdata_backends
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    from mqtt_actions.adapters.bucket import DynamoBucket
    from mqtt_actions_cli.cfn import load_template
    from mqtt_actions_cli.local.runtime import LambdaContext, function_environment, load_handler
    from mqtt_actions_cli.local.template import load_local_template
    from mqtt_actions_cli.ops import analyses

    name = script.stem.replace("-", "_")[:40].rstrip("_")
    analyses.add_tagoio(script, name, COMMON_ENV, root=project)
    template = load_template(project / "template.yaml")
    physical = dict(tables)
    local = load_local_template(
        template, root=project, physical=physical, parameters={"EmailSender": SENDER}
    )
    spec = local.functions[analyses.logical_id(name)]
    traceid = f"corpus-{name}"
    event = {
        "analysis": name,
        "trigger": {
            "type": "action",
            "device": SENSOR,
            "traceid": traceid,
            "topic": f"{SENSOR}/data",
        },
        "scope": SCOPES.get(script.stem, [{"variable": "temperature", "value": 31}]),
    }
    sent = {
        "emails": len(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages),
        "sms": len(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages),
        "mqtt": len(iotdata_backends[DEFAULT_ACCOUNT_ID][REGION].published_payloads),
    }
    reason = None
    with function_environment(spec.environment):
        try:
            handler = load_handler(spec)
            handler(event, LambdaContext(spec.logical_id, spec.arn, 256, 30))
        except Exception as exc:  # the run's failure is the finding
            reason = f"{type(exc).__name__}: {exc}"
    entries = _inspector(tables["InspectorTable"], traceid)
    own = [e for e in entries if e.details.get("action_type") == "analysis"]
    notes = [e.details for e in entries if e.details.get("action_type") == "notification"]
    log = list((own[-1].details.get("detail") or {}).get("log") or []) if own else []
    bucket = DynamoBucket(
        tables["BucketTable"], __import__("boto3").client("dynamodb", region_name=REGION)
    )
    return Effects(
        outcome="failed" if reason else (own[-1].details.get("outcome", "?") if own else "?"),
        reason=reason,
        log=log,
        rows={SENSOR: bucket.query(SENSOR, limit=1000)},
        emails=ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages[sent["emails"] :],
        sms=list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())[sent["sms"] :],
        mqtt=iotdata_backends[DEFAULT_ACCOUNT_ID][REGION].published_payloads[sent["mqtt"] :],
        notifications=notes,
        seeded_rows=seeded_rows,
    )


def _inspector(table: str, traceid: str) -> list[Any]:
    import boto3

    from mqtt_actions.adapters.inspector import DynamoInspector

    reader = DynamoInspector(table, boto3.client("dynamodb", region_name=REGION), 7)
    since = int(time.time() * 1000) - DAY_MS
    found = reader.query(device=SENSOR, since_ms=since, limit=5000)
    return [e for e in found if e.traceid == traceid]


def project_copy(project: Path) -> None:
    """This project's template.yaml copied into `project`, its code linked: a place to add
    analyses to without touching the checkout."""
    shutil.copyfile(ROOT / "template.yaml", project / "template.yaml")
    (project / "layers").symlink_to(ROOT / "layers")
    (project / "functions" / "analyses").mkdir(parents=True, exist_ok=True)
    for code in (ROOT / "functions").iterdir():
        if code.name != "analyses" and code.is_dir():
            (project / "functions" / code.name).symlink_to(code)
    for code in (ROOT / "functions" / "analyses").iterdir():
        (project / "functions" / "analyses" / code.name).symlink_to(code)


def run_corpus(snippets: Path) -> list[dict[str, Any]]:
    import boto3
    from moto import mock_aws

    from mqtt_actions.adapters import aws
    from mqtt_actions_cli.cfn import LocalNames, create_queues, create_tables, load_template

    scripts = sorted(snippets.glob("*.py"))
    if not scripts:
        raise SystemExit(f"tagoio_corpus: no *.py in {snippets}")
    report = []
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        os.environ.setdefault(key, "testing")
    for script in scripts:
        with mock_aws(), tempfile.TemporaryDirectory(prefix="tagoio-corpus-") as tmp:
            aws.reset()
            project = Path(tmp)
            project_copy(project)
            dynamodb = boto3.client("dynamodb", region_name=REGION)
            template = load_template(project / "template.yaml")
            tables = create_tables(template, dynamodb, LocalNames())
            create_queues(template, boto3.client("sqs", region_name=REGION), LocalNames())
            boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
            seeded_rows = seed(tables, dynamodb, int(time.time() * 1000))
            effects = run_one(script, project, tables, seeded_rows)
        wanted, check = CHECKS.get(script.stem, ("runs to the end", lambda e: True))
        ok = effects.outcome == "done" and check(effects)
        report.append(
            {
                "script": script.name,
                "ok": ok,
                "expected": wanted,
                "outcome": effects.outcome,
                "reason": effects.reason,
                "log": effects.log[:5],
            }
        )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--snippets", type=Path, required=True, help="a directory of TagoIO .py analyses"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.snippets.is_dir():
        parser.error(f"--snippets {args.snippets}: not a directory")
    sys.path.insert(0, str(ROOT))
    with contextlib.redirect_stdout(sys.stderr):  # the functions' own logs (JSON lines)
        report = run_corpus(args.snippets)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        for r in report:
            mark = "ok  " if r["ok"] else "FAIL"
            print(f"{mark} {r['script']:50} {r['expected']}")
            if not r["ok"]:
                print(f"       outcome {r['outcome']}: {r['reason'] or ''}"[:400])
        passed = sum(r["ok"] for r in report)
        print(f"{passed} of {len(report)} scripts did what they should, unchanged")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
