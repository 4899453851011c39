"""Actions: apply a file (plan + store, optionally prune), list, remove, dry-run, and the
console's single-action edits (save, enable/disable, export). Over a Target; no printing."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from mqtt_actions.actions import (
    Action,
    ActionsFileError,
    MqttPublishAction,
    WebhookAction,
    effective_rate_limit,
    parse_actions,
)
from mqtt_actions.adapters.actions_store import DynamoActionsStore
from mqtt_actions.dryrun import ActionPreview, dry_run
from mqtt_actions.events import RouterEvent
from mqtt_actions.masking import MASK as MASK
from mqtt_actions.masking import SHOWN_CHARS as SHOWN_CHARS
from mqtt_actions.masking import mask as mask
from mqtt_actions.masking import mask_url
from mqtt_actions.parsers import ParserLookup
from mqtt_actions.publishing import prefixes_problem
from mqtt_actions.topics import InvalidTopicError, validate_topic
from mqtt_actions_cli.actions_file import load_actions_file
from mqtt_actions_cli.ops.defaults import TEST_DEVICE as TEST_DEVICE
from mqtt_actions_cli.ops.errors import NotFoundError, OpsError, UsageError
from mqtt_actions_cli.output import plural
from mqtt_actions_cli.router_env import action_publish_prefixes, prefixes_fix, router_environment
from mqtt_actions_cli.target import Target


def store(target: Target) -> DynamoActionsStore:
    return DynamoActionsStore(target.output("ActionsTableName"), target.client("dynamodb"))


def config(action: Action) -> dict[str, Any]:
    """An action as stored and as `actions apply` takes it back."""
    return action.model_dump(mode="json")


# ---------------------------------------------------------------------------- reading a file


def parse_file(text: str, source: str) -> list[Action]:
    """The actions of a file's text (YAML or JSON), validated as a whole; UsageError lists every
    problem with the action id and field, the wording `actions apply` prints."""
    try:
        return load_actions_file(text, source=source)
    except ActionsFileError as exc:
        raise UsageError(
            f"{source}: {plural(len(exc.problems), 'problem')}; the file is refused as a whole "
            "and nothing was stored",
            problems=exc.problems,
            hint="fix each problem listed and apply again",
        ) from None


# ---------------------------------------------------------------------------- apply


class ApplyPlan(BaseModel):
    """What applying a set of actions changes (pure: see `plan`)."""

    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    remarked: list[str] = Field(default_factory=list, description="unchanged, stored unmarked")
    remove: list[str] = Field(default_factory=list, description="to delete (--prune)")
    kept: list[str] = Field(default_factory=list, description="stored, not in the set, kept")


def plan(
    wanted: Sequence[Action],
    stored: Sequence[Action],
    *,
    unmarked: Collection[str] = (),
    stored_ids: Collection[str] = (),
    prune: bool = False,
) -> ApplyPlan:
    """Created / updated / unchanged / removed for `wanted` over what is `stored`.

    `stored` are the actions that load; `stored_ids` every stored id (also rows that no longer
    validate, which only --prune can remove); `unmarked` the loaded ids stored without a valid
    fingerprint, rewritten as they are so the router loads them without validating them again."""
    by_id = {a.id: a for a in stored}
    keep = {a.id for a in wanted}
    out = ApplyPlan()
    for action in wanted:
        old = by_id.get(action.id)
        if old is None:
            out.created.append(action.id)
        elif config(old) != config(action):
            out.updated.append(action.id)
        else:
            out.unchanged.append(action.id)
            if action.id in unmarked:
                out.remarked.append(action.id)
    if prune:
        everything = list(dict.fromkeys([*stored_ids, *by_id]))
        out.remove = [i for i in everything if i not in keep]
    out.kept = sorted(set(by_id) - keep - set(out.remove))
    return out


class ApplyResult(BaseModel):
    file: str
    target: str
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    remarked: list[str]
    removed: list[str]
    not_in_file: list[str]


def check_publish_topics(target: Target, actions: Sequence[Action], source: str) -> None:
    """UsageError naming each mqtt_publish action whose topic is outside the prefixes the
    target's router may publish under (ActionPublishPrefixes): IoT would refuse every publish."""
    prefixes = action_publish_prefixes(target)
    if prefixes is None:
        return
    problems = []
    for index, action in enumerate(actions):
        if isinstance(action, MqttPublishAction):
            problem = prefixes_problem(action.topic, prefixes)
            if problem is not None:
                problems.append(f"actions[{index}] (id {action.id!r}): {problem}")
    if problems:
        raise UsageError(
            f"{source}: {plural(len(problems), 'problem')}; the file is refused as a whole "
            "and nothing was stored",
            problems=problems,
            hint=f"change each topic, or {prefixes_fix(target)}",
        )


