"""The inspector port, for now as structured logs (the inspector table comes with its issue)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_lambda_powertools import Logger

from mqtt_actions.ports import ActionResult, MessageRecord, Outcome

logger = Logger(child=True)


class LoggingInspector:
    def record_message(self, message: MessageRecord) -> None:
        logger.info("message", extra=message.model_dump(exclude={"preview"}))

    def record_outcomes(self, message: MessageRecord, results: Sequence[ActionResult]) -> None:
        for result in results:
            level = logger.warning if result.outcome is Outcome.FAILED else logger.info
            level("action outcome", extra={"traceid": message.traceid, **result.model_dump()})
