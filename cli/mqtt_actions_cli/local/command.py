"""`mqtt-actions local`: run the local stack until Ctrl-C (what `make run` starts)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mqtt_actions_cli.common import with_examples
from mqtt_actions_cli.errors import EXIT_INTERRUPTED
from mqtt_actions_cli.local import output
from mqtt_actions_cli.local.broker_rules import BrokerRules
from mqtt_actions_cli.local.state import DEFAULT_STATE_DIR, ENV_STATE_DIR
from mqtt_actions_cli.ops.defaults import AUTH_MODES

if TYPE_CHECKING:  # the stack (amqtt, moto, boto3) loads when it starts, not for --help
    from mqtt_actions_cli.local.stack import LocalOptions

# When the stack's code was loaded (the CLI loads it at once): the banner's "started in".
_LOADED = time.monotonic()
ENV_MQTT_PORT = "MQTT_ACTIONS_MQTT_PORT"
ENV_AWS_PORT = "MQTT_ACTIONS_AWS_PORT"
ENV_CONTROL_PORT = "MQTT_ACTIONS_CONTROL_PORT"
ENV_CONSOLE_PORT = "MQTT_ACTIONS_CONSOLE_PORT"
ENV_AUTH = "MQTT_ACTIONS_AUTH"
ENV_TLS_PORT = "MQTT_ACTIONS_TLS_PORT"
ENV_GATEWAY_PORT = "MQTT_ACTIONS_GATEWAY_PORT"
DEFAULT_TLS_PORT = 8883
DEFAULT_GATEWAY_PORT = 1884

# The broker, the control API and the handlers share one GIL. A handler holds it for a few ms
# at a time; at Python's default (5 ms) a device waiting for its PUBACK waits for that too.
SWITCH_INTERVAL_S = 0.001


def _port_from_env(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise SystemExit(f"mqtt-actions local: {name}={raw!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise SystemExit(f"mqtt-actions local: {name}={port} is not a port number (0-65535)")
    return port


def _time_scale(text: str) -> float:
    try:
        scale = float(text)
    except ValueError:
        scale = 0.0
    if not 0 < scale <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return scale


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def add_local_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `local` on an argparse subparsers object (self-contained: defaults from env)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "local",
        help="run the local stack: MQTT broker, rules, handlers and AWS services (moto)",
        description=(
            "Run IoT Core's broker and rules engine, the handlers of template.yaml and the AWS "
            "services they use (moto) on this machine, on 127.0.0.1 only. Ctrl-C stops it."
        ),
    )
    parser.add_argument(
        "--mqtt-port",
        type=int,
        default=_port_from_env(ENV_MQTT_PORT, 1883),
        help=f"MQTT broker port (default 1883, env {ENV_MQTT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--aws-port",
        type=int,
        default=_port_from_env(ENV_AWS_PORT, 4566),
        help=f"AWS endpoint (moto) port (default 4566, env {ENV_AWS_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--control-port",
        type=int,
        default=_port_from_env(ENV_CONTROL_PORT, None),
        help=f"control API port (default aws-port + 1, env {ENV_CONTROL_PORT})",
    )
    parser.add_argument(
        "--console-port",
        type=int,
        default=_port_from_env(ENV_CONSOLE_PORT, None),
        help=f"web console port (default aws-port + 2, env {ENV_CONSOLE_PORT}; 0 picks a free one)",
    )
    parser.add_argument("--no-console", action="store_true", help="do not start the web console")
    parser.add_argument(
        "--new-console-token",
        action="store_true",
        help="replace the console's token (kept in the state folder, file console-token, 0600, "
        "so open tabs survive a restart): every open tab must use the new URL",
    )
    parser.add_argument(
        "--tls-port",
        type=int,
        default=_port_from_env(ENV_TLS_PORT, None),
        help=f"TLS listener port, as IoT Core's token endpoint: SNI and ALPN mqtt required "
        f"(default {DEFAULT_TLS_PORT}, 0 when --mqtt-port is 0; env {ENV_TLS_PORT})",
    )
    parser.add_argument(
        "--gateway-port",
        type=int,
        default=_port_from_env(ENV_GATEWAY_PORT, None),
        help=f"the legacy-port gateway's plain MQTT port: haproxy in front of the TLS listener "
        f"(default {DEFAULT_GATEWAY_PORT}, 0 when --mqtt-port is 0; env {ENV_GATEWAY_PORT})",
    )
    parser.add_argument(
        "--no-gateway",
        action="store_true",
        help="do not start the gateway (it starts by default when haproxy is installed)",
    )
    parser.add_argument(
        "--param",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a template parameter (e.g. ActionsCacheSeconds=5); repeatable",
    )
    parser.add_argument(
        "--template",
        type=Path,
        default=None,
        metavar="FILE",
        help="run this template.yaml instead of the project's (CodeUri paths relative to its "
        "folder): a copy with analyses added, as scripts/tagoio_corpus.py makes",
    )
    parser.add_argument(
        "--inspector-level",
        choices=["all", "outcomes", "errors"],
        default=None,
        help="what the inspector records of each message (template parameter InspectorLevel; "
        "default all): outcomes - messages whose actions did more than store them; errors - "
        "messages with a failed, refused or throttled action",
    )
    parser.add_argument(
        "--auth",
        choices=AUTH_MODES,
        default=os.environ.get(ENV_AUTH, "").strip() or "anonymous",
        help=f"anonymous (default, env {ENV_AUTH}): any client connects, its client id is the "
        "device; tokens: username Token + a device token, checked by DeviceAuthorizerFunction "
        "as on IoT Core (devices create --token)",
    )
    parser.add_argument(
        "--spec-broker",
        action="store_true",
        help="plain MQTT 3.1.1 broker instead of IoT Core's rules (QoS 2 answered, retained "
        "messages to wildcard subscriptions, keep-alive under 30 s as given, sessions kept "
        "forever, any $ topic published); README: Local stack vs IoT Core",
    )
    parser.add_argument(
        "--broker-time-scale",
        type=_time_scale,
        default=1.0,
        metavar="F",
        help="multiply the broker's timers (keep-alive, session expiry, QoS 1 retry) by F, "
        "0 < F <= 1, for tests: 0.1 closes a silent keep-alive 30 s client after 4.5 s",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get(ENV_STATE_DIR, "").strip() or DEFAULT_STATE_DIR),
        metavar="DIR",
        help=(
            "where the stack keeps actions, bucket rows, inspector entries, dead letters, the "
            f"outbox and retained messages between runs (default .local-state, env {ENV_STATE_DIR})"
        ),
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="start empty: do not restore the saved state (it is replaced at the first save)",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also show the functions' own logs"
    )
    parser.set_defaults(func=run_local)
    return parser


EXAMPLES = """
  mqtt-actions local
  mqtt-actions local --mqtt-port 1884 --aws-port 4600"""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """`local` on the main command (it acts on no target: it is one)."""
    parser = add_local_parser(subparsers)
    with_examples(parser, EXAMPLES, target=False)
    return parser


def _check_free(host: str, port: int, what: str, flag: str, env: str) -> None:
    if port == 0:
        return
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            msg = (
                f"{what} port {port} on {host} is taken ({exc.strerror}); is another local stack "
                f"running? Choose another port: {flag} N, or {env}=N (make run: "
                f"`{env}={port + 10} make run`; 0 picks a free one)"
            )
            raise OSError(msg) from None


def _default_port(chosen: int | None, mqtt_port: int, default: int) -> int:
    """A port left unset follows the broker's: fixed beside a fixed one, free beside port 0."""
    if chosen is not None:
        return chosen
    return 0 if mqtt_port == 0 else default


