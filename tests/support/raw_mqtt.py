"""A bare MQTT 3.1.1 client on a plain socket, for what paho will not do on purpose: stay silent
past its keep-alive, never PUBACK, send a second CONNECT, wait for an answer that must not come,
vanish right after a publish."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

CONNACK, PUBLISH, PUBACK, PUBREC, SUBACK, PINGRESP = 0x20, 0x30, 0x40, 0x50, 0x90, 0xD0
DISCONNECT = bytes([0xE0, 0])


def _string(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        digit, length = length % 128, length // 128
        encoded.append(digit | (0x80 if length else 0))
        if not length:
            return bytes([first]) + bytes(encoded) + body


def connect_packet(
    client_id: str,
    *,
    keepalive: int = 0,  # none: tests that want one say so
    clean: bool = True,
    will: tuple[str, bytes] | None = None,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    flags = (0x02 if clean else 0) | (0x04 if will else 0)
    flags |= (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    payload = _string(client_id) + (_string(will[0]) + _string(will[1]) if will else b"")
    payload += _string(username) if username is not None else b""
    payload += _string(password) if password is not None else b""
    return _packet(
        0x10, _string("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + payload
    )


@dataclass
class Packet:
    kind: int  # the first byte's high nibble, as 0x30 for PUBLISH
    flags: int
    body: bytes

    @property
    def topic(self) -> str:
        (size,) = struct.unpack("!H", self.body[:2])
        return self.body[2 : 2 + size].decode()

    @property
    def packet_id(self) -> int:
        start = 2 + struct.unpack("!H", self.body[:2])[0] if self.kind == PUBLISH else 0
        (packet_id,) = struct.unpack("!H", self.body[start : start + 2])
        return int(packet_id)

    @property
    def payload(self) -> bytes:
        size = 2 + struct.unpack("!H", self.body[:2])[0]
        return self.body[size + (2 if self.flags & 0x06 else 0) :]


class RawClient:
    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def connect(self, client_id: str, **options: object) -> Packet:
        self.send(connect_packet(client_id, **options))  # type: ignore[arg-type]
        connack = self.read()
        assert connack is not None, "no CONNACK: the broker closed the connection"
        assert connack.kind == CONNACK, connack
        assert connack.body[1] == 0, f"CONNACK return code {connack.body[1]}"
        return connack

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def subscribe(self, topic: str, qos: int, packet_id: int = 1) -> None:
        self.send(_packet(0x82, struct.pack("!H", packet_id) + _string(topic) + bytes([qos])))

    def publish(self, topic: str, payload: bytes, qos: int = 0, packet_id: int = 1) -> None:
        body = _string(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
        self.send(_packet(0x30 | (qos << 1), body))

    def puback(self, packet_id: int) -> None:
        self.send(_packet(0x40, struct.pack("!H", packet_id)))

    def ping(self) -> None:
        self.send(bytes([0xC0, 0]))

    def read(self, timeout: float | None = None) -> Packet | None:
        """The next packet, or None when the broker closed the connection."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        first = self._exactly(1)
        if not first:
            return None
        length, shift = 0, 0
        while True:
            (digit,) = self._exactly(1) or b"\0"
            length |= (digit & 0x7F) << shift
            shift += 7
            if not digit & 0x80:
                break
        return Packet(first[0] & 0xF0, first[0] & 0x0F, self._exactly(length))

    def closed_by_broker(self, timeout: float) -> bool:
        """True when the broker closes the connection within `timeout` s (packets it sends
        before that are skipped)."""
        self.sock.settimeout(timeout)
        try:
            while self.read() is not None:
                pass
        except (TimeoutError, OSError):
            return False
        return True

    def _exactly(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            try:
                chunk = self.sock.recv(size - len(data))
            except ConnectionResetError:
                return b""
            if not chunk:
                return b""
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()
