"""Payload parsers from the command line, against the device registry on moto: `devices set NAME
--parser FILE` (and `--tagged`, `--no-parser`), `devices show`, `devices parser test`, and the
router's lookup reading what the CLI stored."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mqtt_actions.adapters.device_profiles import DynamoDeviceProfiles
from mqtt_actions.parsers.registry import CachedParsers
from mqtt_actions_cli.target import Target
from tests.integration.cli_support import moto_target, run
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration

PARSERS = Path(__file__).resolve().parents[1] / "data" / "parsers"
HEX = PARSERS / "hex_buffer.js"


@pytest.fixture
def local(aws_env: Aws, capsys: pytest.CaptureFixture[str]) -> Target:
    target = moto_target(aws_env, DeviceTokensTableName=aws_env.tables["DeviceTokensTable"])
    for name, tag in (("th-1", "type=th-01"), ("th-2", "type=th-01"), ("door-1", "type=door")):
        made = run(capsys, ["devices", "create", name, "--token", "--tag", tag, "--json"], target)
        assert made.code == 0, made.err
    return target


def test_a_parser_is_attached_shown_tested_and_read_by_the_router(
    local: Target, aws_env: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["devices", "set", "th-1", "--parser", str(HEX)], local)
    assert ran.code == 0, ran.err
    assert "parser  hex_buffer.js (javascript," in ran.out

    shown = run(capsys, ["devices", "show", "th-1"], local)
    assert "parser  hex_buffer.js (javascript," in shown.out

    tested = run(
        capsys, ["devices", "parser", "test", "th-1", "--payload", "0109611395", "--json"], local
    )
    assert tested.code == 0, tested.err
    result = tested.json()
    assert [(p["variable"], p["value"]) for p in result["points"]] == [
        ("protocol_version", 1),
        ("temperature", 24.01),
        ("humidity", 50.13),
    ]
    assert result["logs"] == ["received 5 bytes on th-1/data"]
    assert result["given"][0]["metadata"] == {"topic": "th-1/data", "mqtt_topic": "th-1/data"}

    registry = DynamoDeviceProfiles(aws_env.tables["DevicesTable"], aws_env.dynamodb)
    lookup = CachedParsers(registry.get, ttl=30, clock=time.time)
    found = lookup.for_device("th-1")
    assert found is not None
    assert found.parser.source == HEX.read_text(encoding="utf-8")
    assert found.device["tags"] == [{"key": "type", "value": "th-01"}]
    assert lookup.for_device("door-1") is None


def test_a_failing_parser_test_prints_the_error_and_its_console_lines(
    local: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["devices", "parser", "test", "door-1", "--payload", "0109"]
    ran = run(capsys, [*argv, "--file", str(PARSERS / "hostile_throw.js")], local)

    assert ran.code == 1
    assert "console  about to fail on 0109" in ran.out
    assert "FAILED (threw): Error: unknown frame type 0109 (line 3)" in ran.out
    assert "nothing would be stored" in ran.out


def test_by_tag_every_tagged_device_gets_the_parser_and_no_parser_removes_it(
    local: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    py = PARSERS / "hex_struct.py"
    ran = run(
        capsys, ["devices", "set", "--tagged", "type=th-01", "--parser", str(py), "--json"], local
    )
    assert ran.code == 0, ran.err
    assert [d["device"] for d in ran.json()["devices"]] == ["th-1", "th-2"]
    assert "parser_language" in ran.json()["devices"][0]["extra"]

    removed = run(capsys, ["devices", "set", "th-2", "--no-parser"], local)
    assert removed.code == 0, removed.err
    assert "parser" not in removed.out.replace("payload parser", "")
    untouched = run(capsys, ["devices", "show", "door-1"], local)
    assert "parser" not in untouched.out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["devices", "set", "th-1", "--parser", "{bad_js}"], "does not compile: SyntaxError"),
        (
            ["devices", "set", "th-1", "--parser", "{bad_py}"],
            "SyntaxError: invalid syntax (line 1)",
        ),
        (["devices", "set", "th-1", "--parser", "parser.ts"], "a parser is a .js"),
        (["devices", "set", "th-1", "--parser", "missing.js"], "cannot read it"),
        (["devices", "set", "--tagged", "type=none", "--parser", "{good}"], "no device"),
        (["devices", "set", "--parser", "{good}"], "give the device NAME or --tagged"),
        (["devices", "parser", "test", "door-1", "--payload", "x"], "has no payload parser"),
    ],
)
def test_mistakes_are_refused_with_what_to_do(
    local: Target,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    (tmp_path / "bad.js").write_text("payload = = 1", encoding="utf-8")
    (tmp_path / "bad.py").write_text("def parse(:\n", encoding="utf-8")
    files = {"bad_js": tmp_path / "bad.js", "bad_py": tmp_path / "bad.py", "good": HEX}
    argv = [a.format(**files) if "{" in a else a for a in argv]

    ran = run(capsys, argv, local)

    assert ran.code == 2
    assert message in ran.err
    assert "parser" not in run(capsys, ["devices", "show", "th-1"], local).out


def test_import_tagoio_reads_parsers_tags_and_params_from_a_device_export(
    local: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    # Shaped as TagoIO's device info (tago-io/sdk-python Device_Type.py: name, tags,
    # configuration_params, connector_parse, parse_function); our own devices and code.
    export = Path(__file__).resolve().parents[1] / "data" / "tagoio_devices_export.json"
    made = run(capsys, ["devices", "create", "broken-1", "--token", "--json"], local)
    assert made.code == 0, made.err

    dry = run(capsys, ["devices", "import-tagoio", str(export), "--dry-run", "--json"], local)
    assert dry.code == 0, dry.err
    assert "parser" not in run(capsys, ["devices", "show", "th-1"], local).out

    ran = run(capsys, ["devices", "import-tagoio", str(export), "--json"], local)

    assert ran.code == 0, ran.err
    report = {d["device"]: d for d in ran.json()["devices"]}
    assert (report["th-1"]["status"], report["th-1"]["tags"], report["th-1"]["params"]) == (
        "imported",
        1,
        1,
    )
    assert report["door-1"]["status"] == "skipped"
    assert report["broken-1"]["status"] == "refused"
    assert "SyntaxError" in report["broken-1"]["why"]
    assert report["ghost"]["status"] == "refused"
    assert "no device 'ghost'" in report["ghost"]["why"]
    tested = run(
        capsys, ["devices", "parser", "test", "th-1", "--payload", "0109611395", "--json"], local
    )
    assert tested.json()["points"][1] == {
        "variable": "temperature",
        "value": 24.01,
        "unit": "°C",
        "group": tested.json()["points"][1]["group"],
        "metadata": {"mqtt_topic": "th-1/data"},
    }
    assert {d["device"]: d["status"] for d in dry.json()["devices"]}["th-1"] == "would_import"


def test_actions_test_runs_the_devices_parser_before_the_conditions(
    local: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, ["devices", "set", "th-1", "--parser", str(HEX)], local).code == 0
    actions = tmp_path / "actions.yaml"
    actions.write_text(
        "actions:\n"
        "  - {id: hot, topics: ['th/#'], type: sms, to: ['+15555550100'], message: hot,\n"
        "     when: [{variable: temperature, op: '>', value: 30}]}\n",
        encoding="utf-8",
    )
    assert run(capsys, ["actions", "apply", str(actions)], local).code == 0
    argv = ["actions", "test", "th/th-1", "--payload", "010C1C1395", "--device", "th-1"]

    ran = run(capsys, [*argv, "--json"], local)  # the stored actions and the device's parser

    assert ran.code == 0, ran.err
    outcomes = {a["action_id"]: a["outcome"] for a in ran.json()["actions"]}
    assert outcomes == {"payload_parser": "done", "hot": "done"}
