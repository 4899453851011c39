"""template.yaml resolved for one machine: intrinsic functions to local names, and the functions and
IoT rules the local stack runs.

Physical names outside AWS are the logical ids (table "BucketTable", function "RouterFunction");
queues resolve to the URLs moto gave them. Parameters take their defaults unless overridden.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

ACCOUNT_ID: Final = "123456789012"  # moto's default account
REGION: Final = "us-east-1"
PARTITION: Final = "aws"
STACK_NAME: Final = "mqtt-actions-local"
DEFAULT_MAX_RETRIES: Final = 2  # Lambda's default for asynchronous invocations

FUNCTION_TYPES: Final = ("AWS::Serverless::Function", "AWS::Lambda::Function")


class TemplateError(ValueError):
    """template.yaml uses something the local stack cannot reproduce; the message names where."""


class _NoValue:
    pass


NO_VALUE: Final = _NoValue()


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function as the local stack runs it: code, handler and environment."""

    logical_id: str
    code_dir: Path
    module_path: Path
    handler_name: str
    environment: Mapping[str, str]
    max_retries: int = DEFAULT_MAX_RETRIES
    on_failure_queue_url: str | None = None
    timeout_seconds: int = 3
    memory_mb: int = 128

    @property
    def arn(self) -> str:
        return f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT_ID}:function:{self.logical_id}"


@dataclass(frozen=True)
class RuleSpec:
    """An IoT topic rule (AWS::IoT::TopicRule, or a SAM IoTRule event) and whom it invokes."""

    name: str
    source: str  # where it is declared, for messages: "RouteRule" or "MyFunction.Events.Ev"
    sql: str
    sql_version: str
    functions: tuple[str, ...]
    error_queue_url: str | None = None
    disabled: bool = False


@dataclass
class LocalTemplate:
    """Everything the local stack needs from template.yaml, resolved."""

    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    rules: list[RuleSpec] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    not_run: list[str] = field(default_factory=list)  # function events with no local trigger


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
                values[name] = _text(spec["Default"])
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
                return _text(left) == _text(right)
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
            return str(delimiter).join(_text(i) for i in items)
        if key == "Fn::Select":
            index, items = self.resolve(arg[0], where), self.resolve(arg[1], where)
            return items[int(index)]
        if key == "Fn::Split":
            delimiter, text = arg[0], self.resolve(arg[1], where)
            return _text(text).split(str(delimiter))
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
                return _text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return _text(self.get_att(resource, attribute, where))
            return _text(self.ref(name, where))

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
            return _text(self.resolve(props["RuleName"], f"{logical_id}.RuleName"))
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


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---------------------------------------------------------------------------- functions and rules


def load_local_template(
    template: Mapping[str, Any],
    *,
    root: Path,
    physical: Mapping[str, str],
    parameters: Mapping[str, str] | None = None,
) -> LocalTemplate:
    """Functions (with their environment), rules and outputs of `template`, resolved locally."""
    resolver = Resolver(template, physical=physical, parameters=parameters)
    resources: Mapping[str, Any] = template.get("Resources", {})
    queue_by_arn = {
        resolver.get_att(lid, "Arn", lid): _text(resolver.ref(lid, lid))
        for lid, res in resources.items()
        if res.get("Type") == "AWS::SQS::Queue"
    }
    local = LocalTemplate()
    globals_fn: Mapping[str, Any] = template.get("Globals", {}).get("Function", {})
    for logical_id, res in resources.items():
        if res.get("Type") in FUNCTION_TYPES and resolver.resource_enabled(logical_id):
            local.functions[logical_id] = _function(
                logical_id, res, globals_fn, resolver, queue_by_arn, root
            )
    by_arn = {spec.arn: lid for lid, spec in local.functions.items()}
    for logical_id, res in resources.items():
        if res.get("Type") == "AWS::IoT::TopicRule" and resolver.resource_enabled(logical_id):
            local.rules.append(_topic_rule(logical_id, res, resolver, by_arn))
    for logical_id, res in resources.items():
        if res.get("Type") == "AWS::Serverless::Function" and logical_id in local.functions:
            for event_name, event in (res.get("Properties", {}).get("Events") or {}).items():
                if event.get("Type") != "IoTRule":
                    local.not_run.append(f"{logical_id}.{event_name} ({event.get('Type')})")
                    continue
                where = f"{logical_id}.Events.{event_name}"
                props = resolver.resolve(event.get("Properties", {}), where)
                local.rules.append(
                    RuleSpec(
                        name=f"{logical_id}{event_name}",
                        source=where,
                        sql=str(props["Sql"]),
                        sql_version=str(props.get("AwsIotSqlVersion", "2015-10-08")),
                        functions=(logical_id,),
                    )
                )
    for name, output in template.get("Outputs", {}).items():
        if "Condition" in output and not resolver.condition(str(output["Condition"])):
            continue
        try:
            local.outputs[name] = _text(resolver.resolve(output["Value"], f"Outputs.{name}"))
        except TemplateError:
            continue  # an output the local stack cannot name is simply not offered
    return local


