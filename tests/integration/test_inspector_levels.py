"""InspectorLevel on moto: what each level stores of a message, read back through `query`."""

from __future__ import annotations

import pytest

from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions.inspector import InspectorLevel
from mqtt_actions.ports import ActionResult, MessageRecord, Outcome
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration

STORED = ActionResult(action_id="store", action_type="insert_bucket", outcome=Outcome.DONE)
FAILED = ActionResult(
    action_id="hook", action_type="webhook", outcome=Outcome.FAILED, reason="HTTP 500"
)


def message(traceid: str, matched: int) -> MessageRecord:
    return MessageRecord(
        device="sensor-01",
        topic="devices/sensor-01/telemetry",
        traceid=traceid,
        timestamp=1_764_072_000_000,
        size=2,
        preview="{}",
        points=1,
        matched=matched,
    )


@pytest.mark.parametrize("level", list(InspectorLevel))
def test_each_level_on_a_quiet_a_failing_and_an_unmatched_message(
    aws_env: Aws, level: InspectorLevel
) -> None:
    inspector = DynamoInspector(aws_env.tables["InspectorTable"], aws_env.dynamodb, 7, level=level)
    inspector.record_message(message("quiet", 1))
    inspector.record_outcomes(message("quiet", 1), [STORED])
    inspector.record_message(message("loud", 2))
    inspector.record_outcomes(message("loud", 2), [STORED, FAILED])
    inspector.record_message(message("nobody", 0))
    inspector.flush()
    got = {
        (e.traceid, e.type.value, e.details.get("outcome"))
        for e in inspector.query(device="sensor-01")
    }
    loud = {("loud", "publish", None), ("loud", "action", "done"), ("loud", "action", "failed")}
    if level is InspectorLevel.ALL:
        assert got == loud | {
            ("quiet", "publish", None),
            ("quiet", "action", "done"),
            ("nobody", "publish", None),
        }
    else:  # the failing message is kept whole, the others not at all
        assert got == loud
