"""Every `mqtt-actions` command, registered the same way: PLUGINS names the module and its
`register(subparsers)` function, which adds the command's parser with `func(args) -> int` set.
A module missing from the build (an optional part left out) becomes a stub that says so.

Lazily: only the command being run is imported (`register_all(..., only=NAME)`); the others
appear in `mqtt-actions --help` as placeholders carrying their PLUGINS summary, so a new
command costs the other commands' start-up nothing. Its module must keep its top-level imports
light (see lazy.py); tests/unit/test_cli_startup.py checks every command's --help."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any

from mqtt_actions_cli.errors import CliError

Handler = Callable[[argparse.Namespace], int]

# name -> (module, function, summary, examples): the summary is the line `mqtt-actions --help`
# shows (keep it equal to the command parser's own help=); examples serve the stub only.
PLUGINS: dict[str, tuple[str, str, str, str]] = {
    "local": (
        "mqtt_actions_cli.local.command",
        "register",
        "run the local stack: MQTT broker, rules, handlers and AWS services (moto)",
        "",
    ),
    "actions": (
        "mqtt_actions_cli.cmd_actions",
        "register",
        "apply, list, remove and dry-run the actions",
        "",
    ),
    "bucket": (
        "mqtt_actions_cli.cmd_bucket",
        "register",
        "read a device's bucket (data stored by insert_bucket actions)",
        "",
    ),
    "inspect": (
        "mqtt_actions_cli.inspect",
        "register",
        "connects, disconnects, subscriptions, publishes and action outcomes",
        "",
    ),
    "outbox": (
        "mqtt_actions_cli.cmd_outbox",
        "register",
        "SMS, e-mails and webhook calls the local stack captured (local only)",
        "",
    ),
    "dlq": (
        "mqtt_actions_cli.cmd_dlq",
        "register",
        "the dead-letter queue: list failures, replay or discard them",
        "",
    ),
    "devices": (
        "mqtt_actions_cli.cmd_devices",
        "register",
        "devices: with a certificate or a token (TagoIO style); import, list, revoke",
        "",
    ),
    "publish": (
        "mqtt_actions_cli.cmd_publish",
        "register",
        "publish one MQTT message (local broker, or IoT Core with --stack)",
        "",
    ),
    "analyses": (
        "mqtt_actions_cli.cmd_analyses",
        "register",
        "analyses: add a TagoIO script unchanged, list, run, read the log",
        "",
    ),
    "console": (
        "mqtt_actions_cli.console.command",
        "register",
        "the web console: live inspector, topics, actions, devices, dead letters",
        "",
    ),
}


def register_all(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Every command in full (imports every command module: for tests and docs, not start-up)."""
    for name in PLUGINS:
        register(subparsers, name)


def register_only(subparsers: argparse._SubParsersAction[Any], command: str | None) -> None:
    """`command` in full, the others as placeholders listing their summary (`command` None or
    unknown: all placeholders, enough for `mqtt-actions --help` and "did you mean")."""
    for name, (_module, _function, summary, _examples) in PLUGINS.items():
        if name == command:
            register(subparsers, name)
        else:
            subparsers.add_parser(name, help=summary, add_help=False)


def register(subparsers: argparse._SubParsersAction[Any], name: str) -> None:
    module_name, function, summary, _examples = PLUGINS[name]
    try:
        add_parser = getattr(importlib.import_module(module_name), function)
    except (ImportError, AttributeError) as exc:
        why = f"{module_name}.{function} is missing ({exc})"
        stub = subparsers.add_parser(
            name, help=f"{summary} (not available in this build)", description=why
        )
        stub.set_defaults(func=_not_available(name, why), accepts_anything=True)
        return
    add_parser(subparsers)


def _not_available(name: str, why: str) -> Handler:
    def handler(args: argparse.Namespace) -> int:
        raise CliError(f"`mqtt-actions {name}` is not available in this build: {why}")

    return handler
