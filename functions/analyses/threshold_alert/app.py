"""threshold_alert: an e-mail and an SMS when a reading rises above a threshold, once per crossing.

The device's bucket remembers the state: `_alert_<variable>` is "above" once an alert went out and
"below" once the value is back at or under `threshold - hysteresis`, so a sensor that stays hot
alerts once, and one hovering around the threshold does not alert on every message.
Alerts go out before the state is written: a failure is retried and alerts again (at least once),
never silently lost.

Environment (`ANALYSIS_ENV_<key>` in template.yaml; the starting event's environment wins):
  variable    the variable to watch (default temperature)
  threshold   alert when the value goes above it (required)
  hysteresis  how far below the threshold the value must fall to re-arm (default 0)
  to_email    addresses, comma-separated (optional)
  to_phone    E.164 numbers, comma-separated (optional)
"""

from __future__ import annotations

from typing import Any

from mqtt_actions.analysis import Context, NotConfiguredError, Scope, analysis
from mqtt_actions.conditions import as_number

ABOVE, BELOW = "above", "below"


def setting(context: Context, key: str, default: str | None = None) -> float:
    raw = context.environment.get(key, default)
    value = as_number(raw)
    if value is None:
        msg = f"set ANALYSIS_ENV_{key} to a number in template.yaml (got {raw!r})"
        raise NotConfiguredError(msg)
    return value


def split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@analysis
def lambda_handler(context: Context, scope: Scope) -> dict[str, Any]:
    variable = context.environment.get("variable", "temperature")
    threshold = setting(context, "threshold")
    rearm_at = threshold - setting(context, "hysteresis", "0")
    device = context.trigger.device
    if not device:
        context.logger.warning("no device in the trigger; nothing to check")
        return {"alerts": 0}

    bucket = context.services.bucket(device)
    state_variable = f"_alert_{variable}"
    last = bucket.query(variable=state_variable, limit=1)
    state = str(last[0]["value"]) if last else BELOW
    initial, alerts = state, 0

    for point in scope:
        value = as_number(point.get("value")) if point.get("variable") == variable else None
        if value is None:
            continue
        if state == BELOW and value > threshold:
            alert(context, device, variable, value, threshold, point.get("unit") or "")
            state, alerts = ABOVE, alerts + 1
        elif state == ABOVE and value <= rearm_at:
            state = BELOW

    if state != initial:
        bucket.insert(
            {"variable": state_variable, "value": state, "metadata": {"threshold": threshold}}
        )
    return {"alerts": alerts, "state": state}


def alert(
    context: Context, device: str, variable: str, value: float, threshold: float, unit: str
) -> None:
    text = f"{device}: {variable} is {value:g}{unit}, above {threshold:g}{unit}"
    context.logger.warning("threshold crossed", extra={"variable": variable, "value": value})
    if emails := split(context.environment.get("to_email", "")):
        context.services.email.send(emails, f"Alert: {device} {variable} above {threshold:g}", text)
    if phones := split(context.environment.get("to_phone", "")):
        context.services.sms.send(phones, text)
