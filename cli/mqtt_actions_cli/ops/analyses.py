"""Analyses: add a TagoIO script unchanged (`add_tagoio`), list them, run one and read its log.
Operations over a Target or the project's files; no argparse, no printing (cmd_analyses does both).

`add_tagoio` copies the script into functions/analyses/NAME/ and declares its function in
template.yaml: `Handler: mqtt_actions.tagoio.handler`, `TAGOIO_SCRIPT`, the tables its calls need
and only the IAM statements those calls need (found by reading the script, never running it)."""

from __future__ import annotations

import ast
import json
import re
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mqtt_actions.inspector import EntryType, InspectorEntry
from mqtt_actions_cli.cfn import TEMPLATE, load_template, parse_template
from mqtt_actions_cli.ops import inspector
from mqtt_actions_cli.ops.errors import NotFoundError, OpsError, UsageError
from mqtt_actions_cli.target import InvokeError, Target

NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
TAGOIO_HANDLER = "mqtt_actions.tagoio.handler"
ANALYSES_DIR = Path("functions/analyses")
RUN_WAIT_S = 60

# What a script's calls need, found by the names it uses (attribute or function names).
_NEEDS: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "sms": ("sms",),
    "MQTT": ("mqtt",),
    "Notification": ("notification",),  # e-mailed to NotificationEmail when set
    "Device": ("tokens", "bucket"),
    "getData": ("tokens", "bucket"),
    "sendData": ("tokens", "bucket"),
    "editData": ("tokens", "bucket", "bucket_edit"),
    "deleteData": ("tokens", "bucket", "bucket_delete"),
    "Account": ("devices", "tokens"),
    "Resources": ("devices", "tokens"),
    "listDevice": ("devices", "tokens", "bucket"),
    "paramSet": ("devices", "devices_write"),
    "amount": ("devices", "bucket"),
    "getTokenByName": ("devices", "tokens"),
    "getDevice": ("devices", "tokens", "bucket"),
}


def logical_id(name: str) -> str:
    """`my_alert` -> `MyAlertAnalysis`."""
    return "".join(part.capitalize() for part in name.split("_") if part) + "Analysis"


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise UsageError(
            f"--name {name!r}: use 1-40 lowercase letters, digits and '_', starting with a letter",
            hint="e.g. --name device_offline",
        )


