"""Running an analysis: `@analysis` turns `handler(context, scope)` into a Lambda handler, parses
the event, builds the context and services, and reports the outcome to the inspector."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from mqtt_actions.analysis.errors import InvalidEventError
from mqtt_actions.analysis.event import AnalysisEvent, Scope, Trigger
from mqtt_actions.analysis.services import Run, Services
from mqtt_actions.ports import ActionResult, AdapterWrappers, AnalysisPorts, MessageRecord, Outcome
from mqtt_actions.settings import AnalysisSettings

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["AnalysisFunction", "Context", "Handler", "analysis", "run_analysis"]

ANALYSIS_ACTION_TYPE: Final = "analysis"


@dataclass(frozen=True)
class Context:
    """The run's name, trigger, environment, logger and services.

    `time_ms` is the trigger's time (the message's receive time, the scheduled time), else when
    the run started: the same when Lambda retries the event, so use it instead of the clock.
    """

    name: str
    trigger: Trigger
    environment: Mapping[str, str]
    logger: Logger
    services: Services
    time_ms: int


Handler = Callable[[Context, Scope], object]


# --- running -------------------------------------------------------------------------------------


def run_analysis(
    handler: Handler,
    event: object,
    *,
    settings: AnalysisSettings,
    ports: AnalysisPorts,
    logger: Logger,
    clock: Callable[[], float] = time.time,
    function_name: str = "",
    request_id: str = "",
) -> dict[str, Any]:
    """Parse `event`, run `handler`, report the outcome to the inspector; re-raise its error."""
    started_ms = int(clock() * 1000)
    # The function's own ANALYSIS_NAME wins over the name a caller used: rate-limit keys (and the
    # IAM conditions on them) and the inspector must not depend on what the caller wrote.
    fallback_name = settings.analysis_name or function_name or "analysis"
    try:
        parsed = AnalysisEvent.parse(event)
    except InvalidEventError as exc:
        logger.error("invalid analysis event", extra={"reason": str(exc)})
        record = _record(None, fallback_name, request_id or uuid.uuid4().hex, 0, started_ms)
        _report(ports, logger, fallback_name, record, Outcome.FAILED, str(exc), {"trigger": "?"})
        raise
    trigger = parsed.trigger
    if not trigger.traceid:  # e.g. a ScheduleV2 Input without <aws.scheduler.execution-id>
        trigger = trigger.model_copy(update={"traceid": request_id or uuid.uuid4().hex})
    name = settings.analysis_name or parsed.analysis or fallback_name
    run = Run(
        name=name,
        trigger=trigger,
        settings=settings,
        ports=ports,
        clock=clock,
        timestamp=trigger.timestamp if trigger.timestamp is not None else started_ms,
    )
    logger.clear_state()
    logger.set_correlation_id(trigger.traceid)
    logger.append_keys(analysis=name, trigger=trigger.type, device=trigger.device)
    context = Context(
        name=name,
        trigger=trigger,
        environment={**settings.environment, **parsed.environment},
        logger=logger,
        services=Services(run),
        time_ms=run.timestamp,
    )
    scope = [dict(p) for p in parsed.scope]
    record = _record(trigger, name, trigger.traceid, len(scope), started_ms)
    try:
        result = handler(context, scope)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        logger.exception("analysis failed", extra={"reason": reason, "done": run.done})
        _report(ports, logger, name, record, Outcome.FAILED, reason, _detail(trigger, run))
        raise
    _report(ports, logger, name, record, Outcome.DONE, None, _detail(trigger, run))
    logger.info("analysis done", extra={"done": run.done})
    summary: dict[str, Any] = {
        "analysis": name,
        "trigger": trigger.type,
        "traceid": trigger.traceid,
        "done": dict(run.done),
    }
    if result is not None:
        summary["result"] = result
    return summary


def _record(
    trigger: Trigger | None, name: str, traceid: str, points: int, started_ms: int
) -> MessageRecord:
    """The inspector's view of what started the run (a trigger is not a message: no payload).
    A run without a device (a schedule) is shown under the device `analysis:<name>`."""
    timestamp = trigger.timestamp if trigger and trigger.timestamp is not None else started_ms
    return MessageRecord(
        device=(trigger.device if trigger else None) or f"analysis:{name}",
        topic=(trigger.topic if trigger else None) or "",
        traceid=traceid,
        timestamp=timestamp,
        size=0,
        preview="",
        points=points,
        hops=trigger.hops if trigger else 0,
        matched=1,
    )


def _detail(trigger: Trigger, run: Run) -> dict[str, Any]:
    detail: dict[str, Any] = {"trigger": trigger.type, **run.done}
    if run.notes:
        detail["log"] = list(run.notes)
    if trigger.action_id:
        detail["action_id"] = trigger.action_id
    if trigger.parent:
        detail["parent"] = trigger.parent
    return detail


def _report(
    ports: AnalysisPorts,
    logger: Logger,
    name: str,
    record: MessageRecord,
    outcome: Outcome,
    reason: str | None,
    detail: dict[str, Any],
) -> None:
    """The inspector line for this run. A failing inspector never hides the analysis's own error."""
    result = ActionResult(
        action_id=name,
        action_type=ANALYSIS_ACTION_TYPE,
        outcome=outcome,
        reason=reason,
        detail=detail,
    )
    try:
        ports.inspector.record_outcomes(record, [result])
    except Exception:  # reporting is best effort: the run's own outcome stands
        logger.exception("inspector could not record the analysis outcome")


class AnalysisFunction:
    """The Lambda handler `@analysis` makes: call it with `(event, lambda_context)`.

    `invoke(event, ports=..., settings=..., clock=...)` runs it with other adapters (tests, the
    local stack); `clock` (default `time.time`) is what rate limits count windows with.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.clock: Callable[[], float] = time.time
        # Set by a host that runs this handler (the local stack records what was sent).
        self.wrappers = AdapterWrappers()
        self._logger: Logger | None = None
        functools.update_wrapper(self, handler)

    @property
    def logger(self) -> Logger:
        if self._logger is None:
            from aws_lambda_powertools import Logger

            self._logger = Logger()
        return self._logger

    def __call__(self, event: Any, lambda_context: LambdaContext | None = None) -> dict[str, Any]:
        return self.invoke(event, lambda_context)

    def invoke(
        self,
        event: Any,
        lambda_context: LambdaContext | None = None,
        *,
        ports: AnalysisPorts | None = None,
        settings: AnalysisSettings | None = None,
        clock: Callable[[], float] | None = None,
    ) -> dict[str, Any]:
        cfg = settings if settings is not None else AnalysisSettings.from_env()
        if ports is None:
            from mqtt_actions.adapters.analysis_ports import AwsAnalysisPorts

            ports = AwsAnalysisPorts(cfg, self.wrappers)
        return run_analysis(
            self.handler,
            event,
            settings=cfg,
            ports=ports,
            logger=self.logger,
            clock=clock or self.clock,
            function_name=getattr(lambda_context, "function_name", "") or "",
            request_id=getattr(lambda_context, "aws_request_id", "") or "",
        )


def analysis(handler: Handler) -> AnalysisFunction:
    """Decorate `def handler(context, scope)`; the result is the Lambda handler."""
    return AnalysisFunction(handler)
