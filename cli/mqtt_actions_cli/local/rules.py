"""IoT Core's rules engine, locally: every message (from a device, a handler's iot-data Publish or
a lifecycle event) is matched against the template's rules; each matching rule's SQL builds the
event its Lambda functions are invoked with, asynchronously."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mqtt_actions.topics import topic_matches
from mqtt_actions_cli.local import sql
from mqtt_actions_cli.local.output import log
from mqtt_actions_cli.local.template import RuleSpec

Dispatch = Callable[[str, dict[str, Any], str], None]  # function, event, rule name
SendToQueue = Callable[[str, Mapping[str, Any]], None]
# Added locally to the events that carry a message's traceid: its QoS, which no IoT rule SQL
# function exposes (on AWS the field is absent and the inspector shows "—").
LOCAL_QOS = "localQos"


class RuleError(ValueError):
    """A rule of template.yaml the local engine cannot run; names the rule."""


@dataclass(frozen=True)
class InboundMessage:
    """A message entering the rules engine. `user_properties` carries what MQTT 5 / iot-data would
    (the hop count of handler publishes), kept alongside since the broker speaks MQTT 3.1.1."""

    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    clientid: str = ""
    principal: str = ""
    user_properties: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class _Rule:
    spec: RuleSpec
    parsed: sql.ParsedSql


class RulesEngine:
    def __init__(
        self,
        rules: Sequence[RuleSpec],
        *,
        dispatch: Dispatch,
        send_to_queue: SendToQueue,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rules: list[_Rule] = []
        for spec in rules:
            try:
                parsed = sql.parse(spec.sql, spec.sql_version)
            except sql.RuleSqlError as exc:
                raise RuleError(f"rule {spec.name} ({spec.source}): {exc}") from exc
            if not spec.disabled:
                self._rules.append(_Rule(spec, parsed))
        self._dispatch = dispatch
        self._send_to_queue = send_to_queue
        self._clock = clock

    @property
    def rules(self) -> list[RuleSpec]:
        return [r.spec for r in self._rules]

    def on_message(self, message: InboundMessage) -> int:
        """Evaluate every rule for `message`; returns how many invoked something."""
        ctx = sql.MessageContext(
            topic=message.topic,
            payload=message.payload,
            clientid=message.clientid,
            principal=message.principal,
            timestamp=int(self._clock() * 1000),
            traceid=str(uuid.uuid4()),
            user_properties=message.user_properties,
        )
        fired = 0
        for rule in self._rules:
            if not topic_matches(rule.parsed.topic_filter, message.topic):
                continue
            try:
                event = sql.select(rule.parsed, ctx)
            except sql.RuleEvaluationError as exc:
                self._error_action(rule.spec, ctx, str(exc))
                continue
            if event is None:
                continue
            fired += 1
            if "traceid" in event:  # a message's event (the router's): the broker knows its QoS
                event.setdefault(LOCAL_QOS, message.qos)
            for function in rule.spec.functions:
                self._dispatch(function, event, rule.spec.name)
        return fired

    def _error_action(self, spec: RuleSpec, ctx: sql.MessageContext, error: str) -> None:
        log.warning("rule %s failed for %s: %s", spec.name, ctx.topic, error)
        if spec.error_queue_url is None:
            return
        # The shape of IoT's error action message.
        record = {
            "ruleName": spec.name,
            "topic": ctx.topic,
            "cloudwatchTraceId": ctx.traceid,
            "clientId": ctx.clientid,
            "base64OriginalPayload": base64.b64encode(ctx.payload).decode("ascii"),
            "failures": [
                {
                    "failedAction": "LambdaAction",
                    "failedResource": ",".join(spec.functions),
                    "errorMessage": error,
                }
            ],
        }
        self._send_to_queue(spec.error_queue_url, record)
