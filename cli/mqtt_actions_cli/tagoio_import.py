"""TagoIO actions -> an actions file: the pure conversion behind `actions import-tagoio`.

The input is what TagoIO's API returns for actions: a list, one action, or the envelope
`{"status": true, "result": [...]}`. The field names and shapes come from TagoIO's public SDK
types: `ActionInfo` / `ActionCreateInfo`, `ActionType`, `ActionTypeParams` and
`ActionTriggerType` in tago-io/sdk-js `src/modules/Resources/actions.types.ts` and
tago-io/sdk-python `src/tagoio_sdk/modules/Resources/Actions_Types.py`:

    {id, name, active, tags: [{key, value}], description, lock, trigger_when_unlock,
     type: condition | resource | interval | schedule | mqtt_topic | usage_alert
           | condition_geofence,
     trigger: [...],  # per type: {device, variable, is, value, value_type}, {interval}, ...
     action: {type: script {script: [analysis ids]} | notification {subject, message}
                    | notification_run | email {to, subject, message} | sms {to, message}
                    | mqtt {topic, payload, bucket} | post {url, headers}
                    | sms-twilio | whatsapp-twilio | email-sendgrid | email-smtp | queue-sqs}}

The shape of an `mqtt_topic` trigger is not published (TagoIO's MCP server, tago-io/mcp-server
`src/services/actions/tools/create-action.ts`, even says its topic "goes in the mqtt action
object"), so the topic is read from whichever trigger field holds one (`topic`, `mqtt_topic`,
`value`, `topics`). Only `mqtt_topic` actions can move: every other type is reported with what
to do instead. Nothing is dropped silently: each source action gets one report row, and every
converted action is validated with the actions-file rules (`parse_action`) before it is kept.

Pure: no I/O here; the command reads the file and writes the YAML.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from mqtt_actions.actions import ActionsFileError, parse_action
from mqtt_actions.templating import PLACEHOLDERS
from mqtt_actions.topics import InvalidFilterError, validate_filter

__all__ = [
    "CONVERTED",
    "NOT_CONVERTED",
    "WITH_NOTES",
    "ExportError",
    "ImportResult",
    "ReportRow",
    "convert",
    "parse_analysis_map",
    "parse_export",
    "to_yaml",
]

Status = Literal["converted", "converted with notes", "not converted"]
CONVERTED: Final[Status] = "converted"
WITH_NOTES: Final[Status] = "converted with notes"
NOT_CONVERTED: Final[Status] = "not converted"


class ExportError(ValueError):
    """The export cannot be read at all; `line`/`column` point at a JSON syntax error."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(where + message)
        self.line = line
        self.column = column


@dataclass
class ReportRow:
    """What became of one source action."""

    index: int
    tagoio_id: str | None
    name: str
    tagoio_type: str
    action_type: str
    status: Status = CONVERTED
    action_id: str | None = None
    notes: list[str] = field(default_factory=list)
    instead: str | None = None  # what to do, for an action not converted

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tagoio_id": self.tagoio_id,
            "name": self.name,
            "type": self.tagoio_type,
            "action": self.action_type,
            "status": self.status,
            "id": self.action_id,
            "notes": self.notes,
            "instead": self.instead,
        }


@dataclass
class ImportResult:
    actions: list[dict[str, Any]]
    rows: list[ReportRow]
    comments: dict[str, list[str]]  # action id -> comment lines written above it

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for r in self.rows if r.status == s) for s in _STATUSES}


_STATUSES: Final = (CONVERTED, WITH_NOTES, NOT_CONVERTED)


class _Skip(Exception):  # noqa: N818 - a control-flow signal, not an error for the user
    """This action cannot be converted; the message says why, `instead` what to do."""

    def __init__(self, reason: str, instead: str | None = None) -> None:
        super().__init__(reason)
        self.instead = instead


# --- reading the export --------------------------------------------------------------------------


