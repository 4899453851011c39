"""TagoIO's Python SDK shapes for analyses: a ported TagoIO analysis runs with two edits.

    from mqtt_actions.tagoio import Analysis, Services, Device     # was: from tagoio_sdk import ...

    def my_analysis(context, scope):
        context.log("scope:", scope)
        Services({"token": context.token}).MQTT.publish({"topic": "a/b", "message": "on"})

    lambda_handler = Analysis({"token": "unused"}).init(my_analysis)  # was: Analysis(...).init(...)

`init` returns the Lambda handler (built on `mqtt_actions.analysis`, so the inspector, rate limits,
idempotent bucket keys and the loop guard are the same as for any analysis) instead of blocking
on TagoIO's event stream.

The shapes follow tago-io/sdk-python (src/tagoio_sdk/modules/): `Analysis.init(analysis)` calls
`analysis(context, scope)` with `context.log`, `context.token`, `context.analysis_id` and
`context.environment` as a list of `{"key", "value"}` (Analysis/Analysis.py); `Services(params)`
has `.MQTT.publish({topic, message, bucket, options: {retain, qos}})`, `.email.send({to, subject,
message | html, from_name, attachment, template})`, `.sms.send({to, message})` and `.console`,
`.Notification`, `.Attachment`, `.PDF` (Services/*.py); `Device(params).sendData(data | [data])`
(Device/Device.py). tago-io/sdk-js `src/modules/Services/MQTT.ts` names the receiving device
`device` (`bucket` deprecated): both are accepted.

Every TagoIO call with no counterpart here raises `UnsupportedCallError` naming the call and what
to use instead; none is a silent no-op. Nothing here needs AWS or the environment at import time.
"""

from __future__ import annotations

import contextvars
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from mqtt_actions.analysis import (
    AnalysisError,
    AnalysisFunction,
    Context,
    InvalidDeviceError,
    InvalidMessageError,
    Scope,
)
from mqtt_actions.tokens import token_hash

__all__ = [
    "Account",
    "Analysis",
    "Device",
    "DeviceTokenLookup",
    "Resources",
    "Services",
    "TagoContext",
    "TagoIOAnalysisFunction",
    "UnknownTokenError",
    "UnsupportedCallError",
    "Utils",
    "token_hash",
]

DEVICE_TOKENS_TABLE: Final = "DEVICE_TOKENS_TABLE"
# TagoIO's own analysis environment (Analysis/Analysis.py reads T_ANALYSIS_TOKEN and T_ANALYSIS_ID).
T_ANALYSIS_TOKEN: Final = "T_ANALYSIS_TOKEN"  # noqa: S105 - the variable's name, not a token
T_ANALYSIS_ID: Final = "T_ANALYSIS_ID"
# Fields TagoIO's API assigns on insert; a ported analysis forwarding scope points holds them.
_SERVER_FIELDS: Final = ("id", "origin", "device", "created_at")


class UnsupportedCallError(AnalysisError):
    """A TagoIO SDK call with no counterpart here; the message says what to use instead."""

    def __init__(self, call: str, instead: str) -> None:
        super().__init__(f"{call} has no counterpart in MQTT Actions: {instead}")
        self.call = call


class UnknownTokenError(AnalysisError):
    """`Device({"token"})` with a token no device has."""


class DeviceTokenLookup(Protocol):
    def device_for(self, token_hash: str) -> str | None: ...


# --- the run a TagoIO-style call belongs to ---------------------------------------------------


@dataclass(frozen=True)
class _Run:
    context: Context
    tokens: Callable[[], DeviceTokenLookup | None]


_CURRENT: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("tagoio_run", default=None)


def _run(call: str) -> _Run:
    run = _CURRENT.get()
    if run is None:
        raise AnalysisError(
            f"{call} works inside an analysis run only: call it from the function given to "
            "Analysis(...).init(...), not at import time"
        )
    return run


def _fields(call: str, data: object) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidMessageError(f"{call} takes one dict, as in TagoIO's SDK; got {_kind(data)}")
    return {str(k): v for k, v in data.items()}


def _kind(value: object) -> str:
    return type(value).__name__


def _hint(token: str) -> str:
    """A token named without showing it: its last 4 characters."""
    return f"'…{token[-4:]}'" if len(token) > 8 else "(short token)"


# --- context ----------------------------------------------------------------------------------


class TagoContext:
    """TagoIO's `context`: `log`, `environment` ([{"key", "value"}]), `token`, `analysis_id`.
    Also `trigger` and `services`: this project's own, for what TagoIO's SDK cannot say."""

    def __init__(self, context: Context, token: str, analysis_id: str) -> None:
        self._context = context
        self.token = token
        self.analysis_id = analysis_id
        self.environment = [{"key": k, "value": v} for k, v in context.environment.items()]
        self.trigger = context.trigger
        self.services = context.services

    def log(self, *args: object) -> None:
        """As TagoIO's `context.log`: the arguments, space-separated, into the function's log."""
        self._context.logger.info(" ".join(str(a) for a in args), extra={"source": "context.log"})


