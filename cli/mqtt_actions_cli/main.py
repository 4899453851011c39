"""Entry point of the `mqtt-actions` command.

Minimal for now: only `local` is wired (the other commands come with the CLI issue, which replaces
this file and registers `local` through `add_local_parser`)."""

from __future__ import annotations

import argparse

from mqtt_actions_cli.local import add_local_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mqtt-actions", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_local_parser(subparsers)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
