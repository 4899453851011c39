"""Every `mqtt-actions` command, registered the same way: PLUGINS names the module and its
`register(subparsers)` function, which adds the command's parser with `func(args) -> int` set.
A module missing from the build (an optional part left out) becomes a stub that says so."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any

from mqtt_actions_cli.errors import CliError

Handler = Callable[[argparse.Namespace], int]

# name -> (module, function, summary, examples): summary and examples serve the stub only;
# each command's own parser carries its help.
PLUGINS: dict[str, tuple[str, str, str, str]] = {
    "local": (
        "mqtt_actions_cli.local.command",
        "register",
        "run the local stack: MQTT broker, AWS services, rules (make run)",
        "",
    ),
    "actions": ("mqtt_actions_cli.cmd_actions", "register", "manage the actions", ""),
    "bucket": ("mqtt_actions_cli.cmd_bucket", "register", "read a device's bucket", ""),
    "inspect": (
        "mqtt_actions_cli.inspect",
        "register",
        "watch connects, subscriptions, publishes and action outcomes",
        "",
    ),
    "outbox": ("mqtt_actions_cli.cmd_outbox", "register", "what the local stack captured", ""),
    "dlq": ("mqtt_actions_cli.cmd_dlq", "register", "the dead-letter queue", ""),
    "devices": ("mqtt_actions_cli.cmd_devices", "register", "devices and their tokens", ""),
    "publish": ("mqtt_actions_cli.cmd_publish", "register", "publish one MQTT message", ""),
    "analyses": (
        "mqtt_actions_cli.cmd_analyses",
        "register",
        "analyses: add a TagoIO script, list, run, logs",
        "",
    ),
    "console": ("mqtt_actions_cli.console.command", "register", "the web console", ""),
}


def register_all(subparsers: argparse._SubParsersAction[Any]) -> None:
    for name in PLUGINS:
        register(subparsers, name)


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
