"""scripts/check_pins.py: the venvs hold exactly what the constraints files pin."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.check_pins import differences, installed_versions, normalise, read_pins

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("line", "pins"),
    [
        ("boto3==1.44.8", {"boto3": "1.44.8"}),
        ("Foo_Bar.baz==1.0", {"foo-bar-baz": "1.0"}),
        ("moto[server,iot]==5.2.5", {"moto": "5.2.5"}),
        ("pydantic == 2.14.4  # via -r layers/core/requirements.txt", {"pydantic": "2.14.4"}),
        ("x==1; python_version >= '3.13'", {"x": "1"}),
        ("# a comment", {}),
        ("-r requirements.txt", {}),
        ("boto3>=1.40", {}),
        ("", {}),
    ],
)
def test_read_pins(line: str, pins: dict[str, str]) -> None:
    assert read_pins(line) == pins


@pytest.mark.parametrize(
    ("installed", "problems"),
    [
        ({"a": "1"}, []),
        ({"a": "2"}, ["a: pinned 1, installed 2"]),
        ({"a": "1", "b": "3"}, ["b 3: installed but not pinned (run `make lock`)"]),
        ({"a": "1", "pip": "25", "mqtt-actions": "0.1.0", "setuptools": "80"}, []),
    ],
)
def test_differences(installed: dict[str, str], problems: list[str]) -> None:
    assert differences({"a": "1"}, installed) == problems


def test_names_are_normalised_as_pep_503_says() -> None:
    assert normalise("Typing_Extensions") == normalise("typing.extensions") == "typing-extensions"


def test_this_venv_holds_exactly_the_pins() -> None:
    pins = read_pins((ROOT / "constraints.txt").read_text())
    assert differences(pins, installed_versions()) == []
