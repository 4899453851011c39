"""`mqtt-actions actions apply|list|rm|test|import-tagoio`: manage the actions, try them without
sending, and convert TagoIO's."""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mqtt_actions.actions import Action, ActionsFileError, effective_rate_limit
from mqtt_actions.adapters.actions_store import PK, DynamoActionsStore
from mqtt_actions.dryrun import ActionPreview, DryRunReport, Effect, dry_run
from mqtt_actions.events import RouterEvent
from mqtt_actions.topics import InvalidTopicError, validate_topic
from mqtt_actions_cli.actions_file import load_actions_file
from mqtt_actions_cli.common import add_command
from mqtt_actions_cli.errors import EXIT_OK, UsageError
from mqtt_actions_cli.output import emit, plural, table
from mqtt_actions_cli.router_env import router_environment
from mqtt_actions_cli.target import Target

MAX_FILE_BYTES = 5 * 1024 * 1024
TEST_DEVICE = "test-device"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    actions = subparsers.add_parser(
        "actions",
        help="apply, list, remove and dry-run the actions",
        description=(
            "Actions attach to MQTT topic filters and run for every message that matches:\n"
            "insert_bucket, run_analysis, sms, email, mqtt_publish, webhook.\n"
            "They live in the stack's actions table; keep them in a YAML or JSON file and\n"
            "`actions apply` it (see examples/actions.yaml and the README's reference)."
        ),
        epilog="run `mqtt-actions actions COMMAND --help` for each command",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = actions.add_subparsers(title="actions commands", metavar="COMMAND", required=True)

    apply = add_command(
        sub,
        "apply",
        summary="validate a file of actions and store them",
        description=(
            "Validate FILE (YAML or JSON, `actions:` list) as a whole, then store its actions:\n"
            "new ids are created, changed ones updated, identical ones left alone (rewritten\n"
            "as they are only when stored without a valid fingerprint). A file with\n"
            "any problem is refused whole, every problem listed with the action id and field,\n"
            "and nothing is stored. Actions stored earlier but absent from FILE are kept,\n"
            "unless --prune removes them (FILE then is the complete set). Warm routers pick\n"
            "the changes up within ACTIONS_CACHE_SECONDS (30 s by default); the local stack's\n"
            "router at the next message (a change marker)."
        ),
        examples="""
  mqtt-actions actions apply examples/actions.yaml
  mqtt-actions actions apply actions.yaml --prune            # also remove actions not in the file
  mqtt-actions actions apply actions.json --stack mqtt-actions-prod --json""",
    )
    apply.add_argument("file", metavar="FILE", help="the actions file (YAML or JSON), - for stdin")
    apply.add_argument(
        "--prune",
        action="store_true",
        help="remove stored actions whose id is not in FILE (FILE becomes the complete set)",
    )
    apply.set_defaults(func=run_apply)

    listing = add_command(
        sub,
        "list",
        summary="the stored actions",
        description=(
            "Show the stored actions: id, type, topic filters, enabled, conditions (when) and\n"
            "rate limit (sms and email default to 10 per 60 s). --json prints each action's\n"
            "full configuration, which `actions apply` accepts back."
        ),
        examples="""
  mqtt-actions actions list
  mqtt-actions actions list --json > backup.json   # {"actions": [...]}: apply-able""",
    )
    listing.set_defaults(func=run_list)

    remove = add_command(
        sub,
        "rm",
        summary="remove stored actions by id",
        description=(
            "Remove the actions with these ids. If any id is not stored, nothing is removed\n"
            "and the error names the unknown ids."
        ),
        examples="""
  mqtt-actions actions rm sms-alarm
  mqtt-actions actions rm store-temperatures forecast --stack mqtt-actions-prod""",
    )
    remove.add_argument("ids", metavar="ID", nargs="+", help="an action id (see `actions list`)")
    remove.set_defaults(func=run_rm)

    test = add_command(
        sub,
        "test",
        summary="dry run: which actions fire for a message, and what they would send",
        description=(
            "DRY RUN: route one message through the router's real logic (topic matching,\n"
            "conditions, placeholders, loop guard) with the stored actions, or FILE's, and\n"
            "show for each matching action its outcome and what it WOULD send: the rendered\n"
            "SMS, e-mail, MQTT message, webhook body, bucket rows or analysis event.\n"
            "Nothing is sent, stored, published, invoked or posted. Rate limits are not\n"
            "consulted. With --file and no --stack nothing is contacted at all; analyses are\n"
            "checked against the deployed router (--stack) or template.yaml."
        ),
        examples="""
  mqtt-actions actions test home/kitchen/temperature \\
      --payload '{"variable":"temperature","value":31}'
  mqtt-actions actions test alarm/door --payload open --device door-01
  mqtt-actions actions test home/x/temperature --file examples/actions.yaml --json \\
      --payload '[{"variable":"temperature","value":40}]'""",
    )
    test.add_argument("topic", metavar="TOPIC", help="the topic the message arrives on")
    test.add_argument(
        "--payload",
        metavar="P",
        default="",
        help="the message payload (JSON or any text; - for stdin; default empty)",
    )
    test.add_argument(
        "--device",
        metavar="D",
        default=TEST_DEVICE,
        help=f"the publishing device / client id (default {TEST_DEVICE})",
    )
    test.add_argument("--file", metavar="F", help="use the actions in F instead of the stored ones")
    test.set_defaults(func=run_test)

    tagoio = add_command(
        sub,
        "import-tagoio",
        summary="convert TagoIO actions (an API export) into an actions file",
        description=(
            "Convert the actions of a TagoIO account into an actions file that `actions apply`\n"
            "accepts. FILE holds them as TagoIO's API returns them (GET /action): a JSON list,\n"
            'one action, or {"status": true, "result": [...]}.\n'
            "\n"
            "Only MQTT-topic actions can move; each keeps its TagoIO name, gets an id made of\n"
            "it (unique), and a comment with its TagoIO id. Trigger topic -> topics, active ->\n"
            "enabled, email -> email (a comma-separated 'to' becomes a list), sms -> sms, mqtt ->\n"
            "mqtt_publish, post -> webhook (headers kept), script -> run_analysis (each TagoIO\n"
            "analysis id needs --analysis-map ID=NAME), store in the device's bucket ->\n"
            "insert_bucket. Placeholders we support pass; others are listed per action.\n"
            "\n"
            "The report lists every source action: converted, converted with notes, or not\n"
            "converted with why and what to do instead (a schedule -> a ScheduleV2 analysis,\n"
            "with the template snippet). Nothing is dropped silently. Without -o the YAML goes\n"
            "to stdout and the report to stderr. Exit 0 when the file was written, 2 when FILE\n"
            "cannot be read (a JSON error names its line and column)."
        ),
        examples="""
  mqtt-actions actions import-tagoio tagoio-actions.json -o actions.yaml
  mqtt-actions actions import-tagoio export.json -o actions.yaml \\
      --analysis-map 6470f2a1c72f2f00181d0001=forward --analysis-map 6470f2a1c72f2f00181d0002=report
  mqtt-actions actions import-tagoio export.json --json > report.json   # YAML inside the JSON
  mqtt-actions actions apply actions.yaml                                 # then apply it""",
        target=False,
    )
    tagoio.add_argument("file", metavar="FILE", help="TagoIO actions as JSON, - for stdin")
    tagoio.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="write the actions file here (refused if it exists, unless --force)",
    )
    tagoio.add_argument(
        "--analysis-map",
        metavar="ID=NAME",
        action="append",
        default=[],
        help="run analysis NAME (functions/analyses/NAME) where TagoIO ran analysis ID; repeat it",
    )
    tagoio.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    tagoio.set_defaults(func=run_import_tagoio)


