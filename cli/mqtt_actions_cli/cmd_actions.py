"""`mqtt-actions actions apply|list|rm|test|import-tagoio`: manage the actions, try them without
sending, and convert TagoIO's."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mqtt_actions_cli.common import add_command
from mqtt_actions_cli.errors import EXIT_OK, UsageError
from mqtt_actions_cli.ops.defaults import TEST_DEVICE
from mqtt_actions_cli.output import emit, plural, table

if TYPE_CHECKING:  # loaded when a handler runs, not for --help (main.py)
    from mqtt_actions.actions import Action
    from mqtt_actions_cli import actions_file, reads
    from mqtt_actions_cli.ops import actions as ops_actions
    from mqtt_actions_cli.target import Target
else:
    from mqtt_actions_cli.lazy import lazy

    actions_file = lazy("mqtt_actions_cli.actions_file")
    ops_actions = lazy("mqtt_actions_cli.ops.actions")
    reads = lazy("mqtt_actions_cli.reads")

MAX_FILE_BYTES = 5 * 1024 * 1024


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
    return ops_actions.parse_file(_read(path), "stdin" if path == "-" else path)


# ---------------------------------------------------------------------------- apply


def run_apply(args: argparse.Namespace) -> int:
    actions = _load_file(args.file)  # validated whole before anything is contacted
    target = args.get_target()
    result = ops_actions.apply(target, actions, prune=args.prune, source=args.file)
    data = result.model_dump()
    created, updated, unchanged = result.created, result.updated, result.unchanged
    removed, kept = result.removed, result.not_in_file

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
    listing = reads.actions_listing(target)  # on the local stack: answered by it (reads.py)
    rows: list[list[Any]] = listing["rows"]

    def render() -> str:
        if not rows:
            return (
                f"no actions stored in {target.describe()}; "
                "add some with `mqtt-actions actions apply FILE`"
            )
        return table(["id", "type", "topics", "enabled", "when", "rate limit"], rows) + (
            f"\n{plural(len(rows), 'action')}"
        )

    emit(args, {"actions": listing["actions"]}, render)
    return EXIT_OK


# ---------------------------------------------------------------------------- rm


def run_rm(args: argparse.Namespace) -> int:
    target = args.get_target()
    result = ops_actions.remove(target, args.ids)
    removed = result.removed
    emit(
        args,
        result.model_dump(),
        lambda: (
            f"removed {plural(len(removed), 'action')} from {target.describe()}: "
            + ", ".join(removed)
        ),
    )
    return EXIT_OK


# ---------------------------------------------------------------------------- test (dry run)


def run_test(args: argparse.Namespace) -> int:
    ops_actions.check_topic(args.topic)
    payload = sys.stdin.buffer.read() if args.payload == "-" else args.payload.encode("utf-8")
    target: Target | None = None
    actions: list[Action] | None = None
    source: str | None = None
    if args.file:
        actions = _load_file(args.file)
        source = args.file
        if args.stack:
            target = args.get_target()
    else:
        target = args.get_target()
    result = ops_actions.dryrun(
        target, args.topic, payload, device=args.device, actions=actions, source=source
    )
    emit(args, result.model_dump(mode="json"), lambda: render_test(result))
    return EXIT_OK


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


def render_test(result: ops_actions.DryRunResult) -> str:
    lines = [
        f"DRY RUN (nothing is sent): {result.topic} from {result.device}, "
        f"{plural(result.payload_bytes, 'byte')}, {plural(result.data_points, 'data point')}",
        f"{result.message_matched} of {plural(result.actions_considered, 'enabled action')} "
        f"({result.actions_source}) match",
    ]
    for preview in result.actions:
        word = _OUTCOME_WORDS.get(preview.outcome, preview.outcome)
        lines.append("")
        lines.append(f"{preview.action_id} ({preview.type}): {word}")
        if preview.reason:
            lines.append(f"    {preview.reason}")
        lines += [f"    {line}" for kind, d in preview.effects for line in _describe(kind, d)]
    if not result.actions:
        lines.append("no action would run for this topic")
    return "\n".join(lines)


def _describe(kind: str, d: dict[str, Any]) -> list[str]:
    if kind == "bucket":
        points = d.get("points", [])
        head = f"would store {plural(len(points), 'data point')} in bucket {d.get('device')!r}:"
        return [head] + [f"  {_json(p)}" for p in points]
    if kind == "sms":
        return [f"would send SMS to {d.get('to')}: {_quote(d.get('message'))}"]
    if kind == "email":
        to = ", ".join(d.get("to", []))
        lines = [f"would send e-mail to {to}: subject {_quote(d.get('subject'))}"]
        if d.get("text") is not None:
            lines.append(f"  text: {_quote(d['text'])}")
        if d.get("html") is not None:
            lines.append(f"  html: {_quote(d['html'])}")
        return lines
    if kind == "mqtt_publish":
        flags = f"qos {d.get('qos')}" + (", retained" if d.get("retain") else "")
        body = d.get("payload", "")
        if d.get("encoding") == "base64":
            body = f"(binary, base64) {body}"
        return [f"would publish on {d.get('topic')} ({flags}): {body}"]
    if kind == "analysis":
        event = d.get("event", {})
        return [f"would run analysis {event.get('analysis')!r} (function {d.get('function')})"]
    if kind == "webhook":
        return [f"would POST to {d.get('url')}: {d.get('payload')}"]
    if kind == "dead_letter":
        return [f"would go to the dead-letter queue: {d.get('reason')}"]
    return [f"{kind}: {_json(d)}"]


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
    # the same loader `apply` uses
    actions_file.load_actions_file(text, source="the converted file")
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
