"""Environment configuration, read once at handler entry into a typed model."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mqtt_actions.bindings import DeviceIdentity
from mqtt_actions.inspector import InspectorLevel
from mqtt_actions.publishing import parse_prefixes


class SettingsError(ValueError):
    """An environment variable is missing or malformed; the message names it and the fix."""


class RouterSettings(BaseModel):
    """What the router function needs, from the environment template.yaml gives it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    bucket_table: str = Field(alias="BUCKET_TABLE", min_length=1)
    actions_table: str = Field(alias="ACTIONS_TABLE", min_length=1)
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=1)
    dead_letter_queue_url: str = Field(alias="DEAD_LETTER_QUEUE_URL", min_length=1)
    inspector_table: str = Field(default="", alias="INSPECTOR_TABLE")
    inspector_retention_days: int = Field(default=7, ge=1, alias="INSPECTOR_RETENTION_DAYS")
    inspector_level: InspectorLevel = Field(default=InspectorLevel.ALL, alias="INSPECTOR_LEVEL")
    email_sender: str = Field(default="", alias="EMAIL_SENDER")
    # TagoIO's Notification.send goes to the account owner: here these addresses (comma-separated)
    notification_email: str = Field(default="", alias="NOTIFICATION_EMAIL")
    analysis_functions: dict[str, str] = Field(default_factory=dict, alias="ANALYSIS_FUNCTIONS")
    actions_cache_seconds: float = Field(default=30.0, ge=0, alias="ACTIONS_CACHE_SECONDS")
    # Local stack only: a file rewritten on every change of the actions (change_marker.py).
    actions_change_file: str = Field(default="", alias="ACTIONS_CHANGE_FILE")
    max_hops: int = Field(default=4, ge=1, le=32, alias="MAX_HOPS")
    idempotency_seconds: int = Field(default=3600, ge=60, alias="IDEMPOTENCY_SECONDS")
    webhook_allow_private: bool = Field(default=False, alias="WEBHOOK_ALLOW_PRIVATE")
    device_bindings_table: str = Field(default="", alias="DEVICE_BINDINGS_TABLE")
    # Local stack without token checking only: client-id (mqtt_actions.bindings.DeviceIdentity).
    device_identity: DeviceIdentity = Field(default=DeviceIdentity.BINDING, alias="DEVICE_IDENTITY")
    # Payload parsers: TagoIO's 2 s by default (template parameter ParserTimeoutSeconds).
    parser_timeout_seconds: float = Field(default=2.0, gt=0, le=30, alias="PARSER_TIMEOUT_SECONDS")
    parser_memory_mb: int = Field(default=32, ge=16, le=1024, alias="PARSER_MEMORY_MB")
    # Where mqtt_publish actions may publish (template parameter ActionPublishPrefixes, which
    # also scopes the router's iot:Publish). Unset: not checked (a stack from before #23, whose
    # role may publish anywhere but $aws/...); empty: nowhere.
    action_publish_prefixes: tuple[str, ...] | None = Field(
        default=None, alias="ACTION_PUBLISH_PREFIXES"
    )
    # Data points an insert_bucket action stores of one message, and of one publishing device in
    # a minute (template parameters MaxPointsPerMessage, MaxPointsPerDeviceMinute). Unset or 0:
    # no cap (the per-minute cap costs one DynamoDB UpdateItem per storing message).
    max_points_per_message: int = Field(default=0, ge=0, alias="MAX_POINTS_PER_MESSAGE")
    max_points_per_device_minute: int = Field(default=0, ge=0, alias="MAX_POINTS_PER_DEVICE_MINUTE")

    @field_validator("analysis_functions", mode="before")
    @classmethod
    def _json_map(cls, value: object) -> object:
        return _json_map(value)

    @field_validator("action_publish_prefixes", mode="before")
    @classmethod
    def _prefixes(cls, value: object) -> object:
        return parse_prefixes(value) if isinstance(value, str) else value

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RouterSettings:
        source = os.environ if env is None else env
        try:
            return cls.model_validate(dict(source))
        except (ValidationError, json.JSONDecodeError) as exc:
            raise SettingsError(_describe(exc)) from exc


