"""template.yaml as data: the one reader of the single source of truth that tests, the local stack,
the router environment of a dry run and the CLI build from.

Reads CloudFormation's short tags (`!Ref`, `!GetAtt`, `!Sub`, ...) into their long form; resolves
them against local names (`Resolver`: physical names outside AWS are the logical ids, queues the
URLs moto gave them, parameters their defaults unless overridden); and creates the template's
DynamoDB tables and SQS queues against any endpoint (moto in tests and in the local stack), so
fakes cannot drift from what is deployed."""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

ACCOUNT_ID: Final = "123456789012"  # moto's default account
REGION: Final = "us-east-1"
PARTITION: Final = "aws"
STACK_NAME: Final = "mqtt-actions-local"


class TemplateError(ValueError):
    """template.yaml uses something the local stack cannot reproduce; the message names where."""


class _NoValue:
    pass


NO_VALUE: Final = _NoValue()


# libyaml's loader when PyYAML has it (about 10x faster on template.yaml), else the pure-Python one.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CfnLoader(_SafeLoader):  # type: ignore[misc,valid-type]
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """The template as data, short tags in their long form. Parsed once per version of the file
    (path, modification time and size); each caller gets its own copy to change."""
    stat = path.stat()
    return copy.deepcopy(_parsed(path.resolve(), stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=8)
def _parsed(path: Path, _mtime_ns: int, _size: int) -> dict[str, Any]:
    return parse_template(path.read_text(encoding="utf-8"))


def parse_template(text: str) -> dict[str, Any]:
    """A template's text (YAML with short tags, or JSON, as CloudFormation's GetTemplate gives)."""
    data = yaml.load(text, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(data, dict):
        raise TemplateError("the template is not a mapping of sections (Resources, Outputs, ...)")
    return data


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: res.get("Properties", {})
        for name, res in template.get("Resources", {}).items()
        if res.get("Type") == kind
    }


@dataclass
class LocalNames:
    """Physical names given to the template's resources outside AWS (logical id by default)."""

    prefix: str = ""
    overrides: dict[str, str] = field(default_factory=dict)

    def __call__(self, logical_id: str) -> str:
        return self.overrides.get(logical_id, f"{self.prefix}{logical_id}")


def create_tables(template: dict[str, Any], dynamodb: Any, names: LocalNames) -> dict[str, str]:
    """Create every AWS::DynamoDB::Table of the template; returns logical id -> table name."""
    created: dict[str, str] = {}
    for logical_id, props in resources(template, "AWS::DynamoDB::Table").items():
        table = names(logical_id)
        kwargs: dict[str, Any] = {
            "TableName": table,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        for key in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
            if key in props:
                kwargs[key] = props[key]
        dynamodb.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=ttl)
        created[logical_id] = table
    return created


def create_queues(template: dict[str, Any], sqs: Any, names: LocalNames) -> dict[str, str]:
    """Create every AWS::SQS::Queue of the template; returns logical id -> queue URL."""
    created: dict[str, str] = {}
    for logical_id, props in resources(template, "AWS::SQS::Queue").items():
        attributes = {
            k: str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in props.items()
            if k in {"MessageRetentionPeriod", "VisibilityTimeout", "SqsManagedSseEnabled"}
        }
        url = sqs.create_queue(QueueName=names(logical_id), Attributes=attributes)["QueueUrl"]
        created[logical_id] = str(url)
    return created


class Resolver:
    """Resolves `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::If`, `Fn::Join`, `Fn::Select`, `Fn::Split`,
    `Fn::ToJsonString` and conditions against local names."""

    def __init__(
        self,
        template: Mapping[str, Any],
        *,
        physical: Mapping[str, str],
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self._template = template
        self._resources: Mapping[str, Any] = template.get("Resources", {})
        self._physical = dict(physical)
        self._parameters = self._parameter_values(parameters or {})
        self._conditions: dict[str, bool] = {}

    def _parameter_values(self, overrides: Mapping[str, str]) -> dict[str, str]:
        values: dict[str, str] = {}
        for name, spec in self._template.get("Parameters", {}).items():
            if name in overrides:
                values[name] = str(overrides[name])
            elif "Default" in spec:
                values[name] = as_text(spec["Default"])
            else:
                msg = f"parameter {name} has no Default; give it a value for the local stack"
                raise TemplateError(msg)
        unknown = sorted(set(overrides) - set(values))
        if unknown:
            raise TemplateError(f"unknown parameter(s) {', '.join(unknown)} in local overrides")
        return values

    @property
    def parameters(self) -> Mapping[str, str]:
        return self._parameters

    # -- conditions
    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = self._template.get("Conditions", {}).get(name)
            if spec is None:
                raise TemplateError(f"condition {name} is not declared under Conditions")
            self._conditions[name] = self._bool(spec, f"Conditions.{name}")
        return self._conditions[name]

    def _bool(self, value: Any, where: str) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Condition":
                return self.condition(str(arg))
            if key == "Fn::Equals":
                left, right = (self.resolve(v, where) for v in arg)
                return as_text(left) == as_text(right)
            if key == "Fn::Not":
                return not self._bool(arg[0], where)
            if key == "Fn::And":
                return all(self._bool(v, where) for v in arg)
            if key == "Fn::Or":
                return any(self._bool(v, where) for v in arg)
        raise TemplateError(
            f"{where}: unsupported condition {json.dumps(value, default=str)[:120]}"
        )

    def resource_enabled(self, logical_id: str) -> bool:
        condition = self._resources.get(logical_id, {}).get("Condition")
        return True if condition is None else self.condition(str(condition))

    # -- values
    def resolve(self, value: Any, where: str) -> Any:
        """`value` with every intrinsic function replaced; AWS::NoValue entries removed."""
        if isinstance(value, list):
            items = [self.resolve(v, where) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(str(arg), where)
            if key.startswith("Fn::"):
                return self._function(key, arg, where)
        out = {k: self.resolve(v, f"{where}.{k}") for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _function(self, key: str, arg: Any, where: str) -> Any:
        if key == "Fn::GetAtt":
            parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return self.get_att(str(parts[0]), str(parts[1]), where)
        if key == "Fn::Sub":
            if isinstance(arg, list):
                text, variables = arg[0], self.resolve(arg[1], where)
            else:
                text, variables = arg, {}
            return self._sub(str(text), variables, where)
        if key == "Fn::If":
            name, yes, no = arg
            return self.resolve(yes if self.condition(str(name)) else no, where)
        if key == "Fn::Join":
            delimiter, items = arg[0], self.resolve(arg[1], where)
            return str(delimiter).join(as_text(i) for i in items)
        if key == "Fn::Select":
            index, items = self.resolve(arg[0], where), self.resolve(arg[1], where)
            return items[int(index)]
        if key == "Fn::Split":
            delimiter, text = arg[0], self.resolve(arg[1], where)
            return as_text(text).split(str(delimiter))
        if key == "Fn::ToJsonString":
            return json.dumps(self.resolve(arg, where), separators=(",", ":"))
        if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or"):
            return self._bool({key: arg}, where)
        raise TemplateError(f"{where}: {key} is not supported by the local stack")

    _SUB_VAR = re.compile(r"\$\{(!?)([^}]+)\}")

    def _sub(self, text: str, variables: Mapping[str, Any], where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            bang, name = match.group(1), match.group(2).strip()
            if bang:
                return "${" + name + "}"
            if name in variables:
                return as_text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return as_text(self.get_att(resource, attribute, where))
            return as_text(self.ref(name, where))

        return self._SUB_VAR.sub(replace, text)

    def ref(self, name: str, where: str) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": PARTITION,
            "AWS::StackName": STACK_NAME,
            "AWS::StackId": f"arn:{PARTITION}:cloudformation:{REGION}:{ACCOUNT_ID}:stack/"
            f"{STACK_NAME}/00000000-0000-0000-0000-000000000000",
            "AWS::URLSuffix": "amazonaws.com",
        }
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in self._parameters:
            spec = self._template.get("Parameters", {}).get(name, {})
            if spec.get("Type") == "CommaDelimitedList":  # a list, as CloudFormation's !Ref
                return self._parameters[name].split(",")
            return self._parameters[name]
        if name in self._physical:
            return self._physical[name]
        resource = self._resources.get(name)
        if resource is None:
            raise TemplateError(f"{where}: !Ref {name}: no such parameter or resource")
        kind = resource.get("Type", "")
        if kind == "AWS::SNS::Topic":
            return self.get_att(name, "TopicArn", where)
        if kind == "AWS::Serverless::LayerVersion":
            return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:layer:{name}:1"
        if kind == "AWS::IoT::TopicRule":
            return self.rule_name(name)
        return name  # functions, roles, alarms...: the logical id is the local physical name

    def rule_name(self, logical_id: str) -> str:
        props = self._resources[logical_id].get("Properties", {})
        if "RuleName" in props:
            return as_text(self.resolve(props["RuleName"], f"{logical_id}.RuleName"))
        return logical_id

    def get_att(self, name: str, attribute: str, where: str) -> Any:
        resource = self._resources.get(name)
        if resource is None:
            raise TemplateError(f"{where}: !GetAtt {name}.{attribute}: no such resource")
        kind = resource.get("Type", "")
        if kind == "AWS::IoT::TopicRule":
            physical = self.rule_name(name)
        else:
            physical = self._physical.get(name, name)
        regional = f"{PARTITION}:{{}}:{REGION}:{ACCOUNT_ID}"
        arns = {
            "AWS::DynamoDB::Table": f"arn:{regional.format('dynamodb')}:table/{physical}",
            "AWS::SQS::Queue": f"arn:{regional.format('sqs')}:{name}",
            "AWS::Serverless::Function": f"arn:{regional.format('lambda')}:function:{physical}",
            "AWS::Lambda::Function": f"arn:{regional.format('lambda')}:function:{physical}",
            "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT_ID}:role/{physical}",
            "AWS::IoT::TopicRule": f"arn:{regional.format('iot')}:rule/{physical}",
            "AWS::SNS::Topic": f"arn:{regional.format('sns')}:{name}",
            "AWS::Kinesis::Stream": f"arn:{regional.format('kinesis')}:stream/{physical}",
            "AWS::IoT::Authorizer": f"arn:{regional.format('iot')}:authorizer/{physical}",
            "AWS::Logs::LogGroup": f"arn:{regional.format('logs')}:log-group:{physical}:*",
        }
        if attribute in ("Arn", "TopicArn") and kind in arns:
            return arns[kind]
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return name
        if kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return self.ref(name, where)
        if kind == "AWS::SNS::Topic" and attribute == "TopicName":
            return name
        raise TemplateError(f"{where}: !GetAtt {name}.{attribute} is not supported locally")


def as_text(value: Any) -> str:
    """A resolved value as CloudFormation writes it into text (true/false, 30 not 30.0)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
