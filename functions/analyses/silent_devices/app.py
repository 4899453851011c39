"""silent_devices: every 5 minutes (a ScheduleV2 event), alerts on devices that have stored no
data for `silent_minutes`, once per silence, and says when they are back.

Which devices: the `devices` list. Scanning the whole bucket table every 5 minutes would read
every stored point (its cost grows with the data) and need dynamodb:Scan; a list costs two small
queries per device and the function can only Query. "Stored data" is what insert_bucket actions
wrote, so give the watched devices such an action.

State: the bucket `_silent_devices` holds, per device (variable = device name, so at most 100
characters), "silent" or "ok", written when it changes. Notices go out before the state is written.

Environment (`ANALYSIS_ENV_<key>` in template.yaml):
  devices         device names, comma-separated (required)
  silent_minutes  minutes without data that count as silent (default 30)
  to_email        addresses, comma-separated (optional)
  to_phone        E.164 numbers, comma-separated (optional)
"""

from __future__ import annotations

from typing import Any

from mqtt_actions.analysis import Context, NotConfiguredError, Scope, analysis

STATE_BUCKET = "_silent_devices"
SILENT, OK = "silent", "ok"


def split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@analysis
def lambda_handler(context: Context, scope: Scope) -> dict[str, Any]:
    devices = split(context.environment.get("devices", ""))
    if not devices:
        msg = "set ANALYSIS_ENV_devices to the devices to watch, comma-separated, in template.yaml"
        raise NotConfiguredError(msg)
    raw_minutes = context.environment.get("silent_minutes", "30")
    try:
        minutes = float(raw_minutes)
    except ValueError:
        msg = f"set ANALYSIS_ENV_silent_minutes to a number (got {raw_minutes!r})"
        raise NotConfiguredError(msg) from None
    cutoff_ms = context.time_ms - int(minutes * 60_000)  # the scheduled time: same on a retry

    states = context.services.bucket(STATE_BUCKET)
    went_silent: list[str] = []
    came_back: list[str] = []
    for device in devices:
        newest = context.services.bucket(device).query(limit=1)
        silent = not newest or int(newest[0]["_time"]) < cutoff_ms
        last = states.query(variable=device, limit=1)
        was_silent = bool(last) and last[0]["value"] == SILENT
        if silent and not was_silent:
            went_silent.append(device)
        elif was_silent and not silent:
            came_back.append(device)

    if went_silent or came_back:
        notify(context, went_silent, came_back, minutes)
        states.insert(
            [{"variable": d, "value": SILENT} for d in went_silent]
            + [{"variable": d, "value": OK} for d in came_back]
        )
    return {"silent": went_silent, "back": came_back}


def notify(context: Context, silent: list[str], back: list[str], minutes: float) -> None:
    lines = [f"No data for {minutes:g} minutes: {', '.join(silent)}"] if silent else []
    lines += [f"Sending again: {', '.join(back)}"] if back else []
    text = "\n".join(lines)
    context.logger.warning("silent devices", extra={"silent": silent, "back": back})
    if emails := split(context.environment.get("to_email", "")):
        subject = f"{len(silent)} silent device(s)" if silent else "Devices sending again"
        context.services.email.send(emails, subject, text)
    if silent and (phones := split(context.environment.get("to_phone", ""))):
        context.services.sms.send(phones, lines[0])
