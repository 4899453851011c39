"""Payload parsers in their engines: TagoIO-style JavaScript in V8 (with the npm `buffer` package
as Buffer) and Python in its worker, on the points `wrap_payload` gives; the hostile ones stopped
or refused with an error that says why, and the engine still serving the next run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.parsers import (
    Parser,
    ParserError,
    ParserLimits,
    device_context,
    language_of,
    run_parser,
)
from mqtt_actions.parsers.registry import CachedParsers, parser_of, parser_settings
from mqtt_actions.payload import wrap_payload

PARSERS = Path(__file__).resolve().parents[1] / "data" / "parsers"
TOPIC = "site/kitchen/telemetry"
DEVICE = device_context("sensor-01", [("site", "lisbon")], [{"key": "offset", "value": "1.5"}])
FAST = ParserLimits(timeout_seconds=0.5)
TAGOIO = ParserLimits()  # 2 s, 32 MB


def parser(name: str) -> Parser:
    path = PARSERS / name
    return Parser(language_of(name), path.read_text(encoding="utf-8"), name)


def parse(name: str, raw: bytes, limits: ParserLimits = TAGOIO) -> Any:
    return run_parser(parser(name), wrap_payload(raw, TOPIC), DEVICE, limits)


def test_hex_decoded_with_buffer() -> None:
    run = parse("hex_buffer.js", b"0109611395")

    assert [(p["variable"], p["value"], p.get("unit")) for p in run.points] == [
        ("protocol_version", 1, None),
        ("temperature", 24.01, "°C"),
        ("humidity", 50.13, "%"),
    ]
    assert {p["metadata"]["mqtt_topic"] for p in run.points} == {TOPIC}
    assert len({p["group"] for p in run.points}) == 1
    assert run.logs == [f"received 5 bytes on {TOPIC}"]


def test_negative_temperatures_are_read_as_signed() -> None:
    run = parse("hex_buffer.js", b"01F63C1395")  # 0xF63C = -2500

    assert run.points[1]["value"] == -25.0


def test_json_normalised_with_the_mqtt_topic() -> None:
    run = parse("json_normalise.js", b'{"temp": 21.5, "hum": 40, "bat": 3.1}')

    assert run.points == [
        {"variable": "temperature", "value": 21.5, "unit": "°C", "metadata": {"room": "kitchen"}},
        {"variable": "humidity", "value": 40, "unit": "%", "metadata": {"room": "kitchen"}},
        {"variable": "battery", "value": 3.1, "unit": "V", "metadata": {"room": "kitchen"}},
    ]


def test_unit_conversion_keeps_the_other_points() -> None:
    raw = b'[{"variable": "temperature", "value": 212, "unit": "F"}, {"variable": "door", "value": "open"}]'  # noqa: E501
    run = parse("unit_conversion.js", raw)

    assert [(p["variable"], p["value"], p.get("unit")) for p in run.points] == [
        ("temperature", 100, "°C"),
        ("door", "open", None),
    ]


def test_filtering_variables_out() -> None:
    raw = b'[{"variable": "temperature", "value": 20}, {"variable": "rssi", "value": -90}, {"variable": "snr", "value": 7}]'  # noqa: E501
    run = parse("filter_variables.js", raw)

    assert [p["variable"] for p in run.points] == ["temperature"]


def test_a_variable_from_a_device_parameter_and_a_tag() -> None:
    run = parse("device_param.js", b'{"variable": "temperature", "value": 20, "unit": "C"}')

    assert [(p["variable"], p.get("value")) for p in run.points] == [
        ("temperature", 20),
        ("temperature_calibrated", 21.5),
        ("site", "lisbon"),
    ]


def test_python_parser_gives_the_same_points_as_the_javascript_one() -> None:
    run = parse("hex_struct.py", b"0109611395")

    assert [(p["variable"], p["value"]) for p in run.points] == [
        ("protocol_version", 1),
        ("temperature", 24.01),
        ("humidity", 50.13),
    ]
    assert run.logs == [f"received 5 bytes on {TOPIC}"]


@pytest.mark.parametrize(
    ("name", "kind", "message", "logs"),
    [
        ("hostile_loop.js", "timeout", "time limit of 0.5 s", ["starting to spin"]),
        ("hostile_require.js", "threw", 'require("fs") is not available', []),
        (
            "hostile_garbage.js",
            "garbage",
            "result is a number",
            ["returning a number instead of data points"],
        ),
        (
            "hostile_throw.js",
            "threw",
            "Error: unknown frame type 0109 (line 3)",
            ["about to fail on 0109"],
        ),
    ],
)
def test_hostile_javascript_fails_cleanly_and_the_next_run_works(
    name: str, kind: str, message: str, logs: list[str]
) -> None:
    with pytest.raises(ParserError) as failure:
        parse(name, b"0109", FAST)

    assert failure.value.kind == kind
    assert message in failure.value.message
    assert failure.value.logs == logs
    assert parse("hex_buffer.js", b"0109611395").points[1]["value"] == 24.01


@pytest.mark.parametrize(
    ("source", "kind", "message"),
    [
        ("def parse(payload, device):\n    while True:\n        pass\n", "timeout", "time limit"),
        (
            "def parse(payload, device):\n    return open('/etc/passwd').read()\n",
            "threw",
            "no file access (line 2)",
        ),
        (
            "import socket\n\ndef parse(payload, device):\n"
            "    socket.create_connection(('192.0.2.1', 80))\n",
            "threw",
            "no network",
        ),
        (
            "import os\n\ndef parse(payload, device):\n    os.system('true')\n",
            "threw",
            "os.system refused",
        ),
        ("def parse(payload, device):\n    return 'hello'\n", "garbage", "result is text"),
        ("def parse(payload, device):\n    return [b'x']\n", "garbage", "not JSON"),
        (
            "def parse(payload, device):\n    raise ValueError('bad frame')\n",
            "threw",
            "ValueError: bad frame (line 2)",
        ),
        ("parse = = 1\n", "invalid", "SyntaxError"),
        ("x = 1\n", "threw", "defines no function parse"),
        ("def parse(payload, device):\n    return bytearray(1 << 30)\n", "memory", "MemoryError"),
    ],
)
def test_hostile_python_fails_cleanly_and_the_next_run_works(
    source: str, kind: str, message: str
) -> None:
    with pytest.raises(ParserError) as failure:
        run_parser(Parser("python", source, "bad.py"), wrap_payload(b"01", TOPIC), DEVICE, FAST)

    assert failure.value.kind == kind
    assert message in failure.value.message
    assert parse("hex_struct.py", b"0109611395").points[1]["value"] == 24.01


@pytest.mark.parametrize(
    ("body", "kind", "logs"),
    [
        (
            "    print('starting to spin')\n    while True:\n        pass\n",
            "timeout",
            ["starting to spin"],
        ),
        (
            "    print('one')\n    print('two', end='')\n    raise ValueError('bad frame')\n",
            "threw",
            ["one", "two"],
        ),
        ("    print('about to hog')\n    return bytearray(1 << 30)\n", "memory", ["about to hog"]),
    ],
)
def test_what_a_failing_python_parser_printed_is_kept(
    body: str, kind: str, logs: list[str]
) -> None:
    """A parser stopped at its time limit kept nothing it printed (the lines came with the
    answer, and a stopped parser gives none): they now come as they are printed."""
    source = "def parse(payload, device):\n" + body
    with pytest.raises(ParserError) as failure:
        run_parser(Parser("python", source, "bad.py"), wrap_payload(b"01", TOPIC), DEVICE, FAST)

    assert failure.value.kind == kind
    assert failure.value.logs == logs


def test_memory_limit_stops_a_javascript_parser() -> None:
    hog = Parser("javascript", "const a = []; while (true) a.push(new Array(1e6).fill(1.5));")

    with pytest.raises(ParserError) as failure:
        run_parser(hog, [], DEVICE, ParserLimits(timeout_seconds=20, memory_mb=32))

    assert failure.value.kind == "memory"
    assert "32 MB" in failure.value.message


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("this is not javascript", "SyntaxError"),
        ("payload = [{ value: 1 }]", "point 0 has no variable"),
        ("payload = [1, 2]", "point 0 is a number"),
        ("payload = [{ variable: 'x', value: 1n }]", "cannot be written as JSON"),
        ("payload = { variable: 'x', value: 0 / 0 }", None),  # NaN becomes null in JSON
    ],
)
def test_javascript_results_that_are_not_data_points(source: str, message: str | None) -> None:
    js = Parser("javascript", source, "p.js")
    if message is None:
        assert run_parser(js, [], DEVICE).points == [{"variable": "x", "value": None}]
        return
    with pytest.raises(ParserError, match=message):
        run_parser(js, [], DEVICE)


def test_parsers_do_not_share_globals() -> None:
    first = Parser("javascript", "globalThis.leak = 'a'; payload = [{variable: 'x', value: 1}]")
    second = Parser("javascript", "payload = [{variable: 'seen', value: typeof leak}]")

    run_parser(first, [], DEVICE)

    assert run_parser(second, [], DEVICE).points == [{"variable": "seen", "value": "undefined"}]


def test_the_file_extension_chooses_the_language() -> None:
    assert (language_of("a.js"), language_of("B.PY")) == ("javascript", "python")
    with pytest.raises(ValueError, match=r"\.js .* or \.py"):
        language_of("parser.ts")


class _Profile:
    def __init__(self, device: str, extra: dict[str, str]) -> None:
        self.device = device
        self.tags = [("site", "lisbon")]
        self.extra = extra

    def params_list(self) -> list[dict[str, Any]]:
        return [{"id": "1", "key": "offset", "value": "1.5", "sent": False}]


def test_the_registry_lookup_is_cached_until_the_registry_changes() -> None:
    js = parser("hex_buffer.js")
    profiles = {
        "sensor-01": _Profile("sensor-01", {k: v for k, v in parser_settings(js).items() if v})
    }
    reads: list[str] = []
    changed = [False]

    def get(device: str) -> _Profile | None:
        reads.append(device)
        return profiles.get(device)

    lookup = CachedParsers(get, ttl=30, clock=lambda: 0.0, changed=lambda: changed[0])

    found = lookup.for_device("sensor-01")
    assert found is not None
    assert found.parser == js
    assert found.device["params"][0]["key"] == "offset"
    assert found.device["tags"] == [{"key": "site", "value": "lisbon"}]
    assert lookup.for_device("sensor-01") == found
    assert lookup.for_device("other") is None
    assert reads == ["sensor-01", "other"]
    changed[0] = True
    lookup.for_device("sensor-01")
    assert reads == ["sensor-01", "other", "sensor-01"]
    assert parser_of(_Profile("x", {})) is None
