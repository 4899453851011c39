"""In-memory stand-ins for every port an analysis uses, and helpers to run one.

The bucket fake keeps rows the way DynamoBucket keys them (`bucket_item`), so newest-first order and
overwrite-on-retry behave as on DynamoDB."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from mqtt_actions.adapters.bucket import bucket_item, row_ts
from mqtt_actions.analysis import AnalysisFunction
from mqtt_actions.ports import ActionResult, EmailAttachment, MessageRecord, RetainedMessage
from mqtt_actions.settings import AnalysisSettings
from mqtt_actions.tagoio_query import Row

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events" / "analyses"
T0 = 1_764_072_000_000  # 2025-11-25T12:00:00Z


def load_sample(name: str) -> ModuleType:
    """functions/analyses/<name>/app.py as its own module (every sample is called app.py)."""
    path = ROOT / "functions" / "analyses" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"analysis_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return data


@dataclass
class Published:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    hops: int

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class FakePublisher:
    published: list[Published] = field(default_factory=list)
    store: dict[str, RetainedMessage] = field(default_factory=dict)

    def publish(
        self, topic: str, payload: bytes, *, qos: int, retain: bool, hops: int, source: str = ""
    ) -> None:
        self.published.append(Published(topic, payload, qos, retain, hops))
        if retain and payload:
            self.store[topic] = RetainedMessage(
                topic=topic, payload=payload, qos=qos, last_modified=T0
            )
        elif retain:
            self.store.pop(topic, None)  # IoT Core: an empty retained publish deletes it

    def get_retained(self, topic: str) -> RetainedMessage | None:
        return self.store.get(topic)


@dataclass
class FakeNotifier:
    sms: list[tuple[str, str]] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)

    def send_sms(self, to: str, message: str) -> str:
        self.sms.append((to, message))
        return f"sms-{len(self.sms)}"

    def send_email(
        self, to: Sequence[str], subject: str, text: str | None, html: str | None
    ) -> str:
        self.emails.append({"to": list(to), "subject": subject, "text": text, "html": html})
        return f"email-{len(self.emails)}"

    def send_email_attachments(
        self,
        to: Sequence[str],
        subject: str,
        text: str | None,
        html: str | None,
        attachments: Sequence[EmailAttachment],
    ) -> str:
        self.send_email(to, subject, text, html)
        self.emails[-1]["attachments"] = [
            (a.filename, a.content, a.content_type) for a in attachments
        ]
        return f"email-{len(self.emails)}"


@dataclass
class FakeRateLimiter:
    """Fixed windows, like DynamoRateLimiter."""

    counts: dict[tuple[str, int], int] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)

    def allow(
        self, action_id: str, max_count: int, per_seconds: int, now: float, count: int = 1
    ) -> bool:
        self.keys.append(action_id)
        window = (action_id, int(now // per_seconds))
        if self.counts.get(window, 0) + count > max_count:
            return False
        self.counts[window] = self.counts.get(window, 0) + count
        return True


@dataclass
class FakeBucket:
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    inserts: list[tuple[str, list[dict[str, Any]], str, int]] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)

    def insert(
        self, device: str, points: Sequence[Mapping[str, Any]], *, traceid: str, timestamp: int
    ) -> int:
        self.inserts.append((device, [dict(p) for p in points], traceid, timestamp))
        for i, point in enumerate(points):
            item = bucket_item(device, point, traceid=traceid, index=i, timestamp=timestamp)
            self.items[(device, item["sk"]["S"])] = item
        return len(points)

    def query(
        self,
        device: str,
        *,
        variable: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        self.queries.append(
            {
                "device": device,
                "variable": variable,
                "since_ms": since_ms,
                "until_ms": until_ms,
                "limit": limit,
            }
        )
        rows = [
            it
            for (dev, _), it in self.items.items()
            if dev == device
            and (variable is None or it["variable"]["S"] == variable)
            and (since_ms is None or int(it["time"]["N"]) >= since_ms)
            and (until_ms is None or int(it["time"]["N"]) <= until_ms)
        ]
        rows.sort(key=row_ts, reverse=True)
        return [json.loads(it["data"]["S"]) | {"_time": int(it["time"]["N"])} for it in rows][
            :limit
        ]

    # the rows by id that TagoIO's getData / editData / deleteData use (mqtt_actions.tagoio)
    def rows(
        self,
        device: str,
        *,
        variables: tuple[str, ...] = (),
        since_ms: int | None = None,
        until_ms: int | None = None,
        limit: int,
    ) -> list[Row]:
        found = [
            it
            for (dev, _), it in self.items.items()
            if dev == device
            and (not variables or it["variable"]["S"] in variables)
            and (since_ms is None or int(it["time"]["N"]) >= since_ms)
            and (until_ms is None or int(it["time"]["N"]) <= until_ms)
        ]
        found.sort(key=row_ts, reverse=True)
        return [
            Row(it["sk"]["S"], json.loads(it["data"]["S"]), int(it["time"]["N"]))
            for it in found[:limit]
        ]

    def rewrite(self, device: str, key: str, changes: Mapping[str, Any]) -> bool:
        item = self.items.get((device, key))
        if item is None:
            return False
        item["data"] = {"S": json.dumps({**json.loads(item["data"]["S"]), **changes})}
        return True

    def delete(self, device: str, keys: list[str]) -> int:
        for key in keys:
            self.items.pop((device, key), None)
        return len(keys)

    def count(self, device: str) -> int:
        return sum(dev == device for dev, _ in self.items)


@dataclass
class FakeInvoker:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def invoke_async(self, function: str, event: Mapping[str, Any]) -> None:
        self.calls.append((function, json.loads(json.dumps(event))))


@dataclass
class FakeInspector:
    outcomes: list[tuple[MessageRecord, ActionResult]] = field(default_factory=list)
    broken: bool = False

    def record_message(self, message: MessageRecord) -> None:
        return

    def record_outcomes(self, message: MessageRecord, results: Sequence[ActionResult]) -> None:
        if self.broken:
            raise RuntimeError("inspector table unavailable")
        self.outcomes.extend((message, r) for r in results)


@dataclass
class FakePorts:
    publisher: FakePublisher = field(default_factory=FakePublisher)
    notifier: FakeNotifier = field(default_factory=FakeNotifier)
    rate_limiter: FakeRateLimiter = field(default_factory=FakeRateLimiter)
    bucket: FakeBucket = field(default_factory=FakeBucket)
    invoker: FakeInvoker = field(default_factory=FakeInvoker)
    inspector: FakeInspector = field(default_factory=FakeInspector)

    @property
    def retained(self) -> FakePublisher:
        return self.publisher


def settings(**env: str) -> AnalysisSettings:
    """Settings as a function configured with every service would have them."""
    base = {
        "ANALYSIS_NAME": "sample",
        "BUCKET_TABLE": "bucket",
        "ACTIONS_TABLE": "actions",
        "EMAIL_SENDER": "alerts@example.com",
        "ANALYSIS_FUNCTIONS": json.dumps({"forward": "fn-forward", "threshold_alert": "fn-alert"}),
    }
    return AnalysisSettings.from_env(base | env)


def run(
    fn: AnalysisFunction,
    event: Any,
    ports: FakePorts,
    cfg: AnalysisSettings | None = None,
    *,
    now: float = T0 / 1000,
) -> dict[str, Any]:
    return fn.invoke(event, ports=ports, settings=cfg or settings(), clock=lambda: now)
