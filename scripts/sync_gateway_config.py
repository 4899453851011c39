"""Copy the gateway's HAProxy configuration into template.yaml.

The ECS task of the legacy-port gateway (LegacyGateway=Enabled) gets HAProxy's configuration
in its HAPROXY_CONFIG environment variable: CloudFormation cannot read a file of the
repository, so template.yaml holds the text of cli/mqtt_actions_cli/gateway/haproxy.cfg, byte
for byte (tests/unit/test_template_gateway.py fails when they differ). After editing
haproxy.cfg, run `python scripts/sync_gateway_config.py` (`--check` only reports).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
CONFIG = ROOT / "cli" / "mqtt_actions_cli" / "gateway" / "haproxy.cfg"
MARKER = "- Name: HAPROXY_CONFIG"


def synced(template: str, config: str) -> str:
    """template.yaml's text with the HAPROXY_CONFIG block scalar holding `config`."""
    lines = template.split("\n")
    start = next(i for i, line in enumerate(lines) if line.strip() == MARKER)
    value = start + 1
    if lines[value].strip() != "Value: |":
        raise SystemExit(f"template.yaml line {value + 1}: expected 'Value: |' after {MARKER}")
    indent = len(lines[value]) - len(lines[value].lstrip()) + 2
    end = value + 1
    while end < len(lines) and (
        not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) >= indent
    ):
        end += 1
    while end > value + 1 and not lines[end - 1].strip():
        end -= 1  # blank lines after the block belong to the YAML around it
    body = [(" " * indent + line) if line else "" for line in config.rstrip("\n").split("\n")]
    return "\n".join([*lines[: value + 1], *body, *lines[end:]])


def main(argv: list[str]) -> int:
    template = TEMPLATE.read_text(encoding="utf-8")
    wanted = synced(template, CONFIG.read_text(encoding="utf-8"))
    if wanted == template:
        return 0
    if "--check" in argv:
        print("template.yaml's HAPROXY_CONFIG differs from haproxy.cfg: run this script")
        return 1
    TEMPLATE.write_text(wanted, encoding="utf-8")
    print("template.yaml: HAPROXY_CONFIG updated from haproxy.cfg")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
