"""`mqtt-actions console`: the web console for the local stack or a deployed one."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from mqtt_actions_cli.common import add_command
from mqtt_actions_cli.errors import EXIT_OK, UsageError
from mqtt_actions_cli.local.state import DEFAULT_STATE_DIR, ENV_STATE_DIR

ENV_PORT = "MQTT_ACTIONS_CONSOLE_PORT"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = add_command(
        subparsers,
        "console",
        summary="the web console: live inspector, topics, actions, devices, dead letters",
        description=(
            "Serve the web console on 127.0.0.1 and print its address with its token (kept in\n"
            "the state folder, so open tabs survive a restart; --new-console-token replaces it):\n"
            "  console  http://127.0.0.1:PORT/?token=...\n"
            "The first visit trades the token for a cookie; without it every request is\n"
            "refused. Against a deployed stack (--stack) it uses your AWS credentials, like\n"
            "every other command; nothing is deployed for it. `mqtt-actions local` starts one\n"
            "too (on its AWS port + 2)."
        ),
        examples="""
  mqtt-actions console                       # the local stack (make run)
  mqtt-actions console --stack mqtt-actions-prod --region eu-west-1 --no-browser
  mqtt-actions console --port 8080""",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port to serve on (default: a free one; env {ENV_PORT})",
    )
    parser.add_argument(
        "--no-browser", action="store_true", help="print the address, do not open a browser"
    )
    parser.add_argument(
        "--bind",
        metavar="ADDRESS",
        default="127.0.0.1",
        help="serve on another address than 127.0.0.1 (the console shows device data and can "
        "send SMS: only on a network you trust; a warning is printed)",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get(ENV_STATE_DIR, "").strip() or DEFAULT_STATE_DIR),
        metavar="DIR",
        help=f"where the console's token is kept (file console-token, 0600) so that open tabs "
        f"survive a restart (default {DEFAULT_STATE_DIR}, env {ENV_STATE_DIR}; the local "
        "stack's folder)",
    )
    parser.add_argument(
        "--new-console-token",
        action="store_true",
        help="replace the kept token: every open tab must use the new URL",
    )
    parser.set_defaults(func=run)


def port_from(value: int | None, env: dict[str, str] | Any, default: int) -> int:
    if value is not None:
        port = value
    else:
        raw = str(env.get(ENV_PORT, "")).strip()
        if not raw:
            return default
        try:
            port = int(raw)
        except ValueError:
            raise UsageError(f"{ENV_PORT}={raw!r} is not a port number") from None
    if not 0 <= port < 65536:
        raise UsageError(f"port {port} is out of range", hint="use 1-65535, or 0 for a free one")
    return port


def run(args: argparse.Namespace) -> int:
    from mqtt_actions_cli.console.server import ConsoleServer
    from mqtt_actions_cli.console.token_store import TokenFileError, console_token

    port = port_from(args.port, os.environ, 0)
    target = args.get_target()
    if args.bind != "127.0.0.1":
        print(
            f"warning: the console serves on {args.bind}, not only this machine: anyone who "
            "reaches it and has the token sees device data and can send messages",
            file=sys.stderr,
        )
    try:
        token = console_token(args.state_dir, rotate=args.new_console_token)
        server = ConsoleServer(target, host=args.bind, port=port, token=token)
    except TokenFileError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(
            f"cannot serve on {args.bind}:{port}: {exc.strerror or exc}",
            hint="choose another --port",
        ) from None
    print(f"console  {server.address.url}", flush=True)
    print(f"target   {target.describe()}; Ctrl-C stops it", flush=True)
    if not args.no_browser:
        import webbrowser  # here: it costs --help 30 ms

        webbrowser.open(server.address.url)
    server.serve_forever()
    return EXIT_OK
