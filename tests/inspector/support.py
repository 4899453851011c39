"""What the inspector suite shares: the lifecycle samples, a fixed time, message records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mqtt_actions.inspector import EntryType, InspectorEntry
from mqtt_actions.ports import ActionResult, MessageRecord, Outcome

if TYPE_CHECKING:
    from tests.integration.conftest import Aws

EVENTS = Path(__file__).resolve().parents[2] / "events" / "lifecycle"
SAMPLES = sorted(p.stem for p in EVENTS.glob("*.json"))
T0 = 1_764_072_000_000  # 2025-11-25T12:00:00Z
HOUR = 3_600_000
DAY_S = 86_400
NOW_S = (T0 + 3 * HOUR) / 1000  # the fixed clock of the adapter tests


def sample(name: str, **change: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return data | change


def record(**change: Any) -> MessageRecord:
    """A message record (two actions matched), with `change` applied."""
    base: dict[str, Any] = {
        "device": "sensor-01",
        "topic": "home/kitchen/temperature",
        "traceid": "5f0c7a4e-1111-2222-3333-444455556666",
        "timestamp": T0,
        "size": 12,
        "preview": '{"t": 21.5}',
        "points": 1,
        "hops": 0,
        "matched": 2,
    }
    return MessageRecord.model_validate(base | change)


def message(traceid: str = "trace-1", *, device: str = "sensor-01", at: int = T0) -> MessageRecord:
    return MessageRecord(
        device=device,
        topic=f"home/{device}/temperature",
        traceid=traceid,
        timestamp=at,
        size=25,
        preview='{"temperature": 31.5}',
        points=1,
        hops=1,
        matched=len(Outcome),
    )


ALL_OUTCOMES = [
    ActionResult(action_id="store", action_type="insert_bucket", outcome=Outcome.DONE),
    ActionResult(
        action_id="hook", action_type="webhook", outcome=Outcome.FAILED, reason="HTTP 500"
    ),
    ActionResult(
        action_id="sms",
        action_type="sms",
        outcome=Outcome.THROTTLED,
        reason="rate limit of 10 per 60 s reached",
    ),
    ActionResult(
        action_id="hot",
        action_type="email",
        outcome=Outcome.CONDITION_FALSE,
        reason="temperature 31.5 is not > 40",
    ),
    ActionResult(
        action_id="echo",
        action_type="mqtt_publish",
        outcome=Outcome.LOOP_REFUSED,
        reason="message has travelled 4 hops",
    ),
    ActionResult(
        action_id="keep",
        action_type="insert_bucket",
        outcome=Outcome.POINTS_REFUSED,
        reason="variable longer than 100 characters",
    ),
    ActionResult(
        action_id="mail", action_type="email", outcome=Outcome.REFUSED, reason="no EMAIL_SENDER"
    ),
    ActionResult(
        action_id="again",
        action_type="sms",
        outcome=Outcome.DUPLICATE,
        reason="already ran for traceid trace-1; not repeated",
        detail={"previous": "done"},
    ),
]


def entry(device: str, kind: EntryType, time: int, uid: str, **kw: Any) -> InspectorEntry:
    return InspectorEntry(device=device, type=kind, time=time, uid=uid, **kw)


def items(aws_env: Aws) -> list[dict[str, Any]]:
    """Every item of the inspector table, as stored."""
    page = aws_env.dynamodb.scan(TableName=aws_env.tables["InspectorTable"])
    found: list[dict[str, Any]] = page["Items"]
    return found
