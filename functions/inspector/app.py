"""InspectorFunction: IoT Core lifecycle events (rules `lifecycle_*`) -> the inspector table,
each under the device its client id is bound to; a disconnect ends its connection's binding.

Thin: parse, record, measure. A malformed event cannot be fixed by a retry, so it goes straight
to the dead-letter queue with the reason; a failed write raises, so Lambda retries it (then the
on-failure destination, the same queue).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from mqtt_actions.adapters.aws import client
from mqtt_actions.adapters.binding_store import DynamoBindingStore
from mqtt_actions.adapters.dlq import SqsDeadLetters
from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions.lifecycle import ConnectFailed, describe, parse_lifecycle
from mqtt_actions.observability import traced
from mqtt_actions.presence import RefusalSampler, record_presence
from mqtt_actions.settings import InspectorSettings

logger = Logger()
metrics = Metrics()


@dataclass(frozen=True)
class InspectorDeps:
    inspector: DynamoInspector
    dead_letters: SqsDeadLetters
    bindings: DynamoBindingStore | None


@cache
def refusals() -> RefusalSampler:
    """This instance's sampler of refused CONNECTs (kept while the instance is warm)."""
    return RefusalSampler()


@cache
def settings() -> InspectorSettings:
    return InspectorSettings.from_env()


@cache
def deps() -> InspectorDeps:
    cfg = settings()
    return InspectorDeps(
        inspector=DynamoInspector(cfg.inspector_table, client("dynamodb"), cfg.retention_days),
        dead_letters=SqsDeadLetters(cfg.dead_letter_queue_url, client("sqs")),
        bindings=DynamoBindingStore(cfg.device_bindings_table, client("dynamodb"))
        if cfg.device_bindings_table
        else None,
    )


@metrics.log_metrics
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    wired = deps()
    try:
        parsed = parse_lifecycle(event)
    except ValidationError as exc:
        reason = f"invalid lifecycle event: {describe(exc)}"
        logger.error("invalid event", extra={"reason": reason})
        metrics.add_metric(name="InvalidLifecycleEvents", unit=MetricUnit.Count, value=1)
        record = {"kind": "invalid_lifecycle_event", "reason": reason, "event": event}
        wired.dead_letters.send(record)
        return {"error": reason}
    logger.set_correlation_id(parsed.session_identifier or None)
    logger.append_keys(device=parsed.client_id, event_type=parsed.event_type)
    metrics.add_metric(name=f"Lifecycle_{parsed.event_type}", unit=MetricUnit.Count, value=1)
    suppressed = 0
    if isinstance(parsed, ConnectFailed):
        admitted = refusals().admit(time.time())
        if admitted is None:  # counted, and said on the next refusal recorded
            if refusals().suppressed == 1:
                logger.warning("refused CONNECTs over the inspector's limit a minute: sampling")
            return {"sampled_out": True, "suppressed": refusals().suppressed}
        suppressed = admitted
    entry = record_presence(
        parsed, wired.inspector, wired.bindings, settings().device_identity, suppressed=suppressed
    )
    return {"device": entry.device, "type": entry.type.value, "sk": entry.sk}