def _function(
    logical_id: str,
    resource: Mapping[str, Any],
    globals_fn: Mapping[str, Any],
    resolver: Resolver,
    queue_by_arn: Mapping[str, str],
    root: Path,
) -> FunctionSpec:
    props: Mapping[str, Any] = resource.get("Properties", {})
    where = logical_id
    code_uri = props.get("CodeUri", globals_fn.get("CodeUri"))
    handler = props.get("Handler", globals_fn.get("Handler"))
    if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
        msg = f"{where}: the local stack needs a local CodeUri and a Handler 'module.function'"
        raise TemplateError(msg)
    module, _, handler_name = handler.rpartition(".")
    code_dir = (root / code_uri).resolve()
    module_path = code_dir / (module.replace(".", "/") + ".py")
    if not module_path.is_file():
        raise TemplateError(f"{where}: handler module {module_path} does not exist")
    env: dict[str, str] = {}
    for source, label in ((globals_fn, "Globals.Function"), (props, where)):
        variables = (source.get("Environment") or {}).get("Variables") or {}
        resolved = resolver.resolve(variables, f"{label}.Environment.Variables")
        env.update({k: _text(v) for k, v in resolved.items()})
    invoke = resolver.resolve(props.get("EventInvokeConfig") or {}, f"{where}.EventInvokeConfig")
    on_failure = (invoke.get("DestinationConfig") or {}).get("OnFailure") or {}
    queue_url = None
    if on_failure:
        destination = _text(on_failure.get("Destination", ""))
        if on_failure.get("Type", "SQS") != "SQS" or destination not in queue_by_arn:
            msg = (
                f"{where}: only an SQS queue of the template works as OnFailure destination locally"
            )
            raise TemplateError(msg)
        queue_url = queue_by_arn[destination]
    return FunctionSpec(
        logical_id=logical_id,
        code_dir=code_dir,
        module_path=module_path,
        handler_name=handler_name,
        environment=env,
        max_retries=int(invoke.get("MaximumRetryAttempts", DEFAULT_MAX_RETRIES)),
        on_failure_queue_url=queue_url,
        timeout_seconds=int(props.get("Timeout", globals_fn.get("Timeout", 3))),
        memory_mb=int(props.get("MemorySize", globals_fn.get("MemorySize", 128))),
    )


def _topic_rule(
    logical_id: str, resource: Mapping[str, Any], resolver: Resolver, by_arn: Mapping[str, str]
) -> RuleSpec:
    payload = resolver.resolve(
        resource.get("Properties", {}).get("TopicRulePayload", {}), f"{logical_id}.TopicRulePayload"
    )
    name = resolver.rule_name(logical_id)
    functions: list[str] = []
    for action in payload.get("Actions", []):
        kinds = sorted(action)
        if kinds != ["Lambda"]:
            msg = (
                f"rule {name} ({logical_id}): action {', '.join(kinds)} is not supported by the "
                "local rules engine (Lambda only)"
            )
            raise TemplateError(msg)
        arn = _text(action["Lambda"]["FunctionArn"])
        base = ":".join(arn.split(":")[:7])  # drop a version or alias qualifier
        if base not in by_arn:
            raise TemplateError(
                f"rule {name} ({logical_id}): {arn} is not a function of the template"
            )
        functions.append(by_arn[base])
    error_queue = None
    error_action = payload.get("ErrorAction") or {}
    if error_action:
        if sorted(error_action) != ["Sqs"]:
            msg = f"rule {name} ({logical_id}): only an Sqs ErrorAction is supported locally"
            raise TemplateError(msg)
        error_queue = _text(error_action["Sqs"]["QueueUrl"])
    return RuleSpec(
        name=name,
        source=logical_id,
        sql=str(payload.get("Sql", "")),
        sql_version=str(payload.get("AwsIotSqlVersion", "2015-10-08")),
        functions=tuple(functions),
        error_queue_url=error_queue,
        disabled=bool(payload.get("RuleDisabled", False)),
    )
