"""Entry point of the `mqtt-actions` command."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("mqtt-actions: not implemented yet", file=sys.stderr)
    return 2