def run_local(args: argparse.Namespace) -> int:
    if args.auth not in AUTH_MODES:  # argparse checks a flag's value, not its default (env)
        print(
            f"mqtt-actions local: {ENV_AUTH}={args.auth!r} is not one of "
            f"{', '.join(AUTH_MODES)} (e.g. {ENV_AUTH}=tokens make run)",
            file=sys.stderr,
        )
        return 2
    import asyncio  # here, with the stack: not for --help

    from mqtt_actions_cli.local.stack import LocalOptions

    if args.template is not None and not args.template.is_file():
        print(
            f"mqtt-actions local: --template {args.template}: no such file (give a "
            "template.yaml whose CodeUri paths are relative to its folder)",
            file=sys.stderr,
        )
        return 2
    output.setup(args.verbose)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    options = LocalOptions(
        mqtt_port=args.mqtt_port,
        aws_port=args.aws_port,
        control_port=args.control_port,
        parameters=dict(args.param)
        | ({"InspectorLevel": args.inspector_level} if args.inspector_level else {}),
        verbose=args.verbose,
        auth=args.auth,
        state_dir=args.state_dir,
        fresh=args.fresh,
        tls_port=_default_port(args.tls_port, args.mqtt_port, DEFAULT_TLS_PORT),
        gateway_port=None
        if args.no_gateway
        else _default_port(args.gateway_port, args.mqtt_port, DEFAULT_GATEWAY_PORT),
        broker_rules=BrokerRules(iot_core=not args.spec_broker, time_scale=args.broker_time_scale),
    )
    if args.template is not None:
        options.template_path = args.template.resolve()
        options.root = options.template_path.parent
    console_port = token = None
    if not args.no_console:
        from mqtt_actions_cli.console.token_store import TokenFileError, console_token

        console_port = args.console_port
        if console_port is None:
            console_port = args.aws_port + 2 if args.aws_port else 0
        try:
            token = console_token(args.state_dir, rotate=args.new_console_token)
        except TokenFileError as exc:
            print(f"mqtt-actions local: {exc}", file=sys.stderr)
            return 1
    return asyncio.run(_serve(options, console_port, token))