def parse_export(text: str) -> list[object]:
    """The source actions, in order. ExportError (with the JSON error's line and column) when the
    text is not JSON or holds no actions at all."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExportError(
            f"not JSON ({exc.msg}); export the actions as TagoIO's API returns them "
            '(GET /action: a list, or {"status": true, "result": [...]})',
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except RecursionError:
        raise ExportError("the JSON is nested too deeply to be an actions export") from None
    if isinstance(data, dict):
        keys = {_key(k): k for k in data}
        if "status" in keys and data[keys["status"]] is False:
            message = data.get(keys.get("message", ""), "no message")
            raise ExportError(f"this is a TagoIO error answer, not actions: {message!r}")
        if "result" in keys and not {"action", "trigger", "type"} & set(keys):
            data = data[keys["result"]]  # the API's envelope
        else:
            data = [data]  # one action
    if not isinstance(data, list):
        raise ExportError(
            f"expected a list of actions, one action, or {{status, result}}; got {_kind(data)}"
        )
    return data


def parse_analysis_map(pairs: Iterable[str]) -> dict[str, str]:
    """`ID=NAME` pairs (repeatable flag); ValueError naming the bad one."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        source, sep, name = pair.partition("=")
        if not sep or not source.strip() or not name.strip():
            raise ValueError(
                f"--analysis-map {pair!r}: write TAGOIO_ANALYSIS_ID=ANALYSIS_NAME, "
                "e.g. --analysis-map 6299f0b1c72f2f00181d8b3c=forward"
            )
        mapping[source.strip()] = name.strip()
    return mapping


# --- converting ----------------------------------------------------------------------------------

# Metadata of a TagoIO action that has no use here (kept in the YAML comment where it helps).
_KNOWN: Final = frozenset(
    {
        "id",
        "name",
        "active",
        "tags",
        "type",
        "trigger",
        "action",
        "description",
        "profile",
        "lock",
        "trigger_when_unlock",
        "last_triggered",
        "created_at",
        "updated_at",
    }
)
_TOPIC_KEYS: Final = ("topic", "mqtt_topic", "value", "topics", "topic_filter")
# TagoIO's "insert into the device's bucket" has no published ActionTypeParams entry; these are
# the names it goes by in exports and in TagoIO's own UI wording.
_STORE_TYPES: Final = frozenset(
    {"tagoio", "insert_bucket", "insert", "bucket", "device_bucket", "insert_to_bucket", "store"}
)
_SCHEDULE_TEMPLATE: Final = """\
MyAnalysis:            # functions/analyses/<name>/, as the sample analyses in template.yaml
  Type: AWS::Serverless::Function
  Properties:
    Events:
      {event}:
        Type: ScheduleV2
        Properties:
          ScheduleExpression: {expression}{timezone}
          Input: '{{"analysis": "<name>", "trigger": {{"type": "schedule", "traceid": "<aws.scheduler.execution-id>", "time": "<aws.scheduler.scheduled-time>"}}}}'"""  # noqa: E501
_CONDITION_OPS: Final = {
    "<": "<",
    ">": ">",
    "=": "==",
    "==": "==",
    "!": "!=",
    "!=": "!=",
    "<=": "<=",
    ">=": ">=",
    "*": "exists",
}


def convert(items: Sequence[object], analysis_map: Mapping[str, str]) -> ImportResult:
    """Every source action, converted or reported. Converted ones pass `parse_action`."""
    actions: list[dict[str, Any]] = []
    rows: list[ReportRow] = []
    comments: dict[str, list[str]] = {}
    used: set[str] = set()
    for index, item in enumerate(items):
        row, action, comment = _one(index, item, analysis_map, used)
        rows.append(row)
        if action is not None:
            actions.append(action)
            comments[action["id"]] = comment
    return ImportResult(actions=actions, rows=rows, comments=comments)


