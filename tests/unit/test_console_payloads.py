"""How the console shows a payload: text when it is text, else hex and base64 with the length
(never U+FFFD for bytes that are not text)."""

from __future__ import annotations

import base64

import pytest

from mqtt_actions.text import printable
from mqtt_actions_cli.console import payloads


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        pytest.param(b"21.5", "21.5", id="ascii"),
        pytest.param("°C ✓".encode(), "°C ✓", id="utf-8"),
        pytest.param(b"a\tb\r\nc", "a\tb\r\nc", id="tab and newlines are text"),
        pytest.param(b"", "", id="empty is text"),
        pytest.param(b"\xff\xfe", None, id="not utf-8"),
        pytest.param(b"\xc3", None, id="cut utf-8"),
        pytest.param(b"\x00\x01\x02", None, id="valid utf-8 but control bytes"),
        pytest.param("a\x85b".encode(), None, id="a C1 control"),
        pytest.param(b"x\x7f", None, id="DEL"),
    ],
)
def test_printable(raw: bytes, text: str | None) -> None:
    assert printable(raw) == text


def test_bytes_are_shown_as_hex_and_base64_with_their_length() -> None:
    raw = bytes([0x00, 0xFF, 0x41, 0x80])
    shown = payloads.view(raw)
    assert shown.binary
    assert shown.size == 4
    assert shown.base64 == base64.b64encode(raw).decode()
    assert shown.hexdump == "00000000  00 ff 41 80" + " " * 38 + "..A."
    assert "\ufffd" not in shown.hexdump


def test_json_text_is_pretty() -> None:
    shown = payloads.view(b'{"value":7}')
    assert (shown.binary, shown.text, shown.pretty) == (False, '{"value":7}', '{\n  "value": 7\n}')


def test_a_long_payload_hex_is_cut_but_its_base64_is_whole() -> None:
    raw = bytes(range(256)) * 20
    shown = payloads.view(raw)
    assert shown.hexdump.endswith("\n…")
    assert base64.b64decode(shown.base64) == raw


@pytest.mark.parametrize("encoded", [None, "not base64!"])
def test_no_payload(encoded: str | None) -> None:
    assert payloads.from_base64(encoded) is None
