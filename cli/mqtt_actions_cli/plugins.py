"""`local` and `inspect`: commands built in their own modules, plugged into the main command.

Each module offers `add_<name>_parser(subparsers)`. Its parser sets either `func(args) -> int`
(our convention) or `handler`: `handler(args)` for `local`, `handler(args, inspector_query)`
for `inspect`. Here they get the shared target options they lack, examples in --help, and a
`func` that calls them with what they need. A module missing from the build becomes a stub
that says so."""

from __future__ import annotations

import argparse
import importlib
import textwrap
from collections.abc import Callable
from typing import Any

from mqtt_actions_cli.common import TARGET_EPILOG, add_target_options
from mqtt_actions_cli.errors import CliError
from mqtt_actions_cli.target import Target

Handler = Callable[[argparse.Namespace], int]

# name -> (module, function, summary, examples)
PLUGINS: dict[str, tuple[str, str, str, str]] = {
    "local": (
        "mqtt_actions_cli.local",
        "add_local_parser",
        "run the local stack: MQTT broker, AWS services, rules (make run)",
        """
  mqtt-actions local
  mqtt-actions local --mqtt-port 1884 --aws-port 4600""",
    ),
    "inspect": (
        "mqtt_actions_cli.inspect",
        "add_inspect_parser",
        "watch connects, subscriptions, publishes and action outcomes",
        """
  mqtt-actions inspect
  mqtt-actions inspect --device sensor-01 --since 10m
  mqtt-actions inspect --follow --type action
  mqtt-actions inspect --stack mqtt-actions-prod --json""",
    ),
}


def register(subparsers: argparse._SubParsersAction[Any], name: str) -> None:
    module_name, function, summary, examples = PLUGINS[name]
    try:
        add_parser = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        why = f"{module_name}.{function} is missing ({exc})"
        stub = subparsers.add_parser(
            name, help=f"{summary} (not available in this build)", description=why
        )
        stub.set_defaults(func=_not_available(name, why), accepts_anything=True)
        return
    parser = add_parser(subparsers)
    if not isinstance(parser, argparse.ArgumentParser):
        parser = subparsers.choices[name]
    if not parser.epilog:
        parser.epilog = "examples:" + examples
        if name != "local":
            parser.epilog += "\n\n" + TARGET_EPILOG
        if parser.description and "\n" not in parser.description:  # raw from here on: wrap it
            parser.description = textwrap.fill(parser.description, width=88)
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    if name != "local":
        add_target_options(parser)
    if parser.get_default("func") is None:
        parser.set_defaults(func=_run_inspect if name == "inspect" else _run_handler)


def _run_handler(args: argparse.Namespace) -> int:
    code: int = args.handler(args)
    return code


def _run_inspect(args: argparse.Namespace) -> int:
    target: Target = args.get_target()
    code: int = args.handler(args, inspector_query(target))
    return code


def inspector_query(target: Target) -> Callable[..., Any]:
    """The chosen target's inspector, read with `DynamoInspector.query` (the local stack keeps
    it in moto's DynamoDB, like AWS)."""
    from mqtt_actions.adapters.inspector import DynamoInspector

    raw = target.parameters.get("InspectorRetentionDays") or target.outputs.get(
        "InspectorRetentionDays", ""
    )
    retention = int(raw) if raw.isdigit() and int(raw) > 0 else 7
    inspector = DynamoInspector(
        target.output("InspectorTableName"), target.client("dynamodb"), retention
    )
    return inspector.query


def _not_available(name: str, why: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        raise CliError(f"`mqtt-actions {name}` is not available in this build: {why}")

    return handler