def apply(target: Target, actions: Sequence[Action], *, prune: bool, source: str) -> ApplyResult:
    """Store the validated `actions`: new ones created, changed ones updated, (with `prune`)
    stored ones absent from `actions` removed."""
    check_publish_topics(target, actions, source)
    actions_store = store(target)
    stored = actions_store.load()
    actions = unmasked(actions, stored)
    ids = actions_store.ids() if prune else []
    todo = plan(actions, stored, unmarked=actions_store.unmarked, stored_ids=ids, prune=prune)
    write = set(todo.created) | set(todo.updated) | set(todo.remarked)
    actions_store.put_all([a for a in actions if a.id in write])
    removed = [i for i in todo.remove if actions_store.delete(i)]
    kept = sorted({a.id for a in stored} - {a.id for a in actions} - set(removed))
    return ApplyResult(
        file=source,
        target=target.describe(),
        created=todo.created,
        updated=todo.updated,
        unchanged=todo.unchanged,
        remarked=todo.remarked,
        removed=removed,
        not_in_file=kept,
    )


def when_text(action: Action) -> str:
    """`temperature > 30 and door == "open"`, or `always`."""
    parts = []
    for c in action.when:
        value = "" if c.op == "exists" else " " + json.dumps(c.value, ensure_ascii=False)
        parts.append(f"{c.variable} {c.op}{value}")
    return " and ".join(parts) or "always"


def rate_text(action: Action) -> str:
    """`5 per 60 s`, `10 per 60 s (default)` for sms and email, or `none`."""
    limit = effective_rate_limit(action)
    if limit is None:
        return "none"
    text = f"{limit.max} per {limit.per_seconds} s"
    return text if action.rate_limit is not None else f"{text} (default)"


# ---------------------------------------------------------------------------- list, get, remove


def list_actions(target: Target) -> list[Action]:
    """The stored actions that load, by id."""
    return sorted(store(target).load(), key=lambda a: a.id)


class ActionsListing(BaseModel):
    """`actions list`: each stored action as `actions apply` takes it back, and its table row
    (id, type, topics, enabled, when, rate limit), by id. Plain JSON, so the local stack's
    control API can answer it for a CLI that imports no pydantic (see reads.py)."""

    actions: list[dict[str, Any]]
    rows: list[tuple[str, str, str, bool, str, str]]


def listing(target: Target) -> ActionsListing:
    actions = list_actions(target)
    return ActionsListing(
        actions=[config(a) for a in actions],
        rows=[
            (a.id, a.type, ", ".join(a.topics), a.enabled, when_text(a), rate_text(a))
            for a in actions
        ],
    )


def get(target: Target, action_id: str) -> Action:
    for action in store(target).load():
        if action.id == action_id:
            return action
    raise NotFoundError(
        f"no stored action with id {action_id!r}",
        hint="see the ids with `mqtt-actions actions list`",
    )


class RemoveResult(BaseModel):
    removed: list[str]
    target: str


def remove(target: Target, ids: Sequence[str]) -> RemoveResult:
    """Remove these ids; if any is not stored, nothing is removed (NotFoundError names them)."""
    wanted = list(dict.fromkeys(ids))
    actions_store = store(target)
    stored = actions_store.ids()
    unknown = [i for i in wanted if i not in set(stored)]
    if unknown:
        raise NotFoundError(
            f"no stored action with id {', '.join(unknown)}; nothing was removed",
            hint="see the ids with `mqtt-actions actions list` (stored: "
            + (", ".join(sorted(stored)) or "none")
            + ")",
        )
    removed = [i for i in wanted if actions_store.delete(i)]
    return RemoveResult(removed=removed, target=target.describe())