def _one(
    index: int, item: object, analysis_map: Mapping[str, str], used: set[str]
) -> tuple[ReportRow, dict[str, Any] | None, list[str]]:
    if not isinstance(item, dict):
        row = ReportRow(index, None, f"#{index + 1}", "?", "?", NOT_CONVERTED)
        row.notes.append(f"not an action object (got {_kind(item)})")
        row.instead = "export the actions with TagoIO's API (GET /action)"
        return row, None, []
    src = {_key(k): v for k, v in item.items()}
    raw_action = src.get("action")
    act = {_key(k): v for k, v in raw_action.items()} if isinstance(raw_action, dict) else {}
    tagoio_id = _text(src.get("id")) or None
    name = _text(src.get("name")).strip() or tagoio_id or f"TagoIO action {index + 1}"
    row = ReportRow(
        index,
        tagoio_id,
        name,
        _word(src.get("type")) or "?",
        _word(act.get("type")) or "?",
    )
    row.notes += [f"ignored unknown field {k!r}" for k in src if k not in _KNOWN]
    try:
        action = _convert(src, act, row, analysis_map)
    except _Skip as skip:
        row.status = NOT_CONVERTED
        row.notes.insert(0, str(skip))
        row.instead = skip.instead
        return row, None, []
    action = {"id": _unique_slug(name, index, used), "name": name, **action}
    try:
        parse_action(action, index=index)
    except ActionsFileError as exc:  # e.g. an e-mail address the actions file refuses
        row.status = NOT_CONVERTED
        problems = [p.split(": ", 1)[-1] for p in exc.problems]
        row.notes.insert(0, "refused by the actions-file rules: " + "; ".join(problems))
        row.instead = "fix the field in the export (or write this action by hand) and import again"
        return row, None, []
    used.add(action["id"])
    row.action_id = action["id"]
    if row.notes:
        row.status = WITH_NOTES
    return row, action, _comment(src, tagoio_id, name)


def _convert(
    src: Mapping[str, Any], act: Mapping[str, Any], row: ReportRow, amap: Mapping[str, str]
) -> dict[str, Any]:
    kind = row.tagoio_type
    if kind != "mqtt_topic":
        raise _Skip(*_why_not(kind, src.get("trigger")))
    topics = _topics(src.get("trigger"), row)
    if not topics:
        raise _Skip(
            "no MQTT topic found in 'trigger' (looked for "
            + ", ".join(_TOPIC_KEYS)
            + "); TagoIO does not publish this trigger's shape",
            'add the topic to the export as trigger: [{"topic": "sensors/+"}], or write the '
            "action by hand",
        )
    enabled = src.get("active", True)
    if not isinstance(enabled, bool):
        row.notes.append(f"'active' is {enabled!r}, not true/false; imported as enabled")
        enabled = True
    base: dict[str, Any] = {"topics": topics}
    if not enabled:
        base["enabled"] = False
    if not act:
        raise _Skip("no 'action' object: nothing says what the action does")
    return base | _action_fields(act, row, amap)


