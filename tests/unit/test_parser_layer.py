"""V8 ships in ParserLayer, which only the router carries, at the version the tests run."""

from __future__ import annotations

from pathlib import Path

from mqtt_actions_cli.cfn import load_template

ROOT = Path(__file__).resolve().parents[2]


def _pins(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(
        line.split("#")[0].strip().split("==") for line in lines if "==" in line.split("#")[0]
    )


def test_only_the_router_carries_the_parser_layer() -> None:
    resources = load_template()["Resources"]
    layer = resources["ParserLayer"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    carrying = sorted(
        name
        for name, res in resources.items()
        if res["Type"] == "AWS::Serverless::Function"
        and {"Ref": "ParserLayer"} in res["Properties"].get("Layers", [])
    )
    assert carrying == ["RouterFunction"]


def test_the_parser_layer_pins_the_tested_mini_racer() -> None:
    layer = _pins(ROOT / "layers" / "parser" / "requirements.txt")
    assert layer == {"mini-racer": _pins(ROOT / "constraints.txt")["mini-racer"]}
    assert "mini-racer" not in _pins(ROOT / "layers" / "core" / "requirements.txt")
    assert "build-ParserLayer:" in (ROOT / "layers" / "parser" / "Makefile").read_text()