def _scope(scope: Scope, device: str | None) -> Scope:
    """TagoIO gives each scope point its `device` (and `origin`): the trigger's device here."""
    if not device:
        return scope
    return [{"device": device, "origin": device, **point} for point in scope]


# --- Analysis ---------------------------------------------------------------------------------

TagoHandler = Callable[[TagoContext, Scope], object]


class TagoIOAnalysisFunction(AnalysisFunction):
    """The Lambda handler `Analysis(...).init(fn)` returns. `tokens` replaces the device token
    lookup (tests); by default it is the DEVICE_TOKENS_TABLE adapter when that variable is set."""

    def __init__(self, fn: TagoHandler, token: str) -> None:
        self.tokens: DeviceTokenLookup | None = None
        self._built: dict[str, DeviceTokenLookup] = {}

        def handler(context: Context, scope: Scope) -> object:
            tago = TagoContext(
                context,
                token or os.environ.get(T_ANALYSIS_TOKEN, ""),
                os.environ.get(T_ANALYSIS_ID) or context.name,
            )
            reset = _CURRENT.set(_Run(context, self._lookup))
            try:
                return fn(tago, _scope(scope, context.trigger.device))
            finally:
                _CURRENT.reset(reset)

        functools.update_wrapper(handler, fn)
        super().__init__(handler)

    def _lookup(self) -> DeviceTokenLookup | None:
        if self.tokens is not None:
            return self.tokens
        table = os.environ.get(DEVICE_TOKENS_TABLE, "")
        if not table:
            return None
        if table not in self._built:
            from mqtt_actions.adapters.aws import client
            from mqtt_actions.adapters.token_store import DynamoTokenStore

            self._built[table] = DynamoTokenStore(table, client("dynamodb"))
        return self._built[table]


class Analysis:
    """`Analysis({"token": ...}).init(my_analysis)` -> the Lambda handler (name it
    `lambda_handler`). The token is optional; `context.token` falls back to T_ANALYSIS_TOKEN."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        token = (params or {}).get("token")
        self._token = token if isinstance(token, str) else ""

    def init(self, analysis: TagoHandler) -> TagoIOAnalysisFunction:
        if not callable(analysis):
            raise InvalidMessageError(
                f"Analysis(...).init takes your function (context, scope), got {_kind(analysis)}"
            )
        return TagoIOAnalysisFunction(analysis, self._token)

    @staticmethod
    def use(analysis: TagoHandler, params: Mapping[str, Any] | None = None) -> AnalysisFunction:
        """TagoIO's `Analysis.use(fn, params)`: the same as `Analysis(params).init(fn)`."""
        return Analysis(params).init(analysis)


# --- calls without a counterpart --------------------------------------------------------------


class _Unsupported:
    """Any attribute chain under a TagoIO API we do not have; calling it raises, naming it."""

    def __init__(self, path: str, instead: str) -> None:
        self._path = path
        self._instead = instead

    def __getattr__(self, name: str) -> _Unsupported:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Unsupported(f"{self._path}.{name}", self._instead)

    def __call__(self, *args: object, **kwargs: object) -> Any:
        raise UnsupportedCallError(f"{self._path}(...)", self._instead)


_RESOURCES: Final = (
    "the account and resource APIs have no counterpart here: devices are managed with "
    "`mqtt-actions devices ...`, actions with an actions file (`mqtt-actions actions apply`), "
    "stored data with context.services.bucket(device).query(...) / .insert(...)"
)
Resources: Final = _Unsupported("Resources", _RESOURCES)
Account: Final = _Unsupported("Account", _RESOURCES)
Network: Final = _Unsupported(
    "Network", "there are no networks or connectors; devices publish JSON"
)


class _Utils:
    """`Utils.envToJson(context.environment)` as in TagoIO; other Utils calls are unsupported."""

    @staticmethod
    def envToJson(environment: object) -> dict[str, Any]:  # noqa: N802
        if not isinstance(environment, Sequence) or isinstance(environment, str):
            raise InvalidMessageError("envToJson takes context.environment ([{key, value}, ...])")
        return {str(e.get("key")): e.get("value") for e in environment if isinstance(e, Mapping)}

    def __getattr__(self, name: str) -> _Unsupported:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Unsupported(
            f"Utils.{name}",
            "only Utils.envToJson is available; the others reach TagoIO's account API",
        )


Utils: Final = _Utils()


# --- Services ---------------------------------------------------------------------------------


class _Mqtt:
    def publish(self, data: Mapping[str, Any]) -> str:
        """`{"topic", "message", "device" | "bucket", "options": {"qos", "retain"}}`. The device
        is accepted and not needed: every subscriber of the topic receives the message."""
        fields = _fields("Services.MQTT.publish", data)
        fields.pop("bucket", None)
        fields.pop("device", None)
        run = _run("Services.MQTT.publish")
        run.context.services.mqtt.publish(fields)
        return f"MQTT published on {fields.get('topic')}"