# ---------------------------------------------------------------------------- single edits


def masked_config(action: Action) -> dict[str, Any]:
    """`config` with webhook header values masked (what the console shows and edits)."""
    data = config(action)
    if isinstance(action, WebhookAction):
        data["headers"] = {k: mask(v) for k, v in action.headers.items()}
    return data


def unmasked(actions: Sequence[Action], stored: Sequence[Action]) -> list[Action]:
    """`actions` with every header value that is still the mask of the stored action's (same
    id) replaced by the stored value: an exported file applies back unchanged."""
    by_id = {a.id: a for a in stored}
    out: list[Action] = []
    for action in actions:
        old = by_id.get(action.id)
        if isinstance(action, WebhookAction) and isinstance(old, WebhookAction):
            headers = _unmask(config(action), old)["headers"]
            if headers != action.headers:
                action = action.model_copy(update={"headers": headers})
        out.append(action)
    return out


def _unmask(data: dict[str, Any], old: Action | None) -> dict[str, Any]:
    """A header value sent back still masked keeps the stored value (it was not replaced)."""
    headers = data.get("headers")
    if not isinstance(headers, dict) or not isinstance(old, WebhookAction):
        return data
    kept = {
        name: old.headers[name]
        if name in old.headers and value == mask(old.headers[name])
        else value
        for name, value in headers.items()
    }
    return {**data, "headers": kept}


def save(target: Target, data: Mapping[str, Any], *, replaces: str | None = None) -> Action:
    """Validate one action and store it (created, or replacing `replaces`, whose id may change).
    UsageError lists the problems in `actions apply`'s wording; nothing is stored then."""
    actions_store = store(target)
    stored = {a.id: a for a in actions_store.load()}
    old = stored.get(replaces) if replaces else None
    if replaces and old is None:
        raise NotFoundError(f"no stored action with id {replaces!r}")
    fields = _unmask(dict(data), old)
    try:
        [action] = parse_actions({"actions": [fields]}, source="the action")
    except ActionsFileError as exc:
        raise UsageError(
            f"the action has {plural(len(exc.problems), 'problem')}; nothing was stored",
            problems=exc.problems,
            hint="fix each problem listed and save again",
        ) from None
    check_publish_topics(target, [action], "the action")
    if action.id != replaces and action.id in set(actions_store.ids()):
        raise UsageError(
            f"id {action.id!r} is used by another stored action; nothing was stored",
            problems=[f"id: {action.id!r} is already used; give each action its own id"],
        )
    actions_store.put_all([action])
    if replaces and replaces != action.id:
        actions_store.delete(replaces)
    return action


def set_enabled(target: Target, action_id: str, enabled: bool) -> Action:
    action = get(target, action_id)
    changed = action.model_copy(update={"enabled": enabled})
    store(target).put_all([changed])
    return changed


def export(target: Target) -> str:
    """Every stored action as an actions file (YAML), webhook header values masked (issue #23:
    the console's download showed them); `actions apply` of it against the same stack keeps
    the stored values (`unmasked`), so it takes the file back unchanged."""
    import yaml

    header = (
        f"# mqtt-actions actions: exported from {target.describe()}\n"
        f"# webhook header values are masked ({MASK} + their last {SHOWN_CHARS} characters): "
        "applied to this stack they keep the stored values\n"
    )
    data = {"actions": [masked_config(a) for a in list_actions(target)]}
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# ---------------------------------------------------------------------------- test (dry run)


class Preview(BaseModel):
    action_id: str
    type: str
    outcome: str
    reason: str | None
    detail: Any
    would_send: list[dict[str, Any]]
    effects: list[tuple[str, dict[str, Any]]] = Field(default_factory=list, exclude=True)


