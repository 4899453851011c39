"""The hex device of hex_buffer.js, parsed in Python: parse(payload, device) returns the points."""

import struct


def parse(payload, device):
    raw = next((p for p in payload if p.get("variable") == "payload"), None)
    if raw is None:
        return payload
    version, temperature, humidity = struct.unpack(">bhH", bytes.fromhex(raw["value"]))
    print("received", len(raw["value"]) // 2, "bytes on", raw["metadata"]["mqtt_topic"])
    return [
        {"variable": "protocol_version", "value": version},
        {"variable": "temperature", "value": temperature / 100, "unit": "°C"},
        {"variable": "humidity", "value": humidity / 100, "unit": "%"},
    ]
