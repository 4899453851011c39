"""Translate template.yaml to plain CloudFormation for `make security`, offline.

checkov reads SAM's `AWS::Serverless::Function` natively for the Lambda checks, but its IAM checks
(CKV_AWS_107..111, 60..63) look only at `AWS::IAM::*` resources: the roles SAM generates from each
function's `Policies` exist only after the SAM transform. This script runs that transform with the
same aws-sam-translator `sam build/deploy` use (it runs in .venv-sam), then resolves every `Fn::If`
inside those roles' policy statements to *both* branches, so the scan sees the widest variant
(e.g. the e-mail statements that exist only when EmailSender is set).

Usage: .venv-sam/bin/python tests/security/translate_sam.py template.yaml OUT.json [NAME=VALUE]...

NAME=VALUE sets a parameter's default first: checkov evaluates conditions with the defaults and
scans only the resources they keep, so `make security` also scans the stack as it is with
LegacyGateway=Enabled (a second output file).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

NO_VALUE = {"Ref": "AWS::NoValue"}
PLACEHOLDER_CODE = "s3://placeholder-bucket/code.zip"  # the translator wants S3 code locations


class _NoManagedPolicies:
    """The template names no managed policies itself, so the translator needs no IAM lookup."""

    def load(self) -> dict[str, str]:
        return {}


def _both_branches(statements: list[Any]) -> list[Any]:
    out: list[Any] = []
    for statement in statements:
        if isinstance(statement, dict) and set(statement) == {"Fn::If"}:
            out += [branch for branch in statement["Fn::If"][1:] if branch != NO_VALUE]
        else:
            out.append(statement)
    return out


def translate(template_path: Path, defaults: dict[str, str] | None = None) -> dict[str, Any]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template: dict[str, Any] = yaml_parse(template_path.read_text(encoding="utf-8"))
    for name, value in (defaults or {}).items():
        template["Parameters"][name]["Default"] = value  # KeyError: no such parameter
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if key in props:
                props[key] = PLACEHOLDER_CODE
    translated: dict[str, Any] = transform(
        template, {}, _NoManagedPolicies(), passthrough_metadata=True
    )
    for resource in translated["Resources"].values():
        if resource.get("Type") != "AWS::IAM::Role":
            continue
        for policy in resource.get("Properties", {}).get("Policies", []):
            document = policy.get("PolicyDocument", {})
            document["Statement"] = _both_branches(document.get("Statement", []))
    return translated


def main(argv: list[str]) -> int:
    if len(argv) < 3 or not all("=" in a for a in argv[3:]):
        sys.stderr.write(__doc__ or "")
        return 2
    defaults = dict(a.split("=", 1) for a in argv[3:])
    translated = translate(Path(argv[1]), defaults)
    Path(argv[2]).write_text(json.dumps(translated, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