# ---------------------------------------------------------------------------- helpers


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    file = Path(path)
    try:
        if file.stat().st_size > MAX_FILE_BYTES:
            raise UsageError(f"{path} is larger than {MAX_FILE_BYTES // 1024 // 1024} MB")
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no file {path!r}", hint="check the path") from None
    except IsADirectoryError:
        raise UsageError(f"{path!r} is a directory", hint="give the actions file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _load_file(path: str) -> list[Action]:
    source = "stdin" if path == "-" else path
    try:
        return load_actions_file(_read(path), source=source)
    except ActionsFileError as exc:
        raise UsageError(
            f"{source}: {plural(len(exc.problems), 'problem')}; the file is refused as a whole "
            "and nothing was stored",
            problems=exc.problems,
            hint="fix each problem listed and apply again",
        ) from None


def _store(target: Target) -> DynamoActionsStore:
    return DynamoActionsStore(target.output("ActionsTableName"), target.client("dynamodb"))


def _stored_ids(target: Target) -> list[str]:
    """Every stored action id, including rows that no longer validate (store.load skips those)."""
    client = target.client("dynamodb")
    kwargs: dict[str, Any] = {
        "TableName": target.output("ActionsTableName"),
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": PK}},
        "ProjectionExpression": "sk",
    }
    ids: list[str] = []
    while True:
        page = client.query(**kwargs)
        ids += [item["sk"]["S"] for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return ids
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _config(action: Action) -> dict[str, Any]:
    return action.model_dump(mode="json")


# ---------------------------------------------------------------------------- apply


def run_apply(args: argparse.Namespace) -> int:
    actions = _load_file(args.file)  # validated whole before anything is contacted
    target = args.get_target()
    store = _store(target)
    stored = {a.id: a for a in store.load()}
    created = [a for a in actions if a.id not in stored]
    updated = [a for a in actions if a.id in stored and _config(stored[a.id]) != _config(a)]
    unchanged = [a for a in actions if a.id in stored and _config(stored[a.id]) == _config(a)]
    # Unchanged, but stored without a valid mark (an older version, or these rules changed):
    # rewritten as they are, so the router loads them without validating them again.
    remarked = [a for a in unchanged if a.id in store.unmarked]
    store.put_all([*created, *updated, *remarked])
    removed: list[str] = []
    if args.prune:
        keep = {a.id for a in actions}
        removed = [i for i in _stored_ids(target) if i not in keep and store.delete(i)]
    kept = sorted(set(stored) - {a.id for a in actions} - set(removed))
    data = {
        "file": args.file,
        "target": target.describe(),
        "created": [a.id for a in created],
        "updated": [a.id for a in updated],
        "unchanged": [a.id for a in unchanged],
        "remarked": [a.id for a in remarked],
        "removed": removed,
        "not_in_file": kept,
    }

    def render() -> str:
        counts = ", ".join(
            [
                f"{len(created)} created",
                f"{len(updated)} updated",
                f"{len(unchanged)} unchanged",
                f"{len(removed)} removed",
            ]
        )
        lines = [f"applied {args.file} to {target.describe()}: {counts}"]
        for word, ids in (("created", data["created"]), ("updated", data["updated"])):
            if ids:
                lines.append(f"  {word:<9} {', '.join(ids)}")
        if removed:
            lines.append(f"  {'removed':<9} {', '.join(removed)}")
        if kept:
            lines.append(
                f"  {'kept':<9} {', '.join(kept)} (stored, not in the file; --prune removes them)"
            )
        if created or updated or removed:
            lines.append(
                "routers pick the changes up within ActionsCacheSeconds "
                "(30 s on AWS by default, at once locally)"
            )
        return "\n".join(lines)

    emit(args, data, render)
    return EXIT_OK


# ---------------------------------------------------------------------------- list


def run_list(args: argparse.Namespace) -> int:
    target = args.get_target()
    actions = sorted(_store(target).load(), key=lambda a: a.id)

    def render() -> str:
        if not actions:
            return (
                f"no actions stored in {target.describe()}; "
                "add some with `mqtt-actions actions apply FILE`"
            )
        rows = [
            (
                a.id,
                a.type,
                ", ".join(a.topics),
                a.enabled,
                _when(a),
                _rate(a),
            )
            for a in actions
        ]
        return table(["id", "type", "topics", "enabled", "when", "rate limit"], rows) + (
            f"\n{plural(len(actions), 'action')}"
        )

    emit(args, {"actions": [_config(a) for a in actions]}, render)
    return EXIT_OK


def _when(action: Action) -> str:
    parts = []
    for c in action.when:
        value = "" if c.op == "exists" else " " + json.dumps(c.value, ensure_ascii=False)
        parts.append(f"{c.variable} {c.op}{value}")
    return " and ".join(parts) or "always"


def _rate(action: Action) -> str:
    limit = effective_rate_limit(action)
    if limit is None:
        return "none"
    text = f"{limit.max} per {limit.per_seconds} s"
    return text if action.rate_limit is not None else f"{text} (default)"


# ---------------------------------------------------------------------------- rm


def run_rm(args: argparse.Namespace) -> int:
    target = args.get_target()
    wanted = list(dict.fromkeys(args.ids))
    stored = _stored_ids(target)
    unknown = [i for i in wanted if i not in set(stored)]
    if unknown:
        raise UsageError(
            f"no stored action with id {', '.join(unknown)}; nothing was removed",
            hint="see the ids with `mqtt-actions actions list` (stored: "
            + (", ".join(sorted(stored)) or "none")
            + ")",
        )
    store = _store(target)
    removed = [i for i in wanted if store.delete(i)]
    emit(
        args,
        {"removed": removed, "target": target.describe()},
        lambda: (
            f"removed {plural(len(removed), 'action')} from {target.describe()}: "
            + ", ".join(removed)
        ),
    )
    return EXIT_OK


# ---------------------------------------------------------------------------- test (dry run)


def run_test(args: argparse.Namespace) -> int:
    try:
        validate_topic(args.topic)
    except InvalidTopicError as exc:
        raise UsageError(
            f"TOPIC {args.topic!r}: {exc}",
            hint="test with a topic name a device would publish to, e.g. home/kitchen/temperature",
        ) from None
    payload = sys.stdin.buffer.read() if args.payload == "-" else args.payload.encode("utf-8")
    target: Target | None = None
    if args.file:
        actions = _load_file(args.file)
        source = args.file
        if args.stack:
            target = args.get_target()
    else:
        target = args.get_target()
        actions = _store(target).load()
        source = f"stored in {target.describe()}"
    environment = router_environment(target)
    now_ms = int(time.time() * 1000)
    event = RouterEvent(
        payload=base64.b64encode(payload).decode("ascii"),
        topic=args.topic,
        clientid=args.device,
        principal="dry-run",
        timestamp=now_ms,
        traceid=f"dry-run-{uuid.uuid4()}",
    )
    report = dry_run(event, actions, environment.settings)
    data = {
        "dry_run": True,
        "topic": args.topic,
        "device": args.device,
        "payload_bytes": len(payload),
        "data_points": report.message.points,
        "actions_source": source,
        "actions_considered": sum(1 for a in actions if a.enabled),
        "matched": len(report.actions),
        "settings_source": environment.source,
        "notes": environment.notes,
        "actions": [_preview_dict(p) for p in report.actions],
    }
    emit(args, data, lambda: _render_test(report, actions, source, args, len(payload)))
    return EXIT_OK


def _preview_dict(preview: ActionPreview) -> dict[str, Any]:
    r = preview.result
    return {
        "action_id": r.action_id,
        "type": r.action_type,
        "outcome": r.outcome.value,
        "reason": r.reason,
        "detail": r.detail,
        "would_send": [{"kind": e.kind, **e.detail} for e in preview.effects],
    }


_OUTCOME_WORDS = {
    "done": "WOULD RUN",
    "points_refused": "WOULD RUN (some data points refused)",
    "condition_false": "skipped: condition false",
    "throttled": "skipped: rate limit",
    "refused": "REFUSED",
    "failed": "WOULD FAIL",
    "loop_refused": "refused: publish loop",
    "duplicate": "skipped: already ran",
}


def _render_test(
    report: DryRunReport,
    actions: Sequence[Action],
    source: str,
    args: argparse.Namespace,
    size: int,
) -> str:
    enabled = sum(1 for a in actions if a.enabled)
    lines = [
        f"DRY RUN (nothing is sent): {args.topic} from {args.device}, "
        f"{plural(size, 'byte')}, {plural(report.message.points, 'data point')}",
        f"{report.message.matched} of {plural(enabled, 'enabled action')} ({source}) match",
    ]
    for preview in report.actions:
        r = preview.result
        word = _OUTCOME_WORDS.get(r.outcome.value, r.outcome.value)
        lines.append("")
        lines.append(f"{r.action_id} ({r.action_type}): {word}")
        if r.reason:
            lines.append(f"    {r.reason}")
        lines += [f"    {line}" for e in preview.effects for line in _describe(e)]
    if not report.actions:
        lines.append("no action would run for this topic")
    return "\n".join(lines)


def _describe(effect: Effect) -> list[str]:
    d = effect.detail
    if effect.kind == "bucket":
        points = d.get("points", [])
        head = f"would store {plural(len(points), 'data point')} in bucket {d.get('device')!r}:"
        return [head] + [f"  {_json(p)}" for p in points]
    if effect.kind == "sms":
        return [f"would send SMS to {d.get('to')}: {_quote(d.get('message'))}"]
    if effect.kind == "email":
        to = ", ".join(d.get("to", []))
        lines = [f"would send e-mail to {to}: subject {_quote(d.get('subject'))}"]
        if d.get("text") is not None:
            lines.append(f"  text: {_quote(d['text'])}")
        if d.get("html") is not None:
            lines.append(f"  html: {_quote(d['html'])}")
        return lines
    if effect.kind == "mqtt_publish":
        flags = f"qos {d.get('qos')}" + (", retained" if d.get("retain") else "")
        body = d.get("payload", "")
        if d.get("encoding") == "base64":
            body = f"(binary, base64) {body}"
        return [f"would publish on {d.get('topic')} ({flags}): {body}"]
    if effect.kind == "analysis":
        event = d.get("event", {})
        return [f"would run analysis {event.get('analysis')!r} (function {d.get('function')})"]
    if effect.kind == "webhook":
        return [f"would POST to {d.get('url')}: {d.get('payload')}"]
    if effect.kind == "dead_letter":
        return [f"would go to the dead-letter queue: {d.get('reason')}"]
    return [f"{effect.kind}: {_json(d)}"]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _quote(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else str(value)


# ---------------------------------------------------------------------------- import-tagoio


def run_import_tagoio(args: argparse.Namespace) -> int:
    from mqtt_actions_cli import tagoio_import as tagoio

    source = "stdin" if args.file == "-" else args.file
    try:
        mapping = tagoio.parse_analysis_map(args.analysis_map)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    try:
        items = tagoio.parse_export(_read(args.file))
    except tagoio.ExportError as exc:
        raise UsageError(
            f"{source}: {exc}", hint="export the actions again with TagoIO's API (GET /action)"
        ) from None
    result = tagoio.convert(items, mapping)
    text = tagoio.to_yaml(result, source, args.output)
    load_actions_file(text, source="the converted file")  # the same loader `apply` uses
    if args.output:
        out = Path(args.output)
        if out.exists() and not args.force:
            raise UsageError(
                f"{args.output} exists; nothing was written",
                hint="choose another -o, or add --force to overwrite it",
            )
        out.write_text(text, encoding="utf-8")
    counts = result.counts()
    data: dict[str, Any] = {
        "file": args.file,
        "output": args.output,
        "counts": counts,
        "actions": [row.as_dict() for row in result.rows],
    }
    if not args.output:
        data["yaml"] = text
    if args.json:
        emit(args, data, str)
        return EXIT_OK
    report = _render_import(result.rows, counts, args.output)
    if args.output:
        print(report)
    else:
        sys.stdout.write(text)
        print(report, file=sys.stderr)
    return EXIT_OK


def _render_import(rows: Sequence[Any], counts: dict[str, int], output: str | None) -> str:
    lines = [
        table(
            ["#", "tagoio action", "type", "status", "id"],
            [
                (r.index + 1, r.name, f"{r.tagoio_type}/{r.action_type}", r.status, r.action_id)
                for r in rows
            ],
            width=40,
        ),
        "",
    ]
    for r in rows:
        if not r.notes and not r.instead:
            continue
        lines.append(f"#{r.index + 1} {r.name} ({r.status}):")
        lines += [f"  - {n}" for n in r.notes]
        if r.instead:
            head, *rest = r.instead.split("\n")
            lines.append(f"  instead: {head}")
            lines += [f"      {line}" for line in rest]
    written = len(rows) - counts["not converted"]
    where = f"wrote {output}" if output else "the actions file is on stdout"
    lines.append(
        f"{counts['converted']} converted, {counts['converted with notes']} converted with notes, "
        f"{counts['not converted']} not converted; {where} ({plural(written, 'action')})"
    )
    if output:
        lines.append(f"next: mqtt-actions actions apply {output}")
    return "\n".join(lines)