def _action_fields(
    act: Mapping[str, Any], row: ReportRow, amap: Mapping[str, str]
) -> dict[str, Any]:
    kind = row.action_type
    if kind == "script":
        return _script(act, row, amap)
    if kind in ("email", "email-sendgrid", "email-smtp"):
        if kind != "email":
            row.notes.append(
                f"{kind}: sent through SES from the stack's EmailSender instead "
                "(its 'from' and secret are not used)"
            )
        to = _split(act.get("to"))
        if not to:
            raise _Skip("the e-mail has no 'to' address")
        subject = _template(act, "subject", row) or row.name
        if "subject" not in act or not _text(act.get("subject")).strip():
            row.notes.append(f"no subject in TagoIO; using the action name {row.name!r}")
        message = _template(act, "message", row)
        if not message:
            raise _Skip("the e-mail has no 'message' (body)")
        return {"type": "email", "to": to, "subject": " ".join(subject.split()), "message": message}
    if kind in ("sms", "sms-twilio"):
        if kind != "sms":
            row.notes.append("sms-twilio: sent through SNS instead (its Twilio secrets not used)")
        numbers = [_phone(n, row) for n in _split(act.get("to"))]
        if not numbers:
            raise _Skip("the SMS has no 'to' number")
        message = _template(act, "message", row)
        if not message:
            raise _Skip("the SMS has no 'message'")
        return {"type": "sms", "to": numbers, "message": message}
    if kind == "mqtt":
        topic = _template(act, "topic", row).strip()
        if not topic:
            raise _Skip("the mqtt action has no 'topic' to publish to")
        out: dict[str, Any] = {"type": "mqtt_publish", "topic": topic}
        payload = _template(act, "payload", row)
        out["payload"] = payload if payload else "$PAYLOAD$"
        if not payload:
            row.notes.append(
                "no payload in TagoIO; republishing the message as it came ($PAYLOAD$)"
            )
        if receiver := _text(act.get("bucket") or act.get("device")):
            row.notes.append(
                f"TagoIO delivered only to device {receiver!r}; "
                "here every subscriber of the topic receives it"
            )
        for flag in ("qos", "retain"):
            if flag in act:
                out[flag] = act[flag]
        return out
    if kind == "post":
        return _post(act, row)
    if kind in _STORE_TYPES:
        target = _text(act.get("device") or act.get("bucket"))
        if target:
            row.notes.append(
                f"TagoIO stored into device {target!r} (a TagoIO id); here into the bucket of the "
                "device that published ($DEVICE$): set 'device' if that is not what you want"
            )
        return {"type": "insert_bucket"}
    if kind in ("notification", "notification_run"):
        raise _Skip(
            f"'{kind}' is a TagoIO in-app notification; there is no app here",
            "use an email or sms action (or a webhook to your chat tool) on the same topic",
        )
    if kind == "whatsapp-twilio":
        raise _Skip(
            "WhatsApp through Twilio has no counterpart",
            "use a webhook action to Twilio's API, or an sms action",
        )
    if kind == "queue-sqs":
        raise _Skip(
            "queue-sqs has no counterpart action",
            "use a webhook action, or an analysis that sends to your queue",
        )
    raise _Skip(
        f"unknown action type {row.action_type!r}",
        "one of script, email, sms, mqtt, post converts; write this one by hand",
    )


def _script(act: Mapping[str, Any], row: ReportRow, amap: Mapping[str, str]) -> dict[str, Any]:
    ids = act.get("script")
    if isinstance(ids, str):
        ids = [ids]
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise _Skip("the script action has no analysis ids in 'script'")
    ids = [i.strip() for i in ids]
    missing = [i for i in ids if i not in amap]
    if missing:
        flags = " ".join(f"--analysis-map {i}=NAME" for i in missing)
        raise _Skip(
            f"analysis {', '.join(map(repr, missing))} is not mapped to an analysis here",
            f"port it (see `mqtt_actions.tagoio`) and import again with {flags} (and --force "
            "when -o names the file this import wrote: it is not overwritten otherwise)",
        )
    return {"type": "run_analysis", "analyses": list(dict.fromkeys(amap[i] for i in ids))}


def _post(act: Mapping[str, Any], row: ReportRow) -> dict[str, Any]:
    url = _text(act.get("url")).strip()
    if not url:
        raise _Skip("the post action has no 'url'")
    out: dict[str, Any] = {"type": "webhook", "url": url}
    headers = act.get("headers") or {}
    if isinstance(headers, list):  # [{key, value}] as TagoIO's UI stores tags and env
        headers = {_text(h.get("key")): h.get("value") for h in headers if isinstance(h, dict)}
    if not isinstance(headers, dict):
        raise _Skip(f"'headers' must be an object of name: value, got {_kind(headers)}")
    kept = {str(k).strip(): _text(v) for k, v in headers.items() if str(k).strip()}
    if kept:
        out["headers"] = kept
    if url.lower().startswith("http://"):
        out["allow_http"] = True
        row.notes.append("the URL is http: kept with allow_http: true; switch it to https")
    return out


