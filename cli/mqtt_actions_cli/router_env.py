"""The router's settings as the deployment sees them, for a dry run that tells the truth about
e-mail senders and declared analyses.

A deployed stack: the router function's own environment (lambda GetFunctionConfiguration).
The local stack and offline: the RouterFunction environment in template.yaml, which the local
stack runs with. What cannot be known is filled with a stand-in and said in `notes`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mqtt_actions.publishing import PREFIXES_PARAMETER, parse_prefixes
from mqtt_actions.settings import RouterSettings, SettingsError
from mqtt_actions_cli.cfn import Resolver, TemplateError, load_template
from mqtt_actions_cli.target import Target

STAND_IN_SENDER = "sender@example.com"
_PLACEHOLDERS = {
    "BUCKET_TABLE": "dry-run",
    "ACTIONS_TABLE": "dry-run",
    "IDEMPOTENCY_TABLE": "dry-run",
    "DEAD_LETTER_QUEUE_URL": "dry-run",
}


@dataclass
class RouterEnvironment:
    settings: RouterSettings
    source: str
    notes: list[str] = field(default_factory=list)


def action_publish_prefixes(target: Target | None) -> tuple[str, ...] | None:
    """Where `target`'s mqtt_publish actions may publish (template parameter
    ActionPublishPrefixes): the running local stack says it in its outputs, a deployed stack in
    its parameters; None for a stack from before the parameter (its router may publish
    anywhere but $aws/...). Without a target: the parameter's default in template.yaml."""
    if target is None:
        try:
            default = load_template()["Parameters"][PREFIXES_PARAMETER]["Default"]
        except (OSError, KeyError, TypeError):
            return None
        return parse_prefixes(str(default))
    source = target.outputs if target.is_local else target.parameters
    value = source.get(PREFIXES_PARAMETER)
    return None if value is None else parse_prefixes(value)


def prefixes_fix(target: Target | None) -> str:
    """How to change ActionPublishPrefixes on `target`."""
    name = PREFIXES_PARAMETER
    if target is None or target.is_local:
        return f"restart the local stack with `mqtt-actions local --param {name}=a,b,...`"
    return f"deploy the stack with `sam deploy --parameter-overrides {name}=a,b,...`"


def router_environment(target: Target | None) -> RouterEnvironment:
    environment = _router_environment(target)
    if environment.settings.action_publish_prefixes is None:
        prefixes = action_publish_prefixes(target)
        if prefixes is not None:
            settings = environment.settings.model_copy(update={"action_publish_prefixes": prefixes})
            return RouterEnvironment(settings, environment.source, environment.notes)
    return environment


def _router_environment(target: Target | None) -> RouterEnvironment:
    if target is not None and not target.is_local:
        deployed = _deployed_env(target)
        if deployed is not None:
            try:
                return RouterEnvironment(
                    RouterSettings.from_env({**_PLACEHOLDERS, **deployed}),
                    f"the environment of {target.function_name('RouterFunction')}",
                )
            except SettingsError as exc:
                note = f"the deployed router's environment does not validate ({exc})"
                return _from_template([note])
        return _from_template(["could not read the deployed router's environment"])
    return _from_template([])


def _deployed_env(target: Target) -> dict[str, str] | None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        config = target.client("lambda").get_function_configuration(
            FunctionName=target.function_name("RouterFunction")
        )
    except (ClientError, BotoCoreError):
        return None
    variables = config.get("Environment", {}).get("Variables", {})
    return {str(k): str(v) for k, v in variables.items()}


def _from_template(notes: list[str]) -> RouterEnvironment:
    env: dict[str, str] = dict(_PLACEHOLDERS)
    template: dict[str, Any] = {}
    try:
        template = load_template()
        variables = template["Resources"]["RouterFunction"]["Properties"]["Environment"][
            "Variables"
        ]
    except (OSError, KeyError, TypeError):
        variables = {}
        notes.append("template.yaml has no RouterFunction environment")
    analyses = _literal_json(template, variables.get("ANALYSIS_FUNCTIONS"))
    if analyses is not None:
        env["ANALYSIS_FUNCTIONS"] = analyses
    for name in ("MAX_HOPS", "WEBHOOK_ALLOW_PRIVATE"):
        value = variables.get(name)
        if isinstance(value, bool):
            env[name] = str(value).lower()
        elif isinstance(value, str | int):  # not an intrinsic like !Ref: those keep defaults
            env[name] = str(value)
    env["EMAIL_SENDER"] = STAND_IN_SENDER
    notes.append(
        f"e-mails show the stand-in sender {STAND_IN_SENDER}; the real one is the stack's "
        "EmailSender parameter"
    )
    try:
        settings = RouterSettings.from_env(env)
    except SettingsError as exc:
        notes.append(f"template.yaml's router environment does not validate ({exc})")
        settings = RouterSettings.from_env({**_PLACEHOLDERS, "EMAIL_SENDER": STAND_IN_SENDER})
    return RouterEnvironment(settings, "template.yaml", notes)


def _literal_json(template: Mapping[str, Any], value: Any) -> str | None:
    """ANALYSIS_FUNCTIONS as JSON text: literal, or `!Sub` resolved as the local stack resolves
    it (a function's name is its logical id there)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Sub" in value:
        try:
            resolved = Resolver(template, physical={}).resolve(value, "ANALYSIS_FUNCTIONS")
            json.loads(resolved)
        except (TemplateError, TypeError, json.JSONDecodeError):
            return None
        return str(resolved)
    return None
