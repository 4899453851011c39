"""Options every command shares, and the help texts' common parts."""

from __future__ import annotations

import argparse

TARGET_EPILOG = (
    "target: --local (default) acts on the stack `make run` started (control API on "
    "127.0.0.1:4567, or MQTT_ACTIONS_CONTROL_PORT); --stack NAME acts on a deployed "
    "CloudFormation stack, found by its outputs, with your AWS credentials."
)


def shared_options() -> argparse.ArgumentParser:
    """A parent parser with --json, --local, --stack and --region (add it with `parents=[...]`)."""
    parent = argparse.ArgumentParser(add_help=False)
    output = parent.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    target = parent.add_argument_group("target")
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
    return parent


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
    return subparsers.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        parents=[shared_options()],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
