"""Options every command shares, and the help texts' common parts."""

from __future__ import annotations

import argparse
import textwrap

TARGET_EPILOG = textwrap.fill(
    "target: --local (default) acts on the stack `make run` started (control API on "
    "127.0.0.1:4567, or MQTT_ACTIONS_CONTROL_PORT); --stack NAME acts on a deployed "
    "CloudFormation stack, found by its outputs, with your AWS credentials.",
    width=88,
)


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """--json, --local, --stack NAME, --region REGION; those the parser has already are kept."""
    have = set(parser._option_string_actions)
    if "--json" not in have:
        output = parser.add_argument_group("output")
        output.add_argument(
            "--json", action="store_true", help="print machine-readable JSON on stdout"
        )
    if have & {"--local", "--stack", "--region"}:
        return
    target = parser.add_argument_group("target")
    where = target.add_mutually_exclusive_group()
    where.add_argument(
        "--local",
        action="store_true",
        help="the running local stack (`make run`); the default",
    )
    where.add_argument(
        "--stack", metavar="NAME", help="a deployed CloudFormation stack, found by its outputs"
    )
    target.add_argument(
        "--region", metavar="REGION", help="the stack's AWS region (default: your AWS config)"
    )


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    summary: str,
    description: str,
    examples: str,
    target: bool = True,
) -> argparse.ArgumentParser:
    """A subcommand whose --help teaches: what it does, then examples."""
    epilog = "examples:\n" + examples.strip("\n")
    if target:
        epilog += "\n\n" + TARGET_EPILOG
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if target:
        add_target_options(parser)
    else:  # a command that reaches no stack (e.g. a file conversion) has --json only
        parser.add_argument_group("output").add_argument(
            "--json", action="store_true", help="print machine-readable JSON on stdout"
        )
    return parser


def with_examples(parser: argparse.ArgumentParser, examples: str, *, target: bool) -> None:
    """Examples (and the target note) under a parser's help, its description wrapped."""
    parser.epilog = "examples:\n" + examples.strip("\n")
    if target:
        parser.epilog += "\n\n" + TARGET_EPILOG
        add_target_options(parser)
    if parser.description and "\n" not in parser.description:  # raw from here on: wrap it
        parser.description = textwrap.fill(parser.description, width=88)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