ANALYSIS_ENV_PREFIX = "ANALYSIS_ENV_"


class AnalysisSettings(BaseModel):
    """What an analysis function needs. Every service's setting is optional: a service used
    without its setting raises NotConfiguredError naming the variable, so an analysis that only
    publishes needs none of them."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    analysis_name: str = Field(default="", alias="ANALYSIS_NAME")
    bucket_table: str = Field(default="", alias="BUCKET_TABLE")
    rate_table: str = Field(default="", alias="ACTIONS_TABLE")  # holds the rate-limit counters
    email_sender: str = Field(default="", alias="EMAIL_SENDER")
    # TagoIO's Notification.send goes to the account owner: here these addresses (comma-separated)
    notification_email: str = Field(default="", alias="NOTIFICATION_EMAIL")
    analysis_functions: dict[str, str] = Field(default_factory=dict, alias="ANALYSIS_FUNCTIONS")
    max_hops: int = Field(default=4, ge=1, le=32, alias="MAX_HOPS")
    notify_rate_max: int = Field(default=10, ge=1, alias="NOTIFY_RATE_MAX")
    notify_rate_seconds: int = Field(default=60, ge=1, le=86_400, alias="NOTIFY_RATE_SECONDS")
    inspector_table: str = Field(default="", alias="INSPECTOR_TABLE")
    inspector_retention_days: int = Field(default=7, ge=1, alias="INSPECTOR_RETENTION_DAYS")
    environment: dict[str, str] = Field(
        default_factory=dict, description="ANALYSIS_ENV_<key> variables, prefix removed"
    )

    @field_validator("analysis_functions", mode="before")
    @classmethod
    def _json_map(cls, value: object) -> object:
        return _json_map(value)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AnalysisSettings:
        source = dict(os.environ if env is None else env)
        environment = {
            key.removeprefix(ANALYSIS_ENV_PREFIX): value
            for key, value in source.items()
            if key.startswith(ANALYSIS_ENV_PREFIX) and key != ANALYSIS_ENV_PREFIX
        }
        try:
            return cls.model_validate({**source, "environment": environment})
        except (ValidationError, json.JSONDecodeError) as exc:
            raise SettingsError(_describe(exc)) from exc


def _json_map(value: object) -> object:
    if isinstance(value, str):
        try:
            return json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            msg = f'not a JSON object of name -> function name ({exc.msg}), e.g. {{"a": "fn-a"}}'
            raise ValueError(msg) from None
    return value


class InspectorSettings(BaseModel):
    """What the inspector function (IoT lifecycle events) needs."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    inspector_table: str = Field(alias="INSPECTOR_TABLE", min_length=1)
    retention_days: int = Field(default=7, ge=1, alias="INSPECTOR_RETENTION_DAYS")
    dead_letter_queue_url: str = Field(alias="DEAD_LETTER_QUEUE_URL", min_length=1)
    device_bindings_table: str = Field(default="", alias="DEVICE_BINDINGS_TABLE")
    device_identity: DeviceIdentity = Field(default=DeviceIdentity.BINDING, alias="DEVICE_IDENTITY")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InspectorSettings:
        source = os.environ if env is None else env
        try:
            return cls.model_validate(dict(source))
        except ValidationError as exc:
            raise SettingsError(_describe(exc)) from exc


def _describe(exc: ValidationError | json.JSONDecodeError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"ANALYSIS_FUNCTIONS is not a JSON object of name -> function: {exc.msg}"
    problems = [
        f"environment variable {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
        for err in exc.errors()
    ]
    return "; ".join(problems) + " (set it in template.yaml under the function's Environment)"
