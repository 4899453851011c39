"""One builder for the router's settings and one for a Lambda context: what every test (and the
router benchmark) hands a handler or `route()`, instead of a copy of the environment each."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from mqtt_actions.settings import RouterSettings

# The environment template.yaml gives RouterFunction, with test names for its resources.
ROUTER_ENV: dict[str, str] = {
    "BUCKET_TABLE": "bucket",
    "ACTIONS_TABLE": "actions",
    "IDEMPOTENCY_TABLE": "idempotency",
    "DEAD_LETTER_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
    "EMAIL_SENDER": "alerts@example.com",
    "ANALYSIS_FUNCTIONS": json.dumps({"forecast": "forecast-fn"}),
}


def router_settings(**env: str | dict[str, str]) -> RouterSettings:
    """RouterSettings from ROUTER_ENV with `env` over it (a dict value is JSON-encoded):
    `router_settings(MAX_HOPS="2", ANALYSIS_FUNCTIONS={"f": "Fn"})`."""
    values = {k: v if isinstance(v, str) else json.dumps(v) for k, v in env.items()}
    return RouterSettings.from_env(ROUTER_ENV | values)


@dataclass
class LambdaContext:
    """What Powertools and the handlers read of Lambda's context object."""

    function_name: str = "RouterFunction"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "req-1"
    remaining_ms: int = 30_000

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def lambda_context(function_name: str = "RouterFunction", **fields: Any) -> LambdaContext:
    return LambdaContext(function_name=function_name, **fields)