class DryRunResult(BaseModel):
    dry_run: bool = True
    topic: str
    device: str
    payload_bytes: int
    data_points: int
    actions_source: str
    actions_considered: int
    matched: int
    settings_source: str
    notes: list[str]
    actions: list[Preview]
    message_matched: int = Field(default=0, exclude=True)


def check_topic(topic: str) -> None:
    try:
        validate_topic(topic)
    except InvalidTopicError as exc:
        raise UsageError(
            f"TOPIC {topic!r}: {exc}",
            hint="test with a topic name a device would publish to, e.g. home/kitchen/temperature",
        ) from None


def dryrun(
    target: Target | None,
    topic: str,
    payload: bytes,
    *,
    device: str = TEST_DEVICE,
    actions: Sequence[Action] | None = None,
    source: str | None = None,
) -> DryRunResult:
    """Dry run: one message through the router's logic with `actions` (default: the stored
    ones). Nothing is sent, stored, published or invoked. `target` None: nothing is contacted."""
    check_topic(topic)
    if actions is None:
        if target is None:
            raise UsageError("a dry run needs the actions: a file, or a stack to read them from")
        actions = store(target).load()
        source = f"stored in {target.describe()}"
    environment = router_environment(target)
    event = RouterEvent(
        payload=base64.b64encode(payload).decode("ascii"),
        topic=topic,
        clientid=device,
        device=device,  # a dry run names its device: nothing is bound to it
        principal="dry-run",
        timestamp=int(time.time() * 1000),
        traceid=f"dry-run-{uuid.uuid4()}",
    )
    report = dry_run(event, actions, environment.settings, parsers=_device_parsers(target))
    secrets = {a.id: frozenset(a.headers) for a in actions if a.type == "webhook"}
    return DryRunResult(
        topic=topic,
        device=device,
        payload_bytes=len(payload),
        data_points=report.message.points,
        actions_source=source or "the given actions",
        actions_considered=sum(1 for a in actions if a.enabled),
        matched=len(report.actions),
        settings_source=environment.source,
        notes=environment.notes,
        actions=[_preview(p, secrets) for p in report.actions],
        message_matched=report.message.matched,
    )


def _device_parsers(target: Target | None) -> ParserLookup | None:
    """The devices' payload parsers of `target` for the dry run (None without a target, or a
    stack deployed before the device registry)."""
    if target is None:
        return None
    from mqtt_actions.parsers.registry import CachedParsers
    from mqtt_actions_cli.ops import device_profiles

    try:
        registry = device_profiles.registry_for(target)
    except OpsError:  # no DevicesTableName output: no parsers to run
        return None
    return CachedParsers(registry.get, ttl=0, clock=time.time)


def _preview(preview: ActionPreview, secrets: Mapping[str, Collection[str]]) -> Preview:
    """`preview` as shown; `secrets`: each webhook action's own header names, by action id."""
    r = preview.result
    effects = [
        (e.kind, _shown(e.kind, e.detail, secrets.get(r.action_id, ()))) for e in preview.effects
    ]
    return Preview(
        action_id=r.action_id,
        type=r.action_type,
        outcome=r.outcome.value,
        reason=r.reason,
        detail=r.detail,
        would_send=[{"kind": kind, **detail} for kind, detail in effects],
        effects=effects,
    )


def _shown(kind: str, detail: dict[str, Any], secret_headers: Collection[str]) -> dict[str, Any]:
    """What a dry run shows of an effect: a webhook's URL secrets and the values of the headers
    its action sets masked, as the inspector, the outbox and the export show them (issue #23);
    the headers every request carries (`X-MQTT-Actions-*`, ...) and the rest as they would go."""
    if kind != "webhook":
        return detail
    shown = dict(detail)
    if isinstance(shown.get("url"), str):
        shown["url"] = mask_url(shown["url"])
    if isinstance(shown.get("headers"), dict):
        shown["headers"] = {
            str(k): mask(str(v)) if k in secret_headers else str(v)
            for k, v in shown["headers"].items()
        }
    return shown
