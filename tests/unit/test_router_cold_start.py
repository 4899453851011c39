"""What importing the router handler leaves unbuilt: the work it defers to first use (cold start).
Checked in a fresh interpreter, by what is loaded and built, never by timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
import functions.router.app
from mqtt_actions import actions, lifecycle, payload
print(json.dumps({
    "idempotency": "aws_lambda_powertools.utilities.idempotency" in sys.modules,
    "parser_engines": sorted(
        m for m in ("py_mini_racer", "mqtt_actions.parsers.javascript",
                    "mqtt_actions.parsers.python") if m in sys.modules
    ),
    "built": sorted(
        m.__name__
        for m in (actions.InsertBucketAction, actions.SmsAction, actions.Condition,
                  actions.RateLimit, lifecycle.Connected, payload.DataPoint)
        if m.__pydantic_complete__
    ),
}))
"""


def test_importing_the_router_builds_no_actions_lifecycle_or_point_validators() -> None:
    env = {"PYTHONPATH": f"{ROOT / 'layers' / 'core'}:{ROOT}", "PATH": "/usr/bin:/bin"}
    ran = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    # No payload parser engine either: V8 loads only when a device's parser runs.
    assert json.loads(ran.stdout) == {"idempotency": False, "parser_engines": [], "built": []}
