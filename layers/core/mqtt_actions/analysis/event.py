"""What starts an analysis: the event (an action, a schedule, another analysis) and its trigger."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from mqtt_actions.analysis.errors import InvalidEventError

__all__ = ["AnalysisEvent", "Scope", "Trigger"]

# The data points the trigger carried (empty for a schedule).
Scope = list[dict[str, Any]]


def _iso_to_ms(value: object) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


class Trigger(BaseModel):
    """What started this run. `device`/`topic`/`action_id` come from the MQTT message of an action
    (and pass on to analyses it starts); a schedule has none of them."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["action", "schedule", "analysis", "manual"]  # manual: `analyses run`
    action_id: str | None = None
    topic: str | None = None
    device: str | None = None
    traceid: str = Field(default="", description="the message's traceid; the correlation id")
    hops: int = Field(default=0, ge=0, description="publishes/analyses in the chain so far")
    timestamp: int | None = Field(default=None, ge=0, description="ms since the epoch")
    parent: str | None = Field(default=None, description="the analysis that started this one")

    @model_validator(mode="before")
    @classmethod
    def _time(cls, data: Any) -> Any:
        # EventBridge Scheduler gives <aws.scheduler.scheduled-time> as ISO 8601 text.
        if isinstance(data, dict) and data.get("timestamp") is None and "time" in data:
            return {**data, "timestamp": _iso_to_ms(data["time"])}
        return data


def _environment(value: object) -> object:
    """Values become text, as in a function's environment (numbers and booleans as JSON)."""
    if isinstance(value, dict):
        return {
            str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
            for k, v in value.items()
        }
    return value


class AnalysisEvent(BaseModel):
    """`{"analysis", "trigger", "scope", "environment"}`: what the router's run_analysis action
    and `services.analysis.run` send, and what a ScheduleV2 `Input` holds."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    analysis: str | None = None
    trigger: Trigger
    scope: list[dict[str, Any]] = Field(default_factory=list)
    environment: Annotated[dict[str, str], BeforeValidator(_environment)] = Field(
        default_factory=dict
    )

    @classmethod
    def parse(cls, event: object) -> AnalysisEvent:
        """Any start of an analysis; raises InvalidEventError saying which shapes are accepted."""
        if (
            isinstance(event, Mapping)
            and "trigger" not in event
            and event.get("detail-type") == "Scheduled Event"
        ):  # an EventBridge rule (SAM's `Schedule` event): its id is the traceid
            return cls(
                trigger=Trigger(
                    type="schedule",
                    traceid=str(event.get("id") or ""),
                    timestamp=_iso_to_ms(event.get("time")),
                )
            )
        try:
            return cls.model_validate(event)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'event'}: {err['msg']}"
                for err in exc.errors(include_url=False)
            )
            msg = (
                f"not an analysis event ({problems}); expected "
                '{"trigger": {"type": "action"|"schedule"|"analysis", ...}, "scope": [...]} '
                "or an EventBridge scheduled event (see events/analyses/)"
            )
            raise InvalidEventError(msg) from None
