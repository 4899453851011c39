"""Tracing, opt-in: Lambda's active tracing records every invocation without any SDK; the
Powertools Tracer adds subsegments per call but imports the X-Ray SDK, which builds a botocore
session of its own (~250 ms of every cold start, measured with `python -X importtime`)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext


def traced[Handler: Callable[[Any, LambdaContext], Any]](handler: Handler) -> Handler:
    """Wrap `handler` in the Powertools Tracer when DETAILED_TRACING=true (read on the first
    invocation, not at import)."""
    chosen: list[Callable[[Any, LambdaContext], Any]] = []

    @functools.wraps(handler)
    def entry(event: Any, context: LambdaContext) -> Any:
        if not chosen:
            if os.environ.get("DETAILED_TRACING", "false").strip().lower() == "true":
                from aws_lambda_powertools import Tracer

                chosen.append(Tracer().capture_lambda_handler(handler))
            else:
                chosen.append(handler)
        return chosen[0](event, context)

    return entry  # type: ignore[return-value]
