"""RouterFunction: every MQTT message (IoT rule `route`) -> its actions. Parse, route, measure.

Invoked by the rule once per message, or (`RouterBatching=Kinesis`) by the stream's event source
mapping with a batch of them: each record is routed exactly as a message on its own."""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from mqtt_actions.adapters.actions_store import DynamoActionsStore
from mqtt_actions.adapters.aws import client
from mqtt_actions.adapters.binding_store import DynamoBindingStore
from mqtt_actions.adapters.bucket import DynamoBucket
from mqtt_actions.adapters.device_profiles import profiles_from_env
from mqtt_actions.adapters.dlq import SqsDeadLetters
from mqtt_actions.adapters.idempotency import PowertoolsOnce
from mqtt_actions.adapters.inspector import DynamoInspector, LoggingInspector
from mqtt_actions.adapters.invoke import LambdaInvoker
from mqtt_actions.adapters.notify import SnsSesNotifier
from mqtt_actions.adapters.publish import IotDataPublisher
from mqtt_actions.adapters.ratelimit import DynamoRateLimiter
from mqtt_actions.adapters.webhook import HttpWebhookClient
from mqtt_actions.bindings import DeviceDirectory
from mqtt_actions.change_marker import ChangeMarker
from mqtt_actions.events import RouterEvent
from mqtt_actions.observability import traced
from mqtt_actions.parsers import ParserLookup
from mqtt_actions.parsers.registry import CachedParsers
from mqtt_actions.ports import AdapterWrappers, InspectorLog, NeedsInvocation
from mqtt_actions.reservations import ReservingRateLimiter
from mqtt_actions.router import (
    ActionsSource,
    RetryLaterError,
    RouterDeps,
    RouteSummary,
    route,
    wrap_adapters,
)
from mqtt_actions.settings import RouterSettings
from mqtt_actions.streams import batch_response, is_stream_batch, stream_records

logger = Logger()
metrics = Metrics()
# Set by a host that runs this module (the local stack records what was sent); none on AWS.
wrappers = AdapterWrappers()


@cache
def settings() -> RouterSettings:
    return RouterSettings.from_env()


@cache
def deps() -> RouterDeps:
    """Adapters built on the first message and kept warm (actions cached for the TTL)."""
    cfg = settings()
    dynamodb = client("dynamodb")
    store = DynamoActionsStore(cfg.actions_table, dynamodb)
    built = RouterDeps(
        actions=ActionsSource(
            store.load,
            cfg.actions_cache_seconds,
            clock=time.time,
            changed=ChangeMarker(cfg.actions_change_file).changed
            if cfg.actions_change_file
            else None,
        ),
        bucket=DynamoBucket(cfg.bucket_table, dynamodb),
        rate_limiter=DynamoRateLimiter(cfg.actions_table, dynamodb),
        points_limiter=ReservingRateLimiter(DynamoRateLimiter(cfg.actions_table, dynamodb)),
        notifier=SnsSesNotifier(client("sns"), client("sesv2"), cfg.email_sender),
        publisher=IotDataPublisher(client("iot-data")),
        invoker=LambdaInvoker(client("lambda")),
        webhooks=HttpWebhookClient(allow_private=cfg.webhook_allow_private),
        inspector=_inspector(cfg, dynamodb),
        dead_letters=SqsDeadLetters(cfg.dead_letter_queue_url, client("sqs")),
        once=PowertoolsOnce(cfg.idempotency_table, dynamodb, cfg.idempotency_seconds),
        devices=_devices(cfg, dynamodb),
        parsers=_parsers(cfg),
    )
    return wrap_adapters(built, wrappers)


def _devices(cfg: RouterSettings, dynamodb: Any) -> DeviceDirectory:
    """Client id -> device through the authorizer's bindings (warm cache, a few seconds)."""
    if cfg.device_bindings_table:
        return DeviceDirectory(
            DynamoBindingStore(cfg.device_bindings_table, dynamodb).get, cfg.device_identity
        )
    return DeviceDirectory(lambda _client_id: None, cfg.device_identity)


def _parsers(cfg: RouterSettings) -> ParserLookup | None:
    """Devices' payload parsers from the device registry (DEVICES_TABLE), cached like the
    actions; None when the template gives no registry. No parser engine is imported here."""
    registry = profiles_from_env()
    if registry is None:
        return None
    return CachedParsers(
        registry.get,
        cfg.actions_cache_seconds,
        clock=time.time,
        changed=ChangeMarker(cfg.actions_change_file).changed if cfg.actions_change_file else None,
    )


def _inspector(cfg: RouterSettings, dynamodb: Any) -> InspectorLog:
    """The inspector table when the template names one (INSPECTOR_TABLE), else logs only."""
    if cfg.inspector_table:
        return DynamoInspector(
            cfg.inspector_table,
            dynamodb,
            cfg.inspector_retention_days,
            level=cfg.inspector_level,
        )
    return LoggingInspector()


@metrics.log_metrics
@traced
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _bind(deps(), context)
    if is_stream_batch(event):
        return _batch(event)
    return _message(event)


def _bind(wired: RouterDeps, context: LambdaContext) -> None:
    """Once per invocation (one message, or a whole batch): the adapters that bound their work by
    the invocation learn its deadline."""
    for adapter in (wired.once, wired.webhooks):
        if isinstance(adapter, NeedsInvocation):
            adapter.register(context)


def _batch(event: dict[str, Any]) -> dict[str, Any]:
    """Each record in order; the first that raises is reported and the batch stops there:
    Lambda delivers it and every later record again (side effects are idempotent by traceid)."""
    for record in stream_records(event):
        if record.event is None:
            _invalid(str(record.problem), {"kinesis": {"sequenceNumber": record.sequence}})
            continue
        try:
            _message(record.event)
        except Exception:
            logger.exception("record failed", extra={"sequence_number": record.sequence})
            return batch_response([record.sequence])
    return batch_response([])


def _message(event: dict[str, Any]) -> dict[str, Any]:
    wired = deps()
    try:
        parsed = RouterEvent.model_validate(event)
        parsed.payload_bytes()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        # Retrying cannot fix a malformed event: straight to the dead-letter queue, with why.
        return _invalid(f"invalid router event: {exc}", event)
    logger.set_correlation_id(parsed.traceid)
    logger.append_keys(topic=parsed.topic, client_id=parsed.clientid)
    summary = route(parsed, wired, settings())
    _measure(summary)
    if waiting := summary.in_progress():
        # Held by another invocation: a Lambda retry finds it done, or its crashed holder expired.
        raise RetryLaterError(parsed.traceid, waiting)
    return {
        "traceid": parsed.traceid,
        "matched": len(summary.results),
        "outcomes": {r.action_id: r.outcome.value for r in summary.results},
    }


def _invalid(reason: str, event: dict[str, Any]) -> dict[str, Any]:
    logger.error("invalid event", extra={"reason": reason})
    metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
    deps().dead_letters.send({"kind": "invalid_event", "reason": reason, "event": event})
    return {"error": reason}


def _measure(summary: RouteSummary) -> None:
    metrics.add_metric(name="Messages", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Matches", unit=MetricUnit.Count, value=len(summary.results))
    for result in summary.results:
        metrics.add_metric(
            name=f"Action_{result.action_type}_{result.outcome.value}",
            unit=MetricUnit.Count,
            value=1,
        )