def parse_env(values: Sequence[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for text in values:
        key, sep, value = text.partition("=")
        if not sep or not ENV_KEY.fullmatch(key):
            raise UsageError(
                f"--env {text!r}: write KEY=VALUE with KEY of letters, digits and '_'",
                hint="e.g. --env account_token=any --env check_in_time=30",
            )
        env[key] = value
    return env


def needs(source: str) -> set[str]:
    """What the script's calls need (see _NEEDS), from the names it uses."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise UsageError(f"the script is not valid Python: line {exc.lineno}: {exc.msg}") from None
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    found: set[str] = set()
    for name, wanted in _NEEDS.items():
        if name in names:
            found |= set(wanted)
    return found


def _statements(name: str, wanted: set[str]) -> list[str]:
    """The IAM statements (YAML lines, 12 spaces in) the script's calls need."""
    out = [
        "            - Sid: InspectorWrite  # one line per run: done or failed, with its log",
        "              Effect: Allow",
        "              Action: dynamodb:BatchWriteItem",
        "              Resource: !GetAtt InspectorTable.Arn",
    ]
    if "bucket" in wanted:
        actions = ["dynamodb:Query", "dynamodb:BatchWriteItem"]
        actions += ["dynamodb:GetItem", "dynamodb:PutItem"] if "bucket_edit" in wanted else []
        out += [
            "            - Sid: DeviceBuckets  # getData / sendData (and editData, deleteData)",
            "              Effect: Allow",
            f"              Action: [{', '.join(actions)}]",
            "              Resource: [!GetAtt BucketTable.Arn, !Sub '${BucketTable.Arn}/index/*']",
        ]
    if "tokens" in wanted:
        out += [
            "            - Sid: DeviceTokensRead  # a token -> its device (hashes only)",
            "              Effect: Allow",
            "              Action: [dynamodb:GetItem, dynamodb:Scan]",
            "              Resource: !GetAtt DeviceTokensTable.Arn",
        ]
    if "devices" in wanted:
        actions = ["dynamodb:GetItem", "dynamodb:Scan"]
        actions += ["dynamodb:PutItem"] if "devices_write" in wanted else []
        out += [
            "            - Sid: DeviceRegistry  # Account.devices: tags, params",
            "              Effect: Allow",
            f"              Action: [{', '.join(actions)}]",
            "              Resource: !GetAtt DevicesTable.Arn",
        ]
    mails = "email" in wanted or "notification" in wanted
    if mails or "sms" in wanted:
        keys = [
            f"RATE#analysis:{name}:{c}"
            for c in ("email", "sms")
            if c in wanted or (c == "email" and mails)
        ]
        out += [
            "            - Sid: OwnRateCountersOnly",
            "              Effect: Allow",
            "              Action: dynamodb:UpdateItem",
            "              Resource: !GetAtt ActionsTable.Arn",
            "              Condition:",
            "                ForAllValues:StringEquals:",
            f"                  dynamodb:LeadingKeys: [{', '.join(keys)}]",
        ]
    if "mqtt" in wanted:
        out += [
            "            - Sid: PublishMqtt  # Services.MQTT.publish: any topic but AWS's own",
            "              Effect: Allow",
            "              Action: iot:Publish",
            "              Resource: !Sub arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/*",
        ]
    if "sms" in wanted:
        out += [
            "            - Sid: SmsToPhoneNumbersOnly",
            "              Effect: Allow",
            "              Action: sns:Publish",
            "              NotResource: !Sub arn:${AWS::Partition}:sns:*:*:*",
        ]
    if mails:
        out += [
            "            - !If",
            "              - HasEmailSender",
            "              - Sid: EmailFromTheSenderOnly",
            "                Effect: Allow",
            "                Action: ses:SendEmail",
            "                Resource: !Sub arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*",
            "                Condition:",
            "                  StringEquals:",
            "                    ses:FromAddress: !Ref EmailSender",
            "              - !Ref AWS::NoValue",
        ]
    return out


def _quote(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid YAML double-quoted scalar


def resources_yaml(name: str, script: str, env: Mapping[str, str], wanted: set[str]) -> str:
    lid = logical_id(name)
    variables = [
        f"          ANALYSIS_NAME: {name}",
        f"          TAGOIO_SCRIPT: {_quote(script)}",
        "          INSPECTOR_TABLE: !Ref InspectorTable",
        "          INSPECTOR_RETENTION_DAYS: !Ref InspectorRetentionDays",
        "          MAX_HOPS: !Ref MaxHops",
    ]
    if "bucket" in wanted:
        variables.append("          BUCKET_TABLE: !Ref BucketTable")
    if "tokens" in wanted:
        variables.append("          DEVICE_TOKENS_TABLE: !Ref DeviceTokensTable")
    if "devices" in wanted:
        variables.append("          DEVICES_TABLE: !Ref DevicesTable")
    mails = "email" in wanted or "notification" in wanted
    if mails or "sms" in wanted:
        variables.append("          ACTIONS_TABLE: !Ref ActionsTable")
    if mails:
        variables.append("          EMAIL_SENDER: !Ref EmailSender")
    if "notification" in wanted:
        variables.append("          NOTIFICATION_EMAIL: !Ref NotificationEmail")
    variables += [f"          ANALYSIS_ENV_{k}: {_quote(v)}" for k, v in sorted(env.items())]
    lines = [
        f"  {lid}Logs:",
        "    Type: AWS::Logs::LogGroup",
        "    Metadata:",
        "      checkov:",
        "        skip:",
        "          - id: CKV_AWS_158",
        "            comment: CloudWatch Logs encrypts log data at rest by default; a customer managed key adds a key policy and cost for no extra control here.",
        "    Properties:",
        f"      LogGroupName: !Sub /aws/lambda/${{AWS::StackName}}/analysis-{name.replace('_', '-')}",
        "      RetentionInDays: !Ref LogRetentionDays",
        "",
        f"  # A TagoIO analysis, unchanged (mqtt-actions analyses add-tagoio {script} --name {name}).",
        f"  {lid}:",
        "    Type: AWS::Serverless::Function",
        "    Metadata:",
        "      checkov:",
        "        skip:  # each reason in full in docs/SECURITY.md",
        "          - id: CKV_AWS_116",
        "            comment: Async failures go to the on-failure destination (the DeadLetterQueue), which keeps more than a DLQ would.",
        "          - id: CKV_AWS_117",
        "            comment: Calls only AWS public endpoints and HTTPS webhooks; a VPC would need NAT or endpoints (cost) for no isolation gain.",
        "          - id: CKV_AWS_115",
        "            comment: A reservation must leave 100 unreserved, which fails deploys on new accounts; throttled async calls are retried anyway.",
        "          - id: CKV_AWS_173",
        "            comment: Environment holds resource names and settings only, no secrets; Lambda encrypts it at rest with an AWS managed key.",
        "    Properties:",
        f"      Description: Analysis {name} - a TagoIO script run unchanged ({script})",
        f"      CodeUri: functions/analyses/{name}",
        f"      Handler: {TAGOIO_HANDLER}",
        "      LoggingConfig:",
        f"        LogGroup: !Ref {lid}Logs",
        "      Environment:",
        "        Variables:",
        *variables,
        "      EventInvokeConfig:",
        "        MaximumRetryAttempts: 2",
        "        DestinationConfig:",
        "          OnFailure:",
        "            Type: SQS",
        "            Destination: !GetAtt DeadLetterQueue.Arn",
        "      Policies:",
        "        - Statement:",
        *_statements(name, wanted),
        "",
    ]
    return "\n".join(lines) + "\n"


def add_tagoio(
    script: Path, name: str, env: Mapping[str, str], *, root: Path | None = None
) -> dict[str, Any]:
    """Copy `script` unchanged into functions/analyses/NAME/ and declare its function."""
    check_name(name)
    base = root if root is not None else TEMPLATE.parent
    template_path = base / "template.yaml"
    try:
        source = script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {script}: {exc}", hint="give a TagoIO .py script") from None
    if script.suffix != ".py":
        raise UsageError(f"{script} is not a .py file", hint="a TagoIO Python analysis script")
    wanted = needs(source)
    if "Analysis" not in source or (".init(" not in source and "Analysis.use(" not in source):
        raise UsageError(
            f"{script.name} never calls Analysis(...).init(my_analysis), so there is nothing to run",
            hint="a TagoIO analysis ends with Analysis({...}).init(my_analysis)",
        )
    lid = logical_id(name)
    target_dir = base / ANALYSES_DIR / name
    template = load_template(template_path)
    if lid in template.get("Resources", {}) or target_dir.exists():
        raise UsageError(
            f"analysis {name!r} exists already ({target_dir} or {lid} in template.yaml)",
            hint="choose another --name, or remove the old one first",
        )
    text = template_path.read_text(encoding="utf-8")
    block = resources_yaml(name, script.name, env, wanted)
    output = f"  {lid}Name:\n    Value: !Ref {lid}\n"
    if "\nOutputs:\n" not in text:
        raise OpsError("template.yaml has no Outputs: section to add the function's name to")
    head, tail = text.split("\nOutputs:\n", 1)
    text = head.rstrip("\n") + "\n\n" + block + "\nOutputs:\n" + output + tail
    target_dir.mkdir(parents=True)
    shutil.copyfile(script, target_dir / script.name)
    template_path.write_text(text, encoding="utf-8")
    return {
        "name": name,
        "function": lid,
        "script": str(target_dir / script.name),
        "handler": TAGOIO_HANDLER,
        "needs": sorted(w for w in wanted if "_" not in w),
        "environment": dict(env),
    }


def list_analyses(target: Target | None, *, root: Path | None = None) -> list[dict[str, Any]]:
    """The analyses: without a stack, those template.yaml declares (the local stack runs them);
    with a deployed stack, those it holds (its template, as CloudFormation processed it), plus
    template.yaml's not deployed yet (`deployed: False`, e.g. after add-tagoio)."""
    base = root if root is not None else TEMPLATE.parent
    declared = _analyses(load_template(base / "template.yaml"))
    if target is None or target.is_local:
        return [{**a, "deployed_as": a["function"]} for a in declared]
    deployed = _analyses(_stack_template(target))
    names = _physical_names(target)
    found = [
        {
            **a,
            "deployed_as": target.outputs.get(f"{a['function']}Name")
            or names.get(a["function"])
            or a["function"],
            "deployed": True,
        }
        for a in deployed
    ]
    have = {a["function"] for a in deployed}
    found += [
        {**a, "deployed_as": None, "deployed": False} for a in declared if a["function"] not in have
    ]
    return sorted(found, key=lambda a: a["name"])


def _analyses(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A template's analysis functions: under functions/analyses/ (template.yaml), or, once
    deployed (the code is in S3 then), any function whose environment names ANALYSIS_NAME."""
    found = []
    for lid, res in (template.get("Resources") or {}).items():
        if not isinstance(res, dict) or res.get("Type") not in _FUNCTION_TYPES:
            continue
        props = res.get("Properties") or {}
        variables = (props.get("Environment") or {}).get("Variables") or {}
        code = props.get("CodeUri")
        in_analyses = isinstance(code, str) and code.startswith(str(ANALYSES_DIR) + "/")
        name = variables.get("ANALYSIS_NAME")
        if not in_analyses and not isinstance(name, str):
            continue
        script = variables.get("TAGOIO_SCRIPT")
        found.append(
            {
                "name": str(name if isinstance(name, str) else str(code).rsplit("/", 1)[-1]),
                "function": lid,
                "kind": "tagoio" if props.get("Handler") == TAGOIO_HANDLER else "python",
                "script": script if isinstance(script, str) else "app.py",
            }
        )
    return sorted(found, key=lambda a: a["name"])


_FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


def _stack_template(target: Target) -> dict[str, Any]:
    """The deployed stack's template after the SAM transform (CloudFormation GetTemplate)."""
    body = (
        target.client("cloudformation")
        .get_template(StackName=target.name, TemplateStage="Processed")
        .get("TemplateBody")
    )
    if isinstance(body, Mapping):  # boto3 parses a JSON body itself
        return dict(body)
    if not isinstance(body, str):
        raise OpsError(f"{target.describe()} returned no template (GetTemplate)")
    return parse_template(body)


def _physical_names(target: Target) -> dict[str, str]:
    """Logical id -> deployed function name, from the stack's resources."""
    names: dict[str, str] = {}
    pages = target.client("cloudformation").get_paginator("list_stack_resources")
    for page in pages.paginate(StackName=target.name):
        for res in page.get("StackResourceSummaries", []):
            if res.get("ResourceType") == "AWS::Lambda::Function":
                names[res["LogicalResourceId"]] = res.get("PhysicalResourceId", "")
    return names


def _find(target: Target, name: str, root: Path | None = None) -> dict[str, Any]:
    for analysis in list_analyses(target, root=root):
        if name in (analysis["name"], analysis["function"]):
            if analysis.get("deployed") is False:
                raise NotFoundError(
                    f"analysis {name!r} is in template.yaml but not deployed to "
                    f"{target.describe()}",
                    hint="deploy it: sam build && sam deploy",
                )
            return analysis
    raise NotFoundError(
        f"no analysis {name!r} in template.yaml", hint="see `mqtt-actions analyses list`"
    )


def run_event(name: str, scope: object, env: Mapping[str, str], traceid: str) -> dict[str, Any]:
    if not isinstance(scope, list) or not all(isinstance(p, dict) for p in scope):
        raise UsageError(
            "--scope must be a JSON list of data points",
            hint='e.g. --scope \'[{"variable": "temperature", "value": 31}]\'',
        )
    return {
        "analysis": name,
        "trigger": {"type": "manual", "traceid": traceid, "timestamp": int(time.time() * 1000)},
        "scope": scope,
        "environment": dict(env),
    }


def run(
    target: Target,
    name: str,
    scope: object,
    env: Mapping[str, str],
    *,
    wait: bool,
    root: Path | None = None,
) -> dict[str, Any]:
    """Start the analysis (as TagoIO's "run" button). With `wait`: its outcome and log lines.
    `root`: the folder of the template.yaml the stack runs (default this project's)."""
    analysis = _find(target, name, root)
    traceid = f"manual-{uuid.uuid4().hex}"
    event = run_event(analysis["name"], scope, env, traceid)
    if not wait:
        target.client("lambda").invoke(
            FunctionName=target.function_name(analysis["function"]),
            InvocationType="Event",
            Payload=json.dumps(event).encode("utf-8"),
        )
        return {"analysis": analysis["name"], "traceid": traceid, "outcome": "started"}
    error = None
    try:
        target.invoke(analysis["function"], event)
    except InvokeError as exc:
        error = exc.reason
    entry = _outcome(target, analysis["name"], traceid)
    details = entry.details if entry is not None else {}
    detail = details.get("detail") or {}
    return {
        "analysis": analysis["name"],
        "traceid": traceid,
        "outcome": details.get("outcome") or ("failed" if error else "done"),
        "reason": details.get("reason") or error,
        "log": list(detail.get("log") or []),
    }


def _outcome(target: Target, name: str, traceid: str) -> InspectorEntry | None:
    """The run's own inspector entry (the inspector may take a moment: bounded retries)."""
    for _ in range(20):
        for entry in inspector.query(
            target, device=f"analysis:{name}", types=[EntryType.ACTION.value], limit=50
        ):
            if entry.traceid == traceid and entry.details.get("action_type") == "analysis":
                return entry
        time.sleep(0.25)
    return None


def logs(target: Target, name: str, *, since_ms: int, limit: int = 20) -> list[dict[str, Any]]:
    """The analysis's recent runs (newest last): when, trigger, outcome, reason, log lines."""
    analysis = _find(target, name)
    entries = inspector.query(target, types=[EntryType.ACTION.value], since_ms=since_ms, limit=5000)
    runs = [
        e
        for e in entries
        if e.details.get("action_type") == "analysis"
        and e.details.get("action_id") == analysis["name"]
    ]
    return [
        {
            "time": e.time,
            "device": e.device,
            "traceid": e.traceid,
            "trigger": (e.details.get("detail") or {}).get("trigger"),
            "outcome": e.details.get("outcome"),
            "reason": e.details.get("reason"),
            "log": list((e.details.get("detail") or {}).get("log") or []),
        }
        for e in runs[-limit:]
    ]
