"""`mqtt-actions analyses`: add a TagoIO analysis unchanged, list the analyses, run one as
TagoIO's "run" button does and read its log."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mqtt_actions_cli.common import add_command
from mqtt_actions_cli.errors import EXIT_FAILED, EXIT_OK, UsageError
from mqtt_actions_cli.output import emit, iso_ms, table
from mqtt_actions_cli.timeparse import parse_when

if TYPE_CHECKING:  # loaded when a handler runs, not for --help (main.py)
    from mqtt_actions_cli.ops import analyses
    from mqtt_actions_cli.target import Target
else:
    from mqtt_actions_cli.lazy import lazy

    analyses = lazy("mqtt_actions_cli.ops.analyses")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "analyses",
        help="analyses: add a TagoIO script unchanged, list, run, read the log",
        description="Analyses are Lambda functions under functions/analyses/ (template.yaml).",
        epilog="run `mqtt-actions analyses COMMAND --help` for the options",
    )
    sub = parser.add_subparsers(title="analyses commands", metavar="COMMAND", required=True)
    add = add_command(
        sub,
        "add-tagoio",
        summary="copy a TagoIO Python analysis unchanged and declare its function",
        description=(
            "Copy SCRIPT.py unchanged into functions/analyses/NAME/ and declare its function in\n"
            "template.yaml: Handler mqtt_actions.tagoio.handler (the layer's tagoio_sdk gives\n"
            "the SDK's import paths), TAGOIO_SCRIPT, --env values as its environment\n"
            "(context.environment), and only the permissions its calls need (read from the\n"
            "script: e-mail, SMS, MQTT publish, device data, the device registry). The local\n"
            "stack runs it from its next start; `sam deploy` deploys it."
        ),
        examples="""
  mqtt-actions analyses add-tagoio device-offline.py --name device_offline \\
      --env account_token=any --env check_in_time=30 --env email_list=ops@example.com""",
        target=False,
    )
    add.add_argument("script", metavar="SCRIPT.py", type=Path, help="the TagoIO analysis")
    add.add_argument("--name", required=True, help="the analysis name ([a-z][a-z0-9_]*)")
    add.add_argument(
        "--env",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="an environment variable of the analysis (repeatable)",
    )
    add.set_defaults(func=run_add)

    listing = add_command(
        sub,
        "list",
        summary="the analyses template.yaml declares",
        description=(
            "Each analysis: name, function, kind (tagoio script or python), script. Locally the\n"
            "analyses of template.yaml (the local stack runs them); with --stack those the\n"
            "deployed stack holds (its template), and template.yaml's not deployed yet."
        ),
        examples="""
  mqtt-actions analyses list
  mqtt-actions analyses list --stack mqtt-actions-dev --json""",
    )
    listing.set_defaults(func=run_list)

    running = add_command(
        sub,
        "run",
        summary="run an analysis now (TagoIO's run button); prints its log and outcome",
        description=(
            "Invoke analysis NAME with --scope (a JSON list of data points, default []) and\n"
            "--env values merged over its declared environment. Waits for the run and prints\n"
            "its log lines and outcome: exit 0 when done, 1 when it failed. --no-wait only\n"
            "starts it (asynchronously, as an action would)."
        ),
        examples="""
  mqtt-actions analyses run device_offline
  mqtt-actions analyses run find --scope '[{"variable": "temperature", "value": 31}]'
  mqtt-actions analyses run find --env device_token=... --stack mqtt-actions-dev --no-wait""",
    )
    running.add_argument("name", metavar="NAME")
    running.add_argument("--scope", metavar="JSON", default="[]", help="the data points")
    running.add_argument(
        "--env", metavar="KEY=VALUE", action="append", default=[], help="repeatable"
    )
    running.add_argument("--no-wait", action="store_true", help="start it and return")
    running.set_defaults(func=run_run)

    logging = add_command(
        sub,
        "logs",
        summary="an analysis's recent runs with their log lines",
        description=(
            "The analysis's runs the inspector recorded (newest last): time, trigger, outcome,\n"
            "reason, and the log lines each run printed (print and context.log)."
        ),
        examples="""
  mqtt-actions analyses logs device_offline
  mqtt-actions analyses logs device_offline --since 1d --json""",
    )
    logging.add_argument("name", metavar="NAME")
    logging.add_argument("--since", metavar="WHEN", default="1d", help="default 1d")
    logging.add_argument("--last", metavar="N", type=int, default=20, help="default 20")
    logging.set_defaults(func=run_logs)


def run_add(args: argparse.Namespace) -> int:
    env = analyses.parse_env(args.env)
    added = analyses.add_tagoio(args.script, args.name, env)

    def render() -> str:
        return "\n".join(
            [
                f"analysis {added['name']!r} added: {added['script']} (unchanged)",
                f"  function  {added['function']} (Handler {added['handler']})",
                f"  needs     {', '.join(added['needs']) or 'nothing but its log'}",
                "  the local stack runs it from its next start; deploy with `sam deploy`",
                f"  try it:   mqtt-actions analyses run {added['name']}",
            ]
        )

    emit(args, added, render)
    return EXIT_OK


NOT_DEPLOYED = "(not deployed: sam deploy)"


def run_list(args: argparse.Namespace) -> int:
    target: Target | None = args.get_target() if args.stack else None
    found = analyses.list_analyses(target)

    def render() -> str:
        return table(
            ["analysis", "function", "kind", "script"],
            [[a["name"], a["deployed_as"] or NOT_DEPLOYED, a["kind"], a["script"]] for a in found],
        )

    emit(args, found, render)
    return EXIT_OK


def run_run(args: argparse.Namespace) -> int:
    try:
        scope = json.loads(args.scope)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--scope is not JSON: {exc.msg}", hint="a JSON list of points") from None
    env = analyses.parse_env(args.env)
    target: Target = args.get_target()
    done = analyses.run(target, args.name, scope, env, wait=not args.no_wait)

    def render() -> str:
        lines = list(done.get("log") or [])
        outcome = f"{done['analysis']}: {done['outcome']}"
        if done.get("reason"):
            outcome += f" ({done['reason']})"
        return "\n".join([*lines, outcome])

    emit(args, done, render)
    return EXIT_FAILED if done["outcome"] == "failed" else EXIT_OK


def run_logs(args: argparse.Namespace) -> int:
    target: Target = args.get_target()
    since = parse_when(args.since, option="--since")
    runs = analyses.logs(target, args.name, since_ms=since, limit=args.last)

    def render() -> str:
        if not runs:
            return f"no runs of {args.name} since {args.since} ago"
        out = []
        for r in runs:
            head = f"{iso_ms(r['time'])}  {r['trigger'] or '?'}  {r['outcome']}"
            out.append(head + (f"  {r['reason']}" if r["reason"] else ""))
            out += [f"    {line}" for line in r["log"]]
        return "\n".join(out)

    emit(args, runs, render)
    return EXIT_OK
