"""The local broker's front door: read a connection's first packet before amqtt does, so that a
client speaking a protocol amqtt does not (MQTT 5, MQTT 3.1) gets an answer at once.

amqtt 0.12.1 speaks MQTT 3.1.1 only. It parses an MQTT 5 CONNECT as 3.1.1 and waits for bytes
that never come (the client hangs without a CONNACK), and closes an MQTT 3.1 (`MQIsdp`) connection
without one. Here both get CONNACK return code 1, "unacceptable protocol version" (MQTT 3.1.1
§3.1.2.2): it is how a 3.1.1-only broker answers, and MQTT 5 clients know it (mosquitto_pub
2.0.11 -V mqttv5 says "Unsupported Protocol Version. Try connecting to an MQTT v5 broker, or use
MQTT v3.x mode."). Everything else goes to amqtt unchanged: the bytes read here are handed back
in front of the stream.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from amqtt.adapters import StreamReaderAdapter

CONNECT: Final = 0x10
SUPPORTED_LEVEL: Final = 4  # MQTT 3.1.1
CONNACK_UNACCEPTABLE_PROTOCOL: Final = bytes([0x20, 0x02, 0x00, 0x01])
CONNACK_NOT_AUTHORIZED: Final = bytes([0x20, 0x02, 0x00, 0x05])  # MQTT 3.1.1 §3.2.2.3
MAX_CONNECT: Final = 512 * 1024  # larger "CONNECT"s are left to amqtt to refuse
PROTOCOLS: Final = {(b"MQIsdp", 3): "MQTT 3.1", (b"MQTT", 4): "MQTT 3.1.1", (b"MQTT", 5): "MQTT 5"}


@dataclass(frozen=True)
class FirstPacket:
    """The bytes of a connection's first packet, and what its CONNECT says (when it is one)."""

    raw: bytes
    protocol_name: bytes | None = None
    protocol_level: int | None = None
    client_id: str | None = None
    # MQTT 3.1.1's CONNECT payload, when it has them (--auth tokens checks them here).
    username: str | None = None
    password: bytes | None = None

    @property
    def unsupported(self) -> bool:
        """A CONNECT for a protocol level the local broker does not speak."""
        return self.protocol_level is not None and self.protocol_level != SUPPORTED_LEVEL

    @property
    def protocol(self) -> str:
        name, level = self.protocol_name or b"?", self.protocol_level
        return PROTOCOLS.get(
            (name, level or 0), f"protocol {name.decode(errors='replace')!r} level {level}"
        )


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """An MQTT variable byte integer at `at`: (value, index after it); ValueError if malformed."""
    value, shift = 0, 0
    for index in range(at, min(at + 4, len(data))):
        value |= (data[index] & 0x7F) << shift
        if not data[index] & 0x80:
            return value, index + 1
        shift += 7
    raise ValueError("malformed variable byte integer")


def _string(data: bytes, at: int) -> tuple[bytes, int]:
    if at + 2 > len(data):
        raise ValueError("truncated string")
    end = at + 2 + int.from_bytes(data[at : at + 2], "big")
    if end > len(data):
        raise ValueError("truncated string")
    return data[at + 2 : end], end


def parse_connect(body: bytes) -> tuple[bytes, int, str | None]:
    """(protocol name, protocol level, client id or None) of a CONNECT's variable header and
    payload, for MQTT 3.1, 3.1.1 and 5 (5 has properties before the payload)."""
    name, at = _string(body, 0)
    if at + 4 > len(body):
        raise ValueError("truncated CONNECT")
    level = body[at]
    at += 4  # level, flags, keep alive
    try:
        if level == 5:
            length, at = _varint(body, at)
            at += length
        client_id, _ = _string(body, at)
    except ValueError:
        return name, level, None
    return name, level, client_id.decode("utf-8", errors="replace")


def parse_credentials(body: bytes) -> tuple[str | None, bytes | None]:
    """(username, password) of an MQTT 3.1.1 CONNECT's variable header and payload (§3.1.3:
    client id, Will topic and message when the Will flag is set, username, password); (None,
    None) for anything malformed."""
    try:
        _name, at = _string(body, 0)
        if at + 4 > len(body):
            return None, None
        flags = body[at + 1]
        at += 4
        _client_id, at = _string(body, at)
        if flags & 0x04:  # Will flag: topic, then message
            _topic, at = _string(body, at)
            _message, at = _string(body, at)
        username = password = None
        if flags & 0x80:
            raw, at = _string(body, at)
            username = raw.decode("utf-8", errors="replace")
        if flags & 0x40:
            password, at = _string(body, at)
    except ValueError:
        return None, None
    return username, password


async def read_first_packet(reader: asyncio.StreamReader) -> FirstPacket:
    """The first packet's bytes (whole, when it is a CONNECT of sane size); raises
    asyncio.IncompleteReadError / ConnectionError when the client goes away first."""
    head = await reader.readexactly(1)
    if head[0] & 0xF0 != CONNECT:
        return FirstPacket(raw=head)
    for _ in range(4):
        head += await reader.readexactly(1)
        if not head[-1] & 0x80:
            break
    try:
        length, _ = _varint(head, 1)
    except ValueError:
        return FirstPacket(raw=head)
    if length > MAX_CONNECT:
        return FirstPacket(raw=head)
    body = await reader.readexactly(length)
    try:
        name, level, client_id = parse_connect(body)
    except ValueError:
        return FirstPacket(raw=head + body)
    username, password = parse_credentials(body) if level == SUPPORTED_LEVEL else (None, None)
    return FirstPacket(head + body, name, level, client_id, username, password)


class ReplayingReader(StreamReaderAdapter):  # type: ignore[misc]
    """amqtt's stream adapter that first hands out the bytes the gate already read."""

    def __init__(self, reader: asyncio.StreamReader, already_read: bytes) -> None:
        super().__init__(reader)
        self._pending = already_read

    async def read(self, n: int = -1) -> bytes:
        if not self._pending:
            return bytes(await super().read(n))
        if n == -1 or n >= len(self._pending):
            data, self._pending = self._pending, b""
            if n not in (-1, len(data)):
                data += await super().read(n - len(data))
            return data
        data, self._pending = self._pending[:n], self._pending[n:]
        return data