def _why_not(kind: str, trigger: object) -> tuple[str, str]:
    first = trigger[0] if isinstance(trigger, list) and trigger else {}
    first = {_key(k): v for k, v in first.items()} if isinstance(first, dict) else {}
    if kind in ("schedule", "interval"):
        expression, tz = _schedule_expression(kind, first)
        snippet = _SCHEDULE_TEMPLATE.format(
            event="Every" if kind == "interval" else "OnSchedule",
            expression=expression,
            timezone=f"\n          ScheduleExpressionTimezone: {tz}" if tz else "",
        )
        return (
            f"{'an' if kind == 'interval' else 'a'} '{kind}' action runs on time, not on a "
            "message; actions here run on MQTT topics",
            "port its analysis and give it a ScheduleV2 event in template.yaml:\n" + snippet,
        )
    if kind == "condition":
        op = _CONDITION_OPS.get(_text(first.get("is")).strip())
        variable = _text(first.get("variable")) or "VARIABLE"
        when = f"{{variable: {variable}, op: {json.dumps(op or '>')}"
        when += "}" if op == "exists" else f", value: {json.dumps(_text(first.get('value')))}}}"
        return (
            "a 'condition' action watches a device's variable, not a topic",
            f"put `when: [{when}]` on an action for the topics that device publishes to",
        )
    reasons = {
        "resource": (
            "a 'resource' action reacts to TagoIO platform events (device created, ...)",
            "no counterpart; device connects and disconnects are in `mqtt-actions inspect`",
        ),
        "usage_alert": (
            "a 'usage_alert' action watches TagoIO account usage",
            "use AWS Budgets or a CloudWatch alarm on the stack's metrics",
        ),
        "condition_geofence": (
            "a 'condition_geofence' action has no counterpart",
            "run an analysis on the device's topic that checks the location point",
        ),
    }
    return reasons.get(
        kind, (f"unknown action type {kind!r}", "only mqtt_topic actions convert; write by hand")
    )


def _schedule_expression(kind: str, trigger: Mapping[str, Any]) -> tuple[str, str]:
    """EventBridge Scheduler's rate(...)/cron(...) for a TagoIO interval or cron trigger."""
    if kind == "interval":
        interval = _text(trigger.get("interval")).lower()
        match = re.fullmatch(r"\s*(\d+)\s*([a-z]+?)s?\s*", interval) if len(interval) < 64 else None
        units = {"minute": "minute", "hour": "hour", "day": "day", "week": "day"}
        if match and match[2] in units:
            n = int(match[1]) * (7 if match[2] == "week" else 1)
            unit = units[match[2]]
            return f"rate({n} {unit}{'s' if n != 1 else ''})", ""
        return "rate(5 minutes)  # TagoIO said " + json.dumps(_text(trigger.get("interval"))), ""
    fields = _text(trigger.get("cron")).split()
    tz = _text(trigger.get("timezone")).strip()
    if len(fields) == 5:  # minute hour day-of-month month day-of-week
        minute, hour, dom, month, dow = fields
        if dow == "*":
            dow = "?"
        else:
            dom = "?"
        return f"cron({minute} {hour} {dom} {month} {dow} *)", tz
    return "cron(0 8 * * ? *)  # TagoIO said " + json.dumps(" ".join(fields)), tz


def _topics(trigger: object, row: ReportRow) -> list[str]:
    entries = trigger if isinstance(trigger, list) else [trigger] if trigger else []
    found: list[str] = []
    for entry in entries:
        values: list[object] = []
        if isinstance(entry, str):
            values = [entry]
        elif isinstance(entry, dict):
            fields = {_key(k): v for k, v in entry.items()}
            for key in _TOPIC_KEYS:
                value = fields.get(key)
                if isinstance(value, str) and value.strip():
                    values = [value]
                    break
                if isinstance(value, list) and value:
                    values = list(value)
                    break
            extra = [k for k in fields if k not in _TOPIC_KEYS]
            if "device" in fields or "tag_key" in fields:
                row.notes.append(
                    "TagoIO limited this trigger to some devices "
                    f"({', '.join(f'{k}={fields[k]!r}' for k in extra)}); here it runs for every "
                    "device publishing on the topic: narrow the topic or add a `when`"
                )
        for value in values:
            topic = _text(value).strip()
            if topic.startswith("$share/"):
                row.notes.append(f"dropped the shared-subscription prefix of {topic!r}")
                topic = topic.split("/", 2)[-1] if topic.count("/") >= 2 else topic
            try:
                validate_filter(topic)
            except InvalidFilterError as exc:
                raise _Skip(
                    f"trigger topic {topic!r} is not a valid MQTT topic filter: {exc}",
                    "fix the topic in the export and import again",
                ) from None
            if topic not in found:
                found.append(topic)
    return found


