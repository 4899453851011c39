"""template.yaml resolved for one machine: intrinsic functions to local names, and the functions and
IoT rules the local stack runs.

Physical names outside AWS are the logical ids (table "BucketTable", function "RouterFunction");
queues resolve to the URLs moto gave them. Parameters take their defaults unless overridden.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from mqtt_actions_cli.cfn import (
    ACCOUNT_ID,
    NO_VALUE,
    PARTITION,
    REGION,
    STACK_NAME,
    Resolver,
    TemplateError,
    as_text,
)

__all__ = [
    "ACCOUNT_ID",
    "DEFAULT_MAX_RETRIES",
    "FUNCTION_TYPES",
    "NO_VALUE",
    "PARTITION",
    "REGION",
    "STACK_NAME",
    "FunctionSpec",
    "LocalTemplate",
    "Resolver",
    "RuleSpec",
    "TemplateError",
    "load_local_template",
]

DEFAULT_MAX_RETRIES: Final = 2  # Lambda's default for asynchronous invocations

FUNCTION_TYPES: Final = ("AWS::Serverless::Function", "AWS::Lambda::Function")
LAYER_DIR: Final = "layers/core"  # CoreLayer's ContentUri


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
    layer_module: str | None = None  # a handler module of the shared layer, imported by name

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
        resolver.get_att(lid, "Arn", lid): as_text(resolver.ref(lid, lid))
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
            local.outputs[name] = as_text(resolver.resolve(output["Value"], f"Outputs.{name}"))
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
    layer_module = None
    if not module_path.is_file():
        # A handler in the shared layer (e.g. mqtt_actions.tagoio.handler): Lambda finds it on
        # the layer's path; the local stack imports it by name.
        in_layer = [
            root / LAYER_DIR / (module.replace(".", "/") + ".py"),
            root / LAYER_DIR / module.replace(".", "/") / "__init__.py",
        ]
        if not any(p.is_file() for p in in_layer):
            raise TemplateError(f"{where}: handler module {module_path} does not exist")
        layer_module = module
        module_path = next(p for p in in_layer if p.is_file())
    env: dict[str, str] = {}
    for source, label in ((globals_fn, "Globals.Function"), (props, where)):
        variables = (source.get("Environment") or {}).get("Variables") or {}
        resolved = resolver.resolve(variables, f"{label}.Environment.Variables")
        env.update({k: as_text(v) for k, v in resolved.items()})
    env.setdefault("LAMBDA_TASK_ROOT", str(code_dir))  # as Lambda sets it: the function's code
    invoke = resolver.resolve(props.get("EventInvokeConfig") or {}, f"{where}.EventInvokeConfig")
    on_failure = (invoke.get("DestinationConfig") or {}).get("OnFailure") or {}
    queue_url = None
    if on_failure:
        destination = as_text(on_failure.get("Destination", ""))
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
        layer_module=layer_module,
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
        arn = as_text(action["Lambda"]["FunctionArn"])
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
        error_queue = as_text(error_action["Sqs"]["QueueUrl"])
    return RuleSpec(
        name=name,
        source=logical_id,
        sql=str(payload.get("Sql", "")),
        sql_version=str(payload.get("AwsIotSqlVersion", "2015-10-08")),
        functions=tuple(functions),
        error_queue_url=error_queue,
        disabled=bool(payload.get("RuleDisabled", False)),
    )
