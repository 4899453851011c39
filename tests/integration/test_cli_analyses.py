"""`mqtt-actions analyses`: add-tagoio writes the script unchanged and a least-privilege function
into template.yaml (checked by reading it back as the local stack does and by running it with
the local stack's loader against moto); run waits and reports; logs reads the runs back."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions_cli.cfn import load_template
from mqtt_actions_cli.local.runtime import LambdaContext, function_environment, load_handler
from mqtt_actions_cli.local.template import load_local_template
from mqtt_actions_cli.ops import analyses
from mqtt_actions_cli.ops.errors import UsageError
from mqtt_actions_cli.target import InvokeError, Target
from scripts import tagoio_corpus
from tests.integration.cli_support import moto_target, run
from tests.integration.conftest import SENDER, Aws

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

SYNC = """
from tagoio_sdk import Account, Analysis, Device
from tagoio_sdk.modules.Utils.envToJson import envToJson


def my_analysis(context, scope):
    env = envToJson(context.environment)
    account = Account({"token": env["account_token"]})
    wanted = {"tags": [{"key": "type", "value": "sensor"}]}
    devices = account.devices.listDevice({"fields": ["id", "tags"], "filter": wanted})
    print("devices:", [d["id"] for d in devices])
    device = Device({"token": env["device_token"]})
    last = device.getData({"variable": "temperature", "query": "last_value"})
    device.sendData({"variable": "seen", "value": last[0]["value"]})
    return {"not": {"json"}}


Analysis({"token": "MY-ANALYSIS-TOKEN-HERE"}).init(my_analysis)
"""

ASYNC_FAILING = """
import asyncio
from tagoio_sdk import Analysis


async def my_analysis(context, scope):
    await asyncio.sleep(0)
    print("about to fail")
    raise ValueError("Missing 'account_token' in the environment variables")


Analysis({"token": "x"}).init(my_analysis)
"""

PRINT_ONLY = """from tagoio_sdk import Analysis

def f(context, scope):
    print("hi")

Analysis({"token": "x"}).init(f)
"""

MAILER = """from tagoio_sdk import Analysis, Services

def f(context, scope):
    Services({}).email.send(email={"to": "a@example.com", "subject": "s", "message": "m"})

Analysis({}).init(f)
"""

NOTIFIER = """from tagoio_sdk import Analysis, Services

def f(context, scope):
    Services({}).Notification.send(notification={"title": "t", "message": "m"})