# --- placeholders --------------------------------------------------------------------------------

_ANY_PLACEHOLDER: Final = re.compile(r"\$([A-Za-z_]+)\$")


def _template(act: Mapping[str, Any], key: str, row: ReportRow) -> str:
    """A text field with TagoIO placeholders: supported ones pass, case fixed; others listed."""
    value = act.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        value = (
            json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else str(value)
        )

    def fix(match: re.Match[str]) -> str:
        name = match[1]
        if name in PLACEHOLDERS:
            return match[0]
        if name.upper() in PLACEHOLDERS:
            row.notes.append(f"{key}: ${name}$ written as ${name.upper()}$")
            return f"${name.upper()}$"
        hint = (
            " (use $DEVICE$: a device's bucket is named after it)"
            if name.upper()
            in (
                "BUCKET",
                "DEVICE_ID",
                "ORIGIN",
            )
            else ""
        )
        row.notes.append(f"{key}: placeholder ${name}$ is not supported and stays as written{hint}")
        return match[0]

    return _ANY_PLACEHOLDER.sub(fix, value)


# --- small helpers -------------------------------------------------------------------------------


def _key(key: object) -> str:
    return str(key).strip().lower()


def _word(value: object) -> str:
    return _text(value).strip().lower().replace(" ", "_") if value is not None else ""


def _text(value: object) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _kind(value: object) -> str:
    return {dict: "an object", list: "a list", str: "text", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _split(value: object) -> list[str]:
    """TagoIO's `to` is one text, comma separated; a list is accepted too."""
    parts = value if isinstance(value, list) else re.split(r"[,;]", _text(value))
    return [p for p in (_text(x).strip() for x in parts) if p]


def _phone(number: str, row: ReportRow) -> str:
    compact = re.sub(r"[\s().-]", "", number)
    if compact != number:
        row.notes.append(f"phone {number!r} written as {compact!r}")
    return compact


def _unique_slug(name: str, index: int, used: set[str]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:56].strip("-")
    slug = slug or f"tagoio-action-{index + 1}"
    candidate, n = slug, 2
    while candidate in used:
        candidate, n = f"{slug}-{n}", n + 1
    return candidate


def _comment(src: Mapping[str, Any], tagoio_id: str | None, name: str) -> list[str]:
    lines = [f"TagoIO action {tagoio_id or '(no id)'}: {name}"]
    description = _text(src.get("description")).strip()
    if description:
        lines.append(description)
    tags = src.get("tags")
    if isinstance(tags, list) and tags:
        pairs = [
            f"{_text(t.get('key'))}={_text(t.get('value'))}" for t in tags if isinstance(t, dict)
        ]
        lines.append("tags: " + ", ".join(pairs))
    return [" ".join(_CONTROL.sub(" ", line).split()) for line in lines]


_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def to_yaml(result: ImportResult, source: str, output: str | None = None) -> str:
    """The actions file: a header, then each action under a comment naming its TagoIO source."""
    import yaml  # the CLI has PyYAML; kept out of import time

    counts = result.counts()
    head = [
        f"# Converted from TagoIO actions in {source} by `mqtt-actions actions import-tagoio`.",
        f"# {counts[CONVERTED]} converted, {counts[WITH_NOTES]} converted with notes, "
        f"{counts[NOT_CONVERTED]} not converted (see the import report).",
        f"# Apply with: mqtt-actions actions apply {output or 'THIS_FILE'}",
        "actions:",
    ]
    if not result.actions:
        head[-1] = "actions: []"
    body: list[str] = []
    for action in result.actions:
        body += [f"  # {line}" for line in result.comments.get(action["id"], [])]
        text = yaml.safe_dump([action], sort_keys=False, allow_unicode=True, width=100)
        body.append(textwrap.indent(text.rstrip("\n"), "  "))
    return "\n".join(head + body) + "\n"