def _start_console(control_port: int, port: int, token: str | None) -> Any:
    """The web console on the stack just started (in a thread of its own)."""
    from mqtt_actions_cli.console.server import ConsoleServer
    from mqtt_actions_cli.target import local_target

    target = local_target({ENV_CONTROL_PORT: str(control_port)})
    server = ConsoleServer(target, port=port, token=token)
    server.start()
    return server


async def _serve(
    options: LocalOptions, console_port: int | None = None, console_token: str | None = None
) -> int:
    import asyncio

    from mqtt_actions_cli.local.rules import RuleError
    from mqtt_actions_cli.local.stack import LocalStack
    from mqtt_actions_cli.local.template import TemplateError

    control = options.control_port
    if control is None and options.aws_port:
        control = options.aws_port + 1
    try:
        _check_free(options.host, options.mqtt_port, "MQTT", "--mqtt-port", ENV_MQTT_PORT)
        _check_free(options.host, options.aws_port, "AWS", "--aws-port", ENV_AWS_PORT)
        _check_free(options.host, control or 0, "control", "--control-port", ENV_CONTROL_PORT)
        _check_free(options.host, options.tls_port or 0, "TLS", "--tls-port", ENV_TLS_PORT)
        _check_free(
            options.host, options.gateway_port or 0, "gateway", "--gateway-port", ENV_GATEWAY_PORT
        )
        if console_port is not None:
            _check_free(options.host, console_port, "console", "--console-port", ENV_CONSOLE_PORT)
    except OSError as exc:
        print(f"mqtt-actions local: {exc}", file=sys.stderr)
        return 1
    stack = LocalStack(options)
    try:
        await stack.start()
    except (TemplateError, RuleError, OSError, ImportError) as exc:
        print(f"mqtt-actions local: cannot start: {exc}", file=sys.stderr)
        await stack.stop()
        return 1
    except asyncio.CancelledError:
        # Ctrl-C while it starts: asyncio.run cancelled this task. Stop what has started, in
        # order, before asyncio.run cancels the rest (amqtt logged its cancelled broadcast loop
        # as an error, with a traceback); asyncio.run then raises KeyboardInterrupt: exit 130.
        await stack.stop()
        raise
    stopping = asyncio.Event()
    received: list[int] = []

    def stop(sig: int) -> None:
        received.append(sig)
        stopping.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop, sig)
    console = None
    if console_port is not None:
        try:
            console = await asyncio.to_thread(
                _start_console, stack.control_port, console_port, console_token
            )
        except (OSError, ImportError) as exc:
            print(f"mqtt-actions local: cannot start the console: {exc}", file=sys.stderr)
            await stack.stop()
            return 1
    print(stack.banner(), flush=True)
    print(f"  started in    {time.monotonic() - _LOADED:.1f} s", flush=True)
    ready = stack.ready_line()
    if console is not None:
        print(f"console  {console.address.url}", flush=True)
        ready += f" console={console.address.url}"
    print(ready, flush=True)
    await stopping.wait()
    print(
        "stopping: gateway, broker, pending invocations (up to 5 s), control API, moto", flush=True
    )
    if console is not None:
        await asyncio.to_thread(console.stop)
    await stack.stop()
    print("stopped", flush=True)
    # Ctrl-C ends it as it ends any command: 130 (SIGTERM, a service manager's stop: 0).
    return EXIT_INTERRUPTED if received[:1] == [signal.SIGINT] else 0
