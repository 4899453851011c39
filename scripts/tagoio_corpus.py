"""Run TagoIO Python analyses unchanged, the way a user would, and check what each one did.

    .venv/bin/python scripts/tagoio_corpus.py --snippets DIR [--json] [--in-process]
    make corpus SNIPPETS=DIR

Every `*.py` in DIR is added with `analyses add-tagoio SCRIPT --name NAME --env ...` to a copy of
this project (template.yaml + the script); then `mqtt-actions local --template COPY` is started
(free ports, NotificationEmail set), devices, tags, tokens and bucket data are seeded through its
AWS endpoint, and each analysis is run with `analyses run` (TagoIO's run button) through the
running stack. Each run's effect is checked: bucket rows, the outbox (e-mails with their
attachments, SMS), MQTT messages a real client subscribed to `#` receives, notifications and
log lines in the inspector. `--in-process` runs each script alone against moto in this process
instead (the local stack's loader, no broker): faster, what the integration tests use.

DIR is meant for TagoIO's public snippets (github tago-io/analysis-snippets,
snippets/analysis/python-rt2025), which this project does not ship: fetch them yourself.
Exit 0 always when every script ran (the table says which did what); 2 on a usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
SENDER = "alerts@example.com"
OWNER = "owner@example.com"  # NotificationEmail: TagoIO notifies the account owner
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
    """What a run did: bucket rows, sends and publishes, and its inspector entries."""

    outcome: str
    reason: str | None
    log: list[str]
    new_rows: list[dict[str, Any]]  # the sensor's rows the run added
    rows_before: int
    rows_after: int
    emails: list[Any]  # e-mails sent (moto's messages, or the local outbox's items)
    sms: list[Any]
    mqtt: list[tuple[str, bytes]]
    notifications: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)


def _variables(effects: Effects) -> set[str]:
    return {str(p.get("variable")) for p in effects.new_rows}


def _logged(effects: Effects, text: str) -> bool:
    return any(text in line for line in effects.log)


def _mailed(effects: Effects, text: str) -> bool:
    """An e-mail holding `text` (an address, a file name): moto keeps raw MIME, the outbox JSON."""
    return any(text in str(getattr(m, "raw_data", "") or m) for m in effects.emails)


def _row_key(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, default=str)


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
        lambda e: e.rows_after < e.rows_before,
    ),
    "find": ("stores temperature_double", lambda e: "temperature_double" in _variables(e)),
    "http-get": ("runs (prints the HTTP outcome)", lambda e: bool(e.log)),
    "mqtt-push": (
        "publishes on tago/my_topic",
        lambda e: any(t == "tago/my_topic" for t, _ in e.mqtt),
    ),
    "send-notification": (
        "records a notification and e-mails it to the owner",
        lambda e: bool(e.notifications) and _mailed(e, OWNER),
    ),
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
        lambda e: _mailed(e, "exported_file.csv"),
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


def analysis_name(script: Path) -> str:
    return script.stem.replace("-", "_")[:40].rstrip("_")


def scripts_in(snippets: Path) -> list[Path]:
    scripts = sorted(snippets.glob("*.py"))
    if not scripts:
        raise SystemExit(f"tagoio_corpus: no *.py in {snippets}")
    return scripts


def scope_of(script: Path) -> list[dict[str, Any]]:
    return SCOPES.get(script.stem, [{"variable": "temperature", "value": 31}])


def verdict(script: Path, effects: Effects) -> dict[str, Any]:
    wanted, check = CHECKS.get(script.stem, ("runs to the end", lambda e: True))
    return {
        "script": script.name,
        "ok": effects.outcome == "done" and check(effects),
        "expected": wanted,
        "outcome": effects.outcome,
        "reason": effects.reason,
        "log": effects.log[:5],
    }


# --- through a running `mqtt-actions local` ---------------------------------------------------

READY = re.compile(
    r"^ready: mqtt://(?P<host>[\d.]+):(?P<mqtt>\d+) aws=\S+ control=\S+:(?P<ctl>\d+)"
)
START_TIMEOUT_S = 180.0
FLUSH_TIMEOUT_S = 10.0


@contextlib.contextmanager
def local_stack(template: Path, state: Path) -> Iterator[tuple[Any, str, int]]:
    """`mqtt-actions local --template TEMPLATE` on free ports (Ctrl-C at the end): its Target,
    MQTT host and port."""
    from mqtt_actions_cli.target import local_target
    from scripts.child_process import Child

    command = [sys.executable, "-m", "mqtt_actions_cli.main", "local", "--template", str(template)]
    command += ["--mqtt-port", "0", "--aws-port", "0", "--control-port", "0", "--no-console"]
    command += ["--no-gateway", "--state-dir", str(state), "--fresh"]
    command += ["--param", f"NotificationEmail={OWNER}"]
    child = Child(command)
    try:
        match = child.wait_for(READY, START_TIMEOUT_S)
        if match is None:
            raise SystemExit(f"tagoio_corpus: the local stack did not start:\n{child.tail(30)}")
        target = local_target({"MQTT_ACTIONS_CONTROL_PORT": match["ctl"]})
        yield target, match["host"], int(match["mqtt"])
    finally:
        child.stop()


class Listener:
    """A real MQTT client subscribed to `#` on the local broker: what analyses published."""

    def __init__(self, host: str, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.heard: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="corpus-listener")
        self._client.on_message = lambda _c, _u, m: self._add(m.topic, m.payload)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_connect = lambda c, *_: c.subscribe("#", qos=1)
        self._client.connect(host, port)
        self._client.loop_start()
        if not self._subscribed.wait(FLUSH_TIMEOUT_S):
            raise SystemExit("tagoio_corpus: could not subscribe to # on the local broker")

    def _add(self, topic: str, payload: bytes) -> None:
        with self._lock:
            self.heard.append((topic, payload))

    def flush(self, marker: str) -> list[tuple[str, bytes]]:
        """Everything heard up to now: a marker published after the run arrives after what the
        run published (the broker received those first)."""
        topic = f"corpus/flush/{marker}"
        self._client.publish(topic, b"", qos=1)
        deadline = time.monotonic() + FLUSH_TIMEOUT_S
        while time.monotonic() < deadline:
            with self._lock:
                if any(t == topic for t, _ in self.heard):
                    got = [m for m in self.heard if not m[0].startswith("corpus/flush/")]
                    self.heard.clear()
                    return got
            time.sleep(0.05)
        raise SystemExit(f"tagoio_corpus: the broker did not deliver {topic} back")

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def run_one_local(
    script: Path, target: Any, project: Path, tables: dict[str, str], listener: Listener
) -> Effects:
    from mqtt_actions.adapters.bucket import DynamoBucket
    from mqtt_actions.inspector import EntryType
    from mqtt_actions_cli.ops import analyses, inspector, outbox

    dynamodb = target.client("dynamodb")
    seed(tables, dynamodb, NOW_MS)  # the same keys each time: what a run changed is undone
    bucket = DynamoBucket(tables["BucketTable"], dynamodb)
    before = bucket.query(SENSOR, limit=1000)
    sent = len(outbox.list_items(target))
    listener.flush("before")
    name = analysis_name(script)
    done = analyses.run(target, name, scope_of(script), {}, wait=True, root=project)
    heard = listener.flush(name)
    after = bucket.query(SENSOR, limit=1000)
    known = {_row_key(r) for r in before}
    items = outbox.list_items(target)[sent:]
    entries = inspector.query(
        target, device=f"analysis:{name}", types=[EntryType.ACTION.value], limit=200
    )
    return Effects(
        outcome=str(done["outcome"]),
        reason=done.get("reason"),
        log=list(done.get("log") or []),
        new_rows=[r for r in after if _row_key(r) not in known],
        rows_before=len(before),
        rows_after=len(after),
        emails=[i for i in items if i.get("kind") == "email"],
        sms=[i for i in items if i.get("kind") == "sms"],
        mqtt=heard,
        notifications=[
            e.details
            for e in entries
            if e.traceid == done["traceid"] and e.details.get("action_type") == "notification"
        ],
    )


NOW_MS = int(time.time() * 1000)


def run_corpus_local(snippets: Path) -> list[dict[str, Any]]:
    """Every script of `snippets` through one running `mqtt-actions local`."""
    from mqtt_actions_cli.ops import analyses

    scripts = scripts_in(snippets)
    with tempfile.TemporaryDirectory(prefix="tagoio-corpus-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        project_copy(project)
        for script in scripts:
            analyses.add_tagoio(script, analysis_name(script), COMMON_ENV, root=project)
        with local_stack(project / "template.yaml", Path(tmp) / "state") as (target, host, port):
            tables = {
                lid: target.output(f"{lid}Name")
                for lid in ("BucketTable", "DevicesTable", "DeviceTokensTable")
            }
            listener = Listener(host, port)
            try:
                return [
                    verdict(script, run_one_local(script, target, project, tables, listener))
                    for script in scripts
                ]
            finally:
                listener.close()


# --- in this process, against moto ---------------------------------------------------------------


def run_one(script: Path, project: Path, tables: dict[str, str]) -> Effects:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iotdata.models import iotdata_backends
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    from mqtt_actions.adapters.bucket import DynamoBucket
    from mqtt_actions_cli.cfn import load_template
    from mqtt_actions_cli.local.runtime import LambdaContext, function_environment, load_handler
    from mqtt_actions_cli.local.template import load_local_template
    from mqtt_actions_cli.ops import analyses

    name = analysis_name(script)
    analyses.add_tagoio(script, name, COMMON_ENV, root=project)
    template = load_template(project / "template.yaml")
    local = load_local_template(
        template,
        root=project,
        physical=dict(tables),
        parameters={"EmailSender": SENDER, "NotificationEmail": OWNER},
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
        "scope": scope_of(script),
    }
    bucket = DynamoBucket(
        tables["BucketTable"], __import__("boto3").client("dynamodb", region_name=REGION)
    )
    before = bucket.query(SENSOR, limit=1000)
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
    after = bucket.query(SENSOR, limit=1000)
    known = {_row_key(r) for r in before}
    return Effects(
        outcome="failed" if reason else (own[-1].details.get("outcome", "?") if own else "?"),
        reason=reason,
        log=log,
        new_rows=[r for r in after if _row_key(r) not in known],
        rows_before=len(before),
        rows_after=len(after),
        emails=ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages[sent["emails"] :],
        sms=list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())[sent["sms"] :],
        mqtt=iotdata_backends[DEFAULT_ACCOUNT_ID][REGION].published_payloads[sent["mqtt"] :],
        notifications=notes,
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
    """Each script of `snippets` alone, in this process, against moto."""
    import boto3
    from moto import mock_aws

    from mqtt_actions.adapters import aws
    from mqtt_actions_cli.cfn import LocalNames, create_queues, create_tables, load_template

    scripts = scripts_in(snippets)
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
            seed(tables, dynamodb, int(time.time() * 1000))
            report.append(verdict(script, run_one(script, project, tables)))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--snippets", type=Path, required=True, help="a directory of TagoIO .py analyses"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="each script alone against moto in this process, not through `mqtt-actions local`",
    )
    args = parser.parse_args(argv)
    if not args.snippets.is_dir():
        parser.error(f"--snippets {args.snippets}: not a directory")
    sys.path.insert(0, str(ROOT))
    with contextlib.redirect_stdout(sys.stderr):  # the functions' own logs (JSON lines)
        report = (run_corpus if args.in_process else run_corpus_local)(args.snippets)
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
