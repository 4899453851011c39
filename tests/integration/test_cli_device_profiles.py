"""Device tags and configuration parameters in the device registry (DevicesTable, created from
template.yaml on moto): `devices create NAME --token|--stack --tag/--param`, `devices set`,
`devices show`, `devices list`, and the layer's read side (ports.DeviceProfiles)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mqtt_actions.adapters.device_profiles import DynamoDeviceProfiles, profiles_from_env
from mqtt_actions.adapters.token_store import DynamoTokenStore
from mqtt_actions.tokens import TokenRecord, token_hash
from mqtt_actions_cli.target import Target
from tests.integration.cli_support import moto_target, run
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration


@pytest.fixture
def local(aws_env: Aws) -> Target:
    return moto_target(aws_env, DeviceTokensTableName=aws_env.tables["DeviceTokensTable"])


@pytest.fixture
def registry(aws_env: Aws) -> DynamoDeviceProfiles:
    return DynamoDeviceProfiles(aws_env.tables["DevicesTable"], aws_env.dynamodb)


def test_a_token_device_is_created_with_its_tags_and_params_and_analyses_read_them(
    local: Target, aws_env: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["devices", "create", "sensor-01", "--token", "--tag", "type=temperature"]
    ran = run(capsys, [*argv, "--tag", "site=lisbon", "--param", "interval=60", "--json"], local)
    assert ran.code == 0, ran.err
    made = ran.json()
    assert made["tags"] == [
        {"key": "type", "value": "temperature"},
        {"key": "site", "value": "lisbon"},
    ]
    assert [(p["key"], p["value"], p["sent"]) for p in made["params"]] == [
        ("interval", "60", False)
    ]
    # the read side a function uses: DEVICES_TABLE from its environment
    read = profiles_from_env({"DEVICES_TABLE": aws_env.tables["DevicesTable"]})
    assert read is not None
    profile = read.get("sensor-01")
    assert profile is not None
    assert (profile.kind, profile.tag("site"), profile.param("interval")) == (
        "token",
        "lisbon",
        profile.params[0],
    )
    assert read.get("nobody") is None
    assert profiles_from_env({}) is None


def test_set_changes_tags_and_params_and_show_and_list_say_so(
    local: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    created = run(capsys, ["devices", "create", "s2", "--token", "--param", "interval=60"], local)
    assert created.code == 0, created.err
    ran = run(
        capsys,
        ["devices", "set", "s2", "--tag", "type=door", "--param", "interval=30", "--json"],
        local,
    )
    assert ran.code == 0, ran.err
    assert ran.json()["tags"] == [{"key": "type", "value": "door"}]
    assert [(p["key"], p["value"]) for p in ran.json()["params"]] == [("interval", "30")]

    shown = run(capsys, ["devices", "show", "s2"], local)
    assert shown.code == 0, shown.err
    assert "tags    type=door" in shown.out
    assert "param   interval=30  (not sent" in shown.out

    removed = run(capsys, ["devices", "set", "s2", "--untag", "type", "--json"], local)
    assert removed.json()["tags"] == []

    listed = run(capsys, ["devices", "list", "--json"], local)
    (entry,) = [d for d in listed.json() if d["device"] == "s2"]
    assert [p["key"] for p in entry["params"]] == ["interval"]


def test_a_device_from_before_the_registry_gets_a_profile_on_set(
    local: Target, aws_env: Aws, registry: DynamoDeviceProfiles, capsys: pytest.CaptureFixture[str]
) -> None:
    tokens = DynamoTokenStore(aws_env.tables["DeviceTokensTable"], aws_env.dynamodb)
    tokens.add(token_hash("t" * 36), TokenRecord("old-device", created_at=1))
    ran = run(capsys, ["devices", "set", "old-device", "--tag", "a=1"], local)
    assert ran.code == 0, ran.err
    profile = registry.get("old-device")
    assert profile is not None
    assert (profile.kind, profile.tags) == ("token", (("a", "1"),))


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["devices", "set", "ghost", "--tag", "a=1"], "no device 'ghost'"),
        (["devices", "set", "s3"], "nothing to change"),
        (["devices", "set", "s3", "--tag", "novalue"], "--tag 'novalue': write KEY=VALUE"),
        (["devices", "set", "s3", "--unparam", "nope"], "--unparam 'nope'"),
        (["devices", "show", "ghost"], "no device 'ghost'"),
    ],
)
def test_mistakes_are_refused_with_the_field_named(
    local: Target, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    assert run(capsys, ["devices", "create", "s3", "--token"], local).code == 0
    ran = run(capsys, argv, local)
    assert ran.code == 2
    assert says in ran.err


def test_a_refused_tag_at_create_leaves_no_token(
    local: Target, aws_env: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = run(capsys, ["devices", "create", "s4", "--token", "--tag", "=x"], local)
    assert ran.code == 2
    assert "--tag: the key is empty" in ran.err
    tokens = DynamoTokenStore(aws_env.tables["DeviceTokensTable"], aws_env.dynamodb)
    assert tokens.by_device("s4") == []


def test_a_certificate_device_is_registered_with_its_tags(
    aws_env: Aws, registry: DynamoDeviceProfiles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = moto_target(aws_env, kind="stack")
    argv = ["devices", "create", "thing-1", "--stack", "test-stack", "--out", str(tmp_path)]
    ran = run(capsys, [*argv, "--tag", "type=meter", "--json"], stack)
    assert ran.code == 0, ran.err
    assert ran.json()["tags"] == [{"key": "type", "value": "meter"}]
    profile = registry.get("thing-1")
    assert profile is not None
    assert (profile.kind, profile.tag("type")) == ("certificate", "meter")
    again = run(
        capsys, ["devices", "set", "thing-1", "--stack", "test-stack", "--param", "p=1"], stack
    )
    assert again.code == 0, again.err