Analysis({}).init(f)
"""


def test_own_scripts_run_unchanged_through_add_tagoio_and_the_local_loader(tmp_path: Path) -> None:
    (tmp_path / "seen-sync.py").write_text(SYNC)
    (tmp_path / "fails-async.py").write_text(ASYNC_FAILING)
    tagoio_corpus.CHECKS["seen-sync"] = (
        "stores seen",
        lambda e: "seen" in tagoio_corpus._variables(e) and "devices: ['sensor-01']" in e.log,
    )
    report = {r["script"]: r for r in tagoio_corpus.run_corpus(tmp_path)}
    assert report["seen-sync.py"]["ok"], report["seen-sync.py"]
    failing = report["fails-async.py"]
    assert (failing["ok"], failing["outcome"]) == (False, "failed")
    assert "Missing 'account_token'" in failing["reason"]


def test_add_tagoio_copies_unchanged_and_declares_only_what_the_calls_need(tmp_path: Path) -> None:
    tagoio_corpus.project_copy(tmp_path)
    script = tmp_path / "console.py"
    script.write_text(PRINT_ONLY)
    added = analyses.add_tagoio(script, "hello", {"greeting": "hi there"}, root=tmp_path)
    assert added["function"] == "HelloAnalysis"
    copied = tmp_path / "functions/analyses/hello/console.py"
    assert copied.read_bytes() == script.read_bytes()
    resource = load_template(tmp_path / "template.yaml")["Resources"]["HelloAnalysis"]
    props = resource["Properties"]
    assert props["Handler"] == "mqtt_actions.tagoio.handler"
    variables = props["Environment"]["Variables"]
    assert (variables["TAGOIO_SCRIPT"], variables["ANALYSIS_ENV_greeting"]) == (
        "console.py",
        "hi there",
    )
    assert "BUCKET_TABLE" not in variables
    assert "DEVICES_TABLE" not in variables
    sids = [s.get("Sid") for s in props["Policies"][0]["Statement"]]
    assert sids == ["InspectorWrite"]  # print only: nothing else granted

    mail = tmp_path / "mail.py"
    mail.write_text(MAILER)
    analyses.add_tagoio(mail, "mailer", {}, root=tmp_path)
    statements = load_template(tmp_path / "template.yaml")["Resources"]["MailerAnalysis"][
        "Properties"
    ]["Policies"][0]["Statement"]
    assert [s.get("Sid") for s in statements if "Sid" in s] == [
        "InspectorWrite",
        "OwnRateCountersOnly",
    ]
    assert any("Fn::If" in s for s in statements)  # ses:SendEmail, only with an EmailSender
    local = load_local_template(
        load_template(tmp_path / "template.yaml"),
        root=tmp_path,
        physical={},
        parameters={"EmailSender": SENDER},
    )
    assert local.functions["MailerAnalysis"].layer_module == "mqtt_actions.tagoio"

    notifier = tmp_path / "notify.py"
    notifier.write_text(NOTIFIER)
    analyses.add_tagoio(notifier, "notifier", {}, root=tmp_path)
    props = load_template(tmp_path / "template.yaml")["Resources"]["NotifierAnalysis"]["Properties"]
    variables = props["Environment"]["Variables"]
    assert variables["NOTIFICATION_EMAIL"] == {"Ref": "NotificationEmail"}
    assert variables["EMAIL_SENDER"] == {"Ref": "EmailSender"}
    statements = props["Policies"][0]["Statement"]
    rate = next(s for s in statements if s.get("Sid") == "OwnRateCountersOnly")
    keys = rate["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"]
    assert keys == ["RATE#analysis:notifier:email"]
    assert any("Fn::If" in s for s in statements)  # ses:SendEmail, only with an EmailSender
    owner = {"EmailSender": SENDER, "NotificationEmail": "owner@example.com"}
    local = load_local_template(
        load_template(tmp_path / "template.yaml"), root=tmp_path, physical={}, parameters=owner
    )
    assert local.functions["NotifierAnalysis"].environment["NOTIFICATION_EMAIL"] == (
        "owner@example.com"
    )


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("Bad-Name", "Analysis({}).init(f)", "--name 'Bad-Name'"),
        ("ok", "print('no analysis here')", "never calls Analysis(...).init"),
        ("ok", "def (:", "not valid Python"),
    ],
)
def test_add_tagoio_refuses_with_the_field_named(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    (tmp_path / "template.yaml").write_text((ROOT / "template.yaml").read_text())
    script = tmp_path / "s.py"
    script.write_text(text)
    with pytest.raises(
        UsageError, match=says.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")
    ):
        analyses.add_tagoio(script, name, {}, root=tmp_path)
    assert not (tmp_path / "functions").exists()


def _in_process(aws_env: Aws) -> Any:
    """Invoke as the local stack does: the template's function, its environment, its loader."""
    local = load_local_template(
        load_template(), root=ROOT, physical=dict(aws_env.tables) | dict(aws_env.queues),
        parameters={"EmailSender": SENDER},
    )  # fmt: skip

    def invoke(function: str, event: Mapping[str, Any]) -> dict[str, Any]:
        spec = local.functions[function]
        with function_environment(spec.environment):
            try:
                return dict(
                    load_handler(spec)(dict(event), LambdaContext(function, spec.arn, 256, 30))
                )
            except Exception as exc:
                raise InvokeError(f"{type(exc).__name__}: {exc}") from None

    return invoke


