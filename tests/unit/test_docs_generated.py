"""The documentation site's reference pages are generated from the code (scripts/gen_docs.py):
regenerated here and compared, so a new option, field or parameter without `make docs-gen` fails."""

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _gen_docs()


@pytest.mark.parametrize("name", sorted(GEN.PAGES))
def test_the_generated_reference_page_matches_the_code(name: str) -> None:
    committed = (GEN.OUT / name).read_text()
    page = (GEN.OUT / name).resolve().relative_to(ROOT)
    assert GEN.PAGES[name]() == committed, f"{page} is stale: run `make docs-gen`"


def test_every_command_is_in_the_cli_reference() -> None:
    from mqtt_actions_cli.main import build_parser

    page = GEN.cli_page()
    for _, parser in GEN._walk(build_parser()):
        assert f"`{parser.prog}`" in page


def test_every_template_parameter_is_in_its_page() -> None:
    from mqtt_actions_cli.cfn import load_template

    page = GEN.template_page()
    for name in load_template(ROOT / "template.yaml")["Parameters"]:
        assert f"| `{name}` |" in page
