"""What the local broker does where IoT Core and plain MQTT 3.1.1 differ (pure, no I/O).

By default the local broker behaves as AWS documents IoT Core's message broker; `--spec-broker`
(`BrokerRules(iot_core=False)`) restores plain MQTT 3.1.1 for a user who wants it. Each rule
names the AWS page it comes from; README "Local stack vs IoT Core" lists them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

# general/latest/gr/iot-core.html#message-broker-limits: keep-alive 30-1,200 s, a smaller value
# counts as 30, 0 means the default 1,200 s; developerguide/life-cycle-events.html: no packet for
# 1.5 x keep-alive -> MQTT_KEEP_ALIVE_TIMEOUT.
KEEPALIVE_MIN: Final = 30
KEEPALIVE_MAX: Final = 1_200
KEEPALIVE_FACTOR: Final = 1.5  # also MQTT 3.1.1 §3.1.2.10 ("one and a half times")
# developerguide/mqtt.html#mqtt-persistent-sessions: "In MQTT 3, the default value of persistent
# sessions expiration time is an hour".
SESSION_EXPIRY_S: Final = 3_600.0
# An unacknowledged QoS 1 delivery to a connected client is kept this long, then dropped: older
# editions of AWS's message broker limits said one hour; the current pages say nothing.
QOS1_RETRY_S: Final = 3_600.0

# developerguide/reserved-topics.html: "Topics that begin with a dollar sign ($) are reserved
# ... Unsupported publish or subscribe operations to reserved topics can result in a terminated
# connection." The topics a device may publish to (shadow, jobs, Device Defender, fleet
# provisioning, Basic Ingest):
_PUBLISHABLE_RESERVED: Final = re.compile(
    r"^\$aws/(things/[^/#+]+/(shadow|jobs|defender|tunnels)/.+"
    r"|rules/[^/#+]+/.+"
    r"|certificates/create(-from-csr)?/(json|cbor)"
    r"|provisioning-templates/[^/#+]+/provision/(json|cbor))$"
)


@dataclass(frozen=True)
class BrokerRules:
    """`iot_core`: apply IoT Core's documented behaviour (default) or plain MQTT 3.1.1.
    `time_scale`: multiplies every broker timer (keep-alive, session expiry, QoS 1 retry);
    tests use it to see a 45 s keep-alive expire in 4.5 s. 1.0 everywhere else."""

    iot_core: bool = True
    time_scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.time_scale <= 1:
            msg = f"time_scale must be in (0, 1], got {self.time_scale}"
            raise ValueError(msg)

    def keepalive_timeout(self, keepalive: int) -> float | None:
        """Seconds without a packet from the client after which the broker closes the
        connection. Keep-alive 0 switches it off in MQTT 3.1.1 (None: never); IoT Core uses its
        default, 1,200 s, when a client asks for 0 (message-broker-limits: "The default keep-alive
        interval of 1200 seconds is used when a client requests a keep-alive interval of zero"),
        so a silent device that asked for 0 still has its Will sent."""
        if self.iot_core:
            keepalive = KEEPALIVE_MAX if keepalive <= 0 else keepalive
            keepalive = min(max(keepalive, KEEPALIVE_MIN), KEEPALIVE_MAX)
        elif keepalive <= 0:
            return None
        return KEEPALIVE_FACTOR * keepalive * self.time_scale

    @property
    def session_expiry(self) -> float | None:
        """Seconds a disconnected persistent session is kept (None: forever, as MQTT 3.1.1)."""
        return SESSION_EXPIRY_S * self.time_scale if self.iot_core else None

    @property
    def qos1_retry(self) -> float:
        return QOS1_RETRY_S * self.time_scale

    def refuses_qos2(self) -> bool:
        """IoT Core: "When QoS level 2 is requested, the message broker doesn't send a PUBACK
        or SUBACK" (developerguide/mqtt.html#mqtt-differences)."""
        return self.iot_core

    def publish_to_reserved(self, topic: str) -> bool | None:
        """For a PUBLISH from a client on `topic`: None when the topic is not reserved (does not
        start with `$`), True when the broker takes it, False when it closes the connection."""
        if not topic.startswith("$"):
            return None
        if not self.iot_core:
            return True  # MQTT 3.1.1 §4.7.2: servers may take it; wildcards never match it
        return bool(_PUBLISHABLE_RESERVED.match(topic))

    def retained_on_subscribe(self, topic_filter: str) -> bool:
        """May a subscription to `topic_filter` receive retained messages? IoT Core: only an
        exact topic, never a wildcard filter (developerguide/mqtt.html#mqtt-retain)."""
        return not self.iot_core or ("+" not in topic_filter and "#" not in topic_filter)

    def hash_matches_parent(self) -> bool:
        """Does `a/#` match `a`? MQTT 3.1.1 §4.7.1.2: yes. IoT Core: "a subscription to
        sensor/# receives messages published to ... but not messages published to sensor"
        (developerguide/mqtt.html#mqtt-differences)."""
        return not self.iot_core
