"""`mqtt-actions devices create` against moto's IoT: thing, certificate, policy, files 0600."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import boto3
import pytest

from mqtt_actions_cli.target import Target
from tests.integration.cli_support import moto_target, run
from tests.integration.conftest import REGION, Aws

pytestmark = pytest.mark.integration


@pytest.fixture
def target(aws_env: Aws) -> Target:
    return moto_target(aws_env, kind="stack")


@pytest.fixture
def iot(aws_env: Aws) -> Any:
    return boto3.client("iot", region_name=REGION)


def create(capsys: pytest.CaptureFixture[str], target: Target, out: Path, *extra: str) -> Any:
    argv = ["devices", "create", "sensor-01", "--stack", "test-stack", "--out", str(out), *extra]
    return run(capsys, argv, target)


def test_creates_thing_certificate_and_a_policy_attached_to_both(
    target: Target, iot: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = create(capsys, target, tmp_path / "creds")
    assert ran.code == 0, ran.err

    assert iot.describe_thing(thingName="sensor-01")["thingName"] == "sensor-01"
    [principal] = iot.list_thing_principals(thingName="sensor-01")["principals"]
    cert_id = principal.split("/")[-1]
    assert (
        iot.describe_certificate(certificateId=cert_id)["certificateDescription"]["status"]
        == "ACTIVE"
    )
    [policy] = iot.list_attached_policies(target=principal)["policies"]
    assert policy["policyName"] == "mqtt-actions-sensor-01"

    document = json.loads(iot.get_policy(policyName="mqtt-actions-sensor-01")["policyDocument"])
    statements = {s["Sid"]: s for s in document["Statement"]}
    connect = statements["ConnectAsItsOwnThingOnly"]
    assert connect["Action"] == "iot:Connect"
    assert connect["Resource"].endswith(":client/${iot:Connection.Thing.ThingName}")
    assert connect["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    arn = f"arn:aws:iot:{REGION}:123456789012"
    assert statements["Publish"]["Resource"] == [
        f"{arn}:topic/sensor-01",
        f"{arn}:topic/sensor-01/*",
    ]
    assert statements["Subscribe"]["Resource"] == [
        f"{arn}:topicfilter/sensor-01",
        f"{arn}:topicfilter/sensor-01/*",
    ]
    assert all(s["Resource"] != "*" for s in document["Statement"])

    assert "device 'sensor-01' created" in ran.out
    assert "-i sensor-01" in ran.out  # how to connect, with its own client id


def test_files_are_created_0600_and_hold_what_a_device_needs(
    target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "creds"
    ran = create(capsys, target, out, "--json")
    assert ran.code == 0, ran.err
    files = {p.name: p for p in out.iterdir()}
    assert sorted(files) == ["sensor-01.cert.pem", "sensor-01.json", "sensor-01.private.key"]
    for path in files.values():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert files["sensor-01.private.key"].read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert files["sensor-01.cert.pem"].read_text().startswith("-----BEGIN CERTIFICATE-----")
    info = json.loads(files["sensor-01.json"].read_text())
    assert info["endpoint"].endswith("-ats.iot.us-east-1.amazonaws.com")  # moto's, made up
    assert (info["port"], info["client_id"], info["thing"]) == (8883, "sensor-01", "sensor-01")
    assert ran.json()["info"] == info


def test_publish_and_subscribe_filters(
    target: Target, iot: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = create(
        capsys,
        target,
        tmp_path,
        "--publish",
        "home/+/temperature",
        "--publish",
        "alarm/#",
        "--subscribe",
        "cmd/sensor-01",
    )
    assert ran.code == 0, ran.err
    document = json.loads(iot.get_policy(policyName="mqtt-actions-sensor-01")["policyDocument"])
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert [r.split(":topic/")[1] for r in statements["Publish"]["Resource"]] == [
        "home/*/temperature",
        "alarm",
        "alarm/*",
    ]
    assert [r.split(":topic/")[1] for r in statements["Receive"]["Resource"]] == ["cmd/sensor-01"]


def test_existing_files_are_never_overwritten_and_nothing_is_created(
    target: Target, iot: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "sensor-01.private.key").write_text("precious")
    ran = create(capsys, target, tmp_path)
    assert ran.code == 2
    assert "would overwrite" in ran.err
    assert (tmp_path / "sensor-01.private.key").read_text() == "precious"
    assert iot.list_things()["things"] == []


def test_an_existing_thing_is_refused(
    target: Target, iot: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    iot.create_thing(thingName="sensor-01")
    ran = create(capsys, target, tmp_path)
    assert ran.code == 1
    assert "thing 'sensor-01' already exists" in ran.err
    assert list(tmp_path.iterdir()) == []


def test_a_failure_half_way_undoes_what_was_created(
    target: Target,
    iot: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = target.client("iot")

    def broken(**_kwargs: Any) -> None:
        raise client.exceptions.InternalFailureException(
            {"Error": {"Code": "InternalFailureException", "Message": "try later"}},
            "AttachThingPrincipal",
        )

    monkeypatch.setattr(client, "attach_thing_principal", broken)
    ran = create(capsys, target, tmp_path)
    assert ran.code == 1
    assert "InternalFailureException" in ran.err
    assert iot.list_things()["things"] == []
    assert iot.list_policies()["policies"] == []
    assert iot.list_certificates()["certificates"] == []
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["devices", "create", "sensor-01"], "it has no meaning for the local stack"),
        (["devices", "create", "bad name", "--stack", "s"], "is not a valid thing name"),
        (["devices", "create", "d", "--stack", "s", "--publish", "a/#/b"], "--publish 'a/#/b'"),
        (
            ["devices", "create", "d", "--stack", "s", "--subscribe", "x/*"],
            "wildcards or variables",
        ),
    ],
)
def test_usage_errors(
    argv: list[str],
    message: str,
    target: Target,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = run(capsys, [*argv, "--out", str(tmp_path)], target)
    assert ran.code == 2
    assert message in ran.err
    assert list(tmp_path.iterdir()) == []
