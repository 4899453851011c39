"""Entry point of the `mqtt-actions` command: the parser, the dispatch, and where errors end.

Each command group lives in its own module and registers itself with `register(subparsers)`
(plugins.PLUGINS lists them). Its parser sets `func=handler`, `handler(args) -> int`: parse
the arguments, call one operation of `ops`, print text or --json. `args.get_target()` gives the
Target (`--local` or `--stack NAME`), built on first use so commands that need none contact
nothing.

Start-up is kept to what the command run needs (`mqtt-actions --help` and `COMMAND --help`
answer in well under 0.3 s):
- Only the command named on the line is imported and registered; every other command is a
  placeholder parser made from its PLUGINS summary (`plugins.register_only`).
  A new command = one PLUGINS entry (module, "register", summary, "") + its module.
- A command module imports at its top only argparse-level things (common, errors, output,
  ops.defaults); what its handlers call (ops.*, mqtt_actions.*, pydantic, boto3, paho...) is
  imported through `lazy.lazy(...)` (see lazy.py) or inside the handler.
- tests/unit/test_cli_startup.py runs every `COMMAND [SUB] --help` in a fresh interpreter and
  fails if boto3, botocore, moto, amqtt, paho or pydantic got imported.
- Ctrl-C at any moment: `entry.main` (the console script) turns it into one line and exit 130.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mqtt_actions_cli import plugins
from mqtt_actions_cli.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CliError

if TYPE_CHECKING:
    from mqtt_actions_cli.target import Target

TargetFactory = Callable[[argparse.Namespace], "Target"]
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what `yes | head` leaves in $PIPESTATUS

PROG = "mqtt-actions"
DESCRIPTION = """\
TagoIO-style MQTT topic actions on your own AWS IoT Core, and on one laptop.

Devices publish over MQTT; actions attached to topic filters store the data in the device's
bucket, run an analysis, send SMS or e-mail, publish to MQTT or call a webhook. This command
manages the actions and looks at what they did, on the local stack (`make run`) or on a
deployed stack (--stack NAME)."""

EPILOG = """\
quick start (local, no AWS account):
  make run                                        # terminal 1: the local stack
  mqtt-actions actions apply examples/actions.yaml
  mqtt-actions actions test home/kitchen/temperature \\
      --payload '{"variable": "temperature", "value": 31}'
  mqtt-actions publish home/kitchen/temperature '{"variable": "temperature", "value": 31}' \\
      --client-id sensor-01
  mqtt-actions bucket query sensor-01 --since 10m
  mqtt-actions outbox

every command takes --json (machine output on stdout) and --local (default) or --stack NAME.
exit codes: 0 ok, 1 operational error, 2 usage or validation error, 130 interrupted (Ctrl-C).
run `mqtt-actions COMMAND --help` for each command's options and examples."""


class _Parser(argparse.ArgumentParser):
    """argparse, plus "did you mean" for a mistyped command or choice (subparsers inherit it)."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is not None and isinstance(value, str) and value not in choices:
            close = difflib.get_close_matches(value, [str(c) for c in choices], n=1, cutoff=0.6)
            if close:
                known = ", ".join(map(str, choices))
                message = f"invalid choice: {value!r}; did you mean {close[0]!r}? ({known})"
                raise argparse.ArgumentError(action, message)
        super()._check_value(action, value)


class _Version(argparse.Action):
    """--version: reads the installed metadata only when asked (importlib.metadata is slow)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        kwargs.update(nargs=0, default=argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_args: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("mqtt-actions")
        except PackageNotFoundError:  # run from a checkout without `pip install -e .`
            number = "(not installed)"
        print(f"{PROG} {number}")  # on stdout, as argparse's own "version" action
        parser.exit()


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv`, only the command it names is imported and fully registered
    (the others are placeholders that list their summary): what keeps --help fast."""
    parser = _Parser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    if argv is None:
        plugins.register_all(subparsers)
    else:
        plugins.register_only(subparsers, _command_named(argv))
    return parser


def _command_named(argv: list[str]) -> str | None:
    """The command on the line: the first word that is not an option (the main parser's own
    options take no value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main(argv: list[str] | None = None, *, target_factory: TargetFactory | None = None) -> int:
    """Run the command; returns the exit code. `target_factory` replaces target resolution
    (tests hand in a Target on moto)."""
    try:
        code = _run(argv, target_factory)
        sys.stdout.flush()  # here, not at exit: a reader gone is then ours to handle
    except BrokenPipeError:
        return _reader_gone()
    return code


def _run(argv: list[str] | None, target_factory: TargetFactory | None) -> int:
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(words)
    try:
        args, extra = parser.parse_known_args(words)
        if extra and not getattr(args, "accepts_anything", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler = getattr(args, "func", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if target_factory is None:
        from mqtt_actions_cli.target import resolve_target

        target_factory = resolve_target
    factory = target_factory
    made: list[Target] = []

    def get_target() -> Target:
        if not made:
            made.append(factory(args))
        return made[0]

    args.get_target = get_target
    try:
        code: int = handler(args)
    except CliError as exc:
        return _report(args, exc.message, exc.problems, exc.hint, exc.exit_code)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        mapped = aws_error(exc)
        if mapped is None:
            raise
        return _report(args, mapped[0], [], mapped[1], EXIT_FAILED)
    return code


def _reader_gone() -> int:
    """The output's reader went away (`... | head`): stop quietly, as Unix tools do. stdout goes
    to /dev/null so that flushing it at exit raises nothing either (Python docs, "SIGPIPE")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return EXIT_BROKEN_PIPE


def _report(
    args: argparse.Namespace, message: str, problems: list[str], hint: str, code: int
) -> int:
    lines = [f"{PROG}: error: {message}"]
    lines += [f"  - {p}" for p in problems]
    if hint:
        lines.append(textwrap.indent(f"fix: {hint}", "  "))
    print("\n".join(lines), file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "problems": problems, "hint": hint}, indent=2))
    return code


def aws_error(exc: Exception) -> tuple[str, str] | None:
    """botocore's errors, said plainly with what to do; None for anything else."""
    if "botocore" not in sys.modules:  # then it cannot be one of its errors
        return None
    from botocore import exceptions as bce

    if isinstance(exc, bce.NoCredentialsError):
        return "no AWS credentials found", "run `aws configure` or set AWS_PROFILE"
    if isinstance(exc, bce.NoRegionError):
        return "no AWS region", "pass --region or set AWS_REGION"
    if isinstance(exc, bce.EndpointConnectionError):
        return f"cannot reach {exc.kwargs.get('endpoint_url', 'the AWS endpoint')}", (
            "for the local stack start it with `make run`; for AWS check your network and --region"
        )
    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        operation = getattr(exc, "operation_name", "the request")
        hint = (
            "your AWS credentials lack this permission; ask for it or use another profile"
            if "AccessDenied" in code or code == "UnauthorizedOperation"
            else ""
        )
        return f"AWS refused {operation}: {code}: {error.get('Message', '')}".rstrip(": "), hint
    if isinstance(exc, bce.BotoCoreError):
        return f"AWS client error: {exc}", ""
    return None


if __name__ == "__main__":  # `python -m mqtt_actions_cli.main`: the same Ctrl-C guard as the script
    from mqtt_actions_cli.entry import main as guarded

    sys.exit(guarded())