class _Email:
    def send(self, data: Mapping[str, Any]) -> str:
        """`{"to", "subject", "message" | "html"}`; `to` may be comma-separated, as in TagoIO.
        Sent by SES from the stack's EmailSender (`from_name` is not used)."""
        fields = _fields("Services.email.send", data)
        for key, instead in (
            ("attachment", "attachments are not supported: put a link to the file in the message"),
            ("template", "TagoRUN e-mail templates do not exist here: pass subject and message"),
        ):
            if fields.get(key) is not None:
                raise UnsupportedCallError(f"Services.email.send({{{key!r}: ...}})", instead)
        run = _run("Services.email.send")
        if fields.pop("from_name", None) is not None:
            run.context.logger.warning(
                "email.send: from_name is not used; SES sends as EmailSender"
            )
        to = fields.get("to")
        if isinstance(to, str):
            fields["to"] = [a.strip() for a in to.split(",") if a.strip()] or to
        return run.context.services.email.send(fields)


class _Sms:
    def send(self, data: Mapping[str, Any]) -> str:
        """`{"to", "message"}`, as TagoIO's SMS service; returns the message id."""
        fields = _fields("Services.sms.send", data)
        ids = _run("Services.sms.send").context.services.sms.send(fields)
        return ", ".join(ids)


class Services:
    """`Services({"token": context.token})`: `.MQTT.publish`, `.email.send`, `.sms.send`."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params = dict(params or {})
        self.MQTT = _Mqtt()
        self.email = _Email()
        self.sms = _Sms()
        self.console = _Unsupported("Services.console", "use context.log(...)")
        self.Notification = _Unsupported(
            "Services.Notification",
            "there is no TagoIO app to notify: use Services(...).email.send or .sms.send",
        )
        self.Attachment = _Unsupported(
            "Services.Attachment", "e-mail attachments are not supported: send a link instead"
        )
        self.PDF = _Unsupported(
            "Services.PDF", "no PDF service: build the PDF in the analysis (add a library)"
        )
        self.tagotip = _Unsupported("Services.tagotip", "there is no TagoTiP here")


# --- Device -----------------------------------------------------------------------------------


class Device:
    """`Device({"token": device_token}).sendData(point | [points])`: stores in the bucket of the
    device that owns the token (DEVICE_TOKENS_TABLE set), else of the trigger's device."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        token = params.get("token") if isinstance(params, Mapping) else None
        if not isinstance(token, str) or not token:
            raise InvalidMessageError(
                'Device takes {"token": "<the device token>"}, as in TagoIO\'s SDK'
            )
        self._token = token

    def sendData(self, data: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> str:  # noqa: N802
        """Store one data point or a list; returns "N Data Added" as TagoIO does. Fields TagoIO
        assigns itself (id, origin, device, created_at) are dropped, as its API does."""
        run = _run("Device.sendData")
        batch = [data] if isinstance(data, Mapping) else list(data)
        points = [
            {k: v for k, v in p.items() if k not in _SERVER_FIELDS} if isinstance(p, Mapping) else p
            for p in batch
        ]
        stored = run.context.services.bucket(self._device(run)).insert(points)
        return f"{stored} Data Added"

    def _device(self, run: _Run) -> str:
        lookup = run.tokens()
        if lookup is not None:
            device = lookup.device_for(token_hash(self._token))
            if device is None:
                raise UnknownTokenError(
                    f"Device({{'token': {_hint(self._token)}}}).sendData: no device has this "
                    "token, or it was revoked (looked up by its SHA-256 in "
                    f"{DEVICE_TOKENS_TABLE}); give the device a token (`mqtt-actions devices "
                    "create NAME --token`) or import TagoIO's (`mqtt-actions devices "
                    "import-tokens FILE.csv`)"
                )
            return device
        device = run.context.trigger.device
        if not device:
            raise InvalidDeviceError(
                "Device(...).sendData: this run has no device (a schedule?) and "
                f"{DEVICE_TOKENS_TABLE} is not set, so the token names none; set "
                f"{DEVICE_TOKENS_TABLE} in the function's Environment, or use "
                "context.services.bucket('device-name').insert(...)"
            )
        return device

    def __getattr__(self, name: str) -> _Unsupported:
        if name.startswith("_"):
            raise AttributeError(name)
        instead = {
            "getData": "use context.services.bucket(device).query(variable=..., limit=...)",
            "deleteData": "an analysis cannot delete stored points; the bucket keeps them",
            "editData": "stored points are not edited: insert a new one (queries give the newest "
            "first)",
        }.get(name, "only sendData is available on Device")
        return _Unsupported(f"Device.{name}", instead)
