"""forward: converts Fahrenheit readings to Celsius and republishes each one, retained, to
`processed/<device>/<variable>` (a dashboard subscribing later gets the latest value at once).
With `then`, it also starts other analyses with the converted points (the analysis trigger).

Started by a run_analysis action, e.g. `{id: to-celsius, topics: ["sensors/+/temperature"],
type: run_analysis, analyses: [forward]}`.

Environment (`ANALYSIS_ENV_<key>` in template.yaml; the starting event's environment wins):
  variable  the Fahrenheit variable (default temperature_f)
  output    the Celsius variable (default: variable with `_f` replaced by `_c`)
  then      analyses to start with the converted points, comma-separated (optional)
"""

from __future__ import annotations

from typing import Any

from mqtt_actions.analysis import Context, Scope, analysis
from mqtt_actions.conditions import as_number


def fahrenheit_to_celsius(fahrenheit: float) -> float:
    return round((fahrenheit - 32) * 5 / 9, 2)


def celsius_name(variable: str) -> str:
    return variable.removesuffix("_f") + "_c"


@analysis
def lambda_handler(context: Context, scope: Scope) -> dict[str, Any]:
    variable = context.environment.get("variable", "temperature_f")
    output = context.environment.get("output") or celsius_name(variable)
    device = context.trigger.device
    if not device:
        context.logger.warning("no device in the trigger; nothing to forward")
        return {"forwarded": 0}

    converted: list[dict[str, Any]] = []
    for point in scope:
        fahrenheit = as_number(point.get("value")) if point.get("variable") == variable else None
        if fahrenheit is None:
            continue
        celsius: dict[str, Any] = {
            "variable": output,
            "value": fahrenheit_to_celsius(fahrenheit),
            "unit": "°C",
        }
        for key in ("time", "group", "location"):
            if key in point:
                celsius[key] = point[key]
        context.services.mqtt.publish(f"processed/{device}/{output}", celsius, qos=1, retain=True)
        converted.append(celsius)

    nexts = [name.strip() for name in context.environment.get("then", "").split(",")]
    for name in filter(None, nexts):
        if converted:
            context.services.analysis.run(name, converted)
    context.logger.info("forwarded", extra={"points": len(converted), "variable": output})
    return {"forwarded": len(converted)}
