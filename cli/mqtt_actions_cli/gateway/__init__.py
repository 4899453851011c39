"""The legacy-port gateway's configuration: one HAProxy file (haproxy.cfg, next to this module)
rendered from values, the same on AWS (template.yaml's ECS task, LegacyGateway=Enabled) and in
the local stack (`mqtt-actions local`). HAProxy reads the values from its environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

CONFIG: Final = Path(__file__).with_name("haproxy.cfg")
HEALTH_PATH: Final = "/health"
ALPN: Final = "mqtt"


@dataclass(frozen=True)
class GatewayValues:
    """What haproxy.cfg needs; each becomes one GATEWAY_* environment variable."""

    bind: str  # where devices connect, e.g. ":1883" or "127.0.0.1:1884"
    health_bind: str  # where GET /health is answered
    target: str  # host:port of the token endpoint
    sni: str  # the domain configuration's domain name (SNI and the verified name)
    ca_file: str  # the CAs the endpoint's certificate must chain to
    maxconn: int = 4096

    def environment(self) -> dict[str, str]:
        return {
            "GATEWAY_BIND": self.bind,
            "GATEWAY_HEALTH_BIND": self.health_bind,
            "GATEWAY_TARGET": self.target,
            "GATEWAY_SNI": self.sni,
            "GATEWAY_CA_FILE": self.ca_file,
            "GATEWAY_MAXCONN": str(self.maxconn),
        }


def config_text() -> str:
    """haproxy.cfg as it is in the repository (template.yaml embeds exactly this text)."""
    return CONFIG.read_text(encoding="utf-8")
