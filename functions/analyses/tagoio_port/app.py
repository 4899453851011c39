"""tagoio_port: a TagoIO Python analysis moved here with two edits, marked EDIT 1 and EDIT 2.

Ported from the pattern of TagoIO's public Python examples: tago-io/analysis-example-mqttpush-py
(find a variable in `scope`, publish with `Services({"token": context.token}).MQTT.publish({
"bucket", "message", "topic", "options"})`) and tago-io/analysis-snippets
`analysis/python-rt2025/send-notification.py` (settings read from `context.environment`, a list of
`{"key", "value"}`). It reads a value from the scope, compares it with a threshold and, above it,
publishes an alert and e-mails it. Apart from the two edits it is TagoIO code: no import of this
project's own SDK, and `context.log` instead of a logger.

Started by a run_analysis action, e.g. `{id: hot, topics: ["tago/+/temperature"],
type: run_analysis, analyses: [tagoio_port]}` (`actions import-tagoio --analysis-map
<TagoIO analysis id>=tagoio_port` writes it from a TagoIO script action).

Environment (`ANALYSIS_ENV_<key>` in template.yaml, TagoIO's analysis environment variables):
  variable   the variable to read (default temperature)
  threshold  publish and e-mail when the value is above it (required)
  email      addresses, comma-separated (optional: without it, only the publish)
"""

from __future__ import annotations

import json
from typing import Any

from mqtt_actions.tagoio import Analysis, Services, TagoContext  # EDIT 1: was tagoio_sdk


def env_value(environment: list[dict[str, Any]], key: str, default: str | None = None) -> Any:
    found = [item["value"] for item in environment if item["key"] == key]
    if found:
        return found[0]
    if default is None:
        raise ValueError(f"Missing value: '{key}' not found in environment variables")
    return default


def my_analysis(context: TagoContext, scope: list[dict[str, Any]]) -> None:
    if not scope:
        context.log("This analysis must be triggered by an action with data.")
        return
    variable = env_value(context.environment, "variable", "temperature")
    threshold = float(env_value(context.environment, "threshold"))

    readings = [point for point in scope if point.get("variable") == variable]
    if not readings:
        context.log(f"Couldn't find the variable {variable} in the scope.")
        return
    reading = readings[0]
    value = float(reading["value"])
    if value <= threshold:
        context.log(f"{variable} = {value}: not above {threshold}")
        return

    device = reading["device"]
    unit = reading.get("unit", "")
    alert = {"variable": f"{variable}_alert", "value": value, "unit": unit, "threshold": threshold}
    services = Services({"token": context.token})
    result = services.MQTT.publish(
        {
            "bucket": device,
            "message": json.dumps(alert),
            "topic": f"alerts/{device}/{variable}",
            "options": {"retain": False, "qos": 1},
        }
    )
    context.log(result)

    emails = env_value(context.environment, "email", "")
    if emails:
        services.email.send(
            {
                "to": emails,
                "subject": f"{device}: {variable} above {threshold:g}",
                "message": f"{device} reported {variable} = {value:g}{unit}, above {threshold:g}.",
            }
        )


# EDIT 2: was `Analysis({"token": "MY-ANALYSIS-TOKEN-HERE"}).init(my_analysis)`, which blocks;
# here `init` returns the Lambda handler, named as template.yaml's Handler says.
lambda_handler = Analysis({"token": "MY-ANALYSIS-TOKEN-HERE"}).init(my_analysis)