def test_run_waits_prints_the_log_and_outcome_and_logs_reads_it_back(
    aws_env: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    target: Target = moto_target(
        aws_env, invoke=_in_process(aws_env), InspectorTableName=aws_env.tables["InspectorTable"]
    )
    scope = json.dumps([{"variable": "temperature_f", "value": 212}])
    ran = run(capsys, ["analyses", "run", "forward", "--scope", scope, "--json"], target)
    assert ran.code == 0, ran.err
    done = ran.json()
    assert (done["analysis"], done["outcome"]) == ("forward", "done")

    failed = run(capsys, ["analyses", "run", "forward", "--scope", '{"not": "a list"}'], target)
    assert failed.code == 2
    assert "--scope must be a JSON list" in failed.err

    logs = run(capsys, ["analyses", "logs", "forward", "--json"], target)
    assert logs.code == 0, logs.err
    assert [(r["trigger"], r["outcome"]) for r in logs.json()] == [("manual", "done")]

    listed = run(capsys, ["analyses", "list", "--json"], target)
    assert {"name": "forward", "kind": "python"}.items() <= next(
        a for a in listed.json() if a["name"] == "forward"
    ).items()
    missing = run(capsys, ["analyses", "run", "nope"], target)
    assert missing.code == 2
    assert "no analysis 'nope'" in missing.err


def test_the_corpus_runner_names_a_directory_without_scripts(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"no \*\.py"):
        tagoio_corpus.run_corpus(tmp_path)


def test_list_with_a_stack_reads_the_deployed_template_and_names_what_is_not_deployed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import boto3
    from moto import mock_aws

    deployed = {  # what `sam deploy` left: ForwardAnalysis and a TagoIO script template.yaml lacks
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "ForwardAnalysis": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Handler": "app.lambda_handler",
                    "Environment": {"Variables": {"ANALYSIS_NAME": "forward"}},
                },
            },
            "DeviceOfflineAnalysis": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Handler": "mqtt_actions.tagoio.handler",
                    "Environment": {
                        "Variables": {
                            "ANALYSIS_NAME": "device_offline",
                            "TAGOIO_SCRIPT": "device-offline.py",
                        }
                    },
                },
            },
            "RouterFunction": {"Type": "AWS::Serverless::Function", "Properties": {}},
        },
        "Outputs": {
            "ForwardAnalysisName": {"Value": "prod-ForwardAnalysis-AbC"},
            "DeviceOfflineAnalysisName": {"Value": "prod-DeviceOfflineAnalysis-XyZ"},
        },
    }
    with mock_aws(), warnings.catch_warnings():
        # moto stores the template as given; it only warns that it creates no SAM function
        warnings.filterwarnings("ignore", "Tried to parse AWS::Serverless::Function")
        boto3.client("cloudformation", region_name="eu-west-1").create_stack(
            StackName="mqtt-actions-prod", TemplateBody=json.dumps(deployed)
        )
        argv = ["analyses", "list", "--stack", "mqtt-actions-prod", "--region", "eu-west-1"]
        listed = run(capsys, [*argv, "--json"])
        text = run(capsys, argv)
        missing = run(capsys, ["analyses", "run", "threshold_alert", *argv[2:]])
    assert listed.code == 0, listed.err
    by_name = {a["name"]: a for a in listed.json()}
    assert by_name["device_offline"] == {
        "name": "device_offline",
        "function": "DeviceOfflineAnalysis",
        "kind": "tagoio",
        "script": "device-offline.py",
        "deployed_as": "prod-DeviceOfflineAnalysis-XyZ",
        "deployed": True,
    }
    assert (by_name["forward"]["deployed_as"], by_name["forward"]["kind"]) == (
        "prod-ForwardAnalysis-AbC",
        "python",
    )
    assert "RouterFunction" not in {a["function"] for a in by_name.values()}
    # declared in template.yaml, absent from the stack: listed as not deployed
    assert (by_name["threshold_alert"]["deployed"], by_name["threshold_alert"]["deployed_as"]) == (
        False,
        None,
    )
    assert "threshold_alert" in text.out
    assert "(not deployed: sam deploy)" in text.out
    assert missing.code == 2
    assert "not deployed to stack 'mqtt-actions-prod'" in missing.err


def test_list_without_a_stack_reads_template_yaml_as_the_local_stack_does(
    capsys: pytest.CaptureFixture[str],
) -> None:
    listed = run(capsys, ["analyses", "list", "--json"])
    assert listed.code == 0, listed.err
    declared = load_template(ROOT / "template.yaml")["Resources"]
    names = {a["function"] for a in listed.json()}
    assert names == {
        lid
        for lid, res in declared.items()
        if str(res.get("Properties", {}).get("CodeUri", "")).startswith("functions/analyses/")
    }
    assert "deployed" not in listed.json()[0]
