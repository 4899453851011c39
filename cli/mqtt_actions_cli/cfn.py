"""template.yaml as data: the single source of truth that tests and the local stack build from.

Reads CloudFormation's short tags (`!Ref`, `!GetAtt`, `!Sub`, ...) into their long form, and
creates the template's DynamoDB tables and SQS queues against any endpoint (moto in tests and
in the local stack), so fakes cannot drift from what is deployed."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


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
    data: dict[str, Any] = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
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
