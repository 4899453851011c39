"""Check that a venv holds exactly the versions its constraints file pins.

Run with the venv's own Python: `VENV/bin/python scripts/check_pins.py CONSTRAINTS`. Exits 1 and
lists every difference: a pinned package installed at another version, or an installed package
the file does not pin (the editable project itself and the installers are not pins). uv and pip
must give the same venv from the same pins; this is the check that they did.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

# Installed by the venv tooling itself, or the project under development: not pinned.
NOT_PINNED = frozenset({"mqtt-actions", "pip", "setuptools", "wheel"})
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def normalise(name: str) -> str:
    """PEP 503 name normalisation: `Foo_Bar.baz` and `foo-bar-baz` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(text: str) -> dict[str, str]:
    """`name==version` lines of a constraints file; comments, options and blanks are skipped."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[normalise(match[1])] = match[2]
    return pins


def differences(pins: dict[str, str], installed: dict[str, str]) -> list[str]:
    """Each way the installed versions differ from the pins, worded for the reader."""
    problems = [
        f"{name}: pinned {pins[name]}, installed {version}"
        for name, version in sorted(installed.items())
        if name in pins and pins[name] != version
    ]
    problems += [
        f"{name} {version}: installed but not pinned (run `make lock`)"
        for name, version in sorted(installed.items())
        if name not in pins and name not in NOT_PINNED
    ]
    return problems


def installed_versions() -> dict[str, str]:
    return {normalise(d.metadata["Name"]): d.version for d in metadata.distributions()}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: VENV/bin/python scripts/check_pins.py CONSTRAINTS", file=sys.stderr)
        return 2
    problems = differences(read_pins(Path(argv[0]).read_text()), installed_versions())
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
