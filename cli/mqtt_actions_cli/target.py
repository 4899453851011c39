"""Where a command acts: the running local stack (`--local`, the default) or a deployed
CloudFormation stack (`--stack NAME`), both described by the same outputs.

The local stack answers a small control API on 127.0.0.1 (outputs, outbox, invoke, health, and
the read commands' operations: reads.py); a deployed stack is found by
`cloudformation.describe_stacks` and reached with boto3."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from mqtt_actions_cli.errors import ERRORS, CliError, TargetError, UsageError

LOCAL_HOST = "127.0.0.1"
DEFAULT_CONTROL_PORT = 4567
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = "testing"  # moto's server accepts any credentials; never real ones
CONTROL_TIMEOUT = 5.0
READ_TIMEOUT = 60.0  # a read the stack runs for us (POST /ops/...): boto3's own read timeout
INVOKE_TIMEOUT = 65.0  # the router's timeout is 30 s; the local stack may retry once
MAX_ERROR_BODY = 1024 * 1024  # an error answer's body read, at most (a read's lists its problems)

ClientFactory = Callable[[str], Any]
Invoke = Callable[[str, Mapping[str, Any]], dict[str, Any]]


class InvokeError(Exception):
    """The function ran and failed (or could not be reached); `reason` says how."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Target:
    """Outputs, AWS clients, MQTT endpoint and function invocation of one deployment."""

    def __init__(
        self,
        *,
        kind: str,
        name: str,
        outputs: Mapping[str, str],
        region: str,
        client_factory: ClientFactory,
        invoke: Invoke | None = None,
        control: ControlApi | None = None,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.name = name
        self.outputs = dict(outputs)
        self.parameters = dict(parameters or {})  # a deployed stack's parameter values
        self.region = region
        self._client_factory = client_factory
        self._invoke = invoke
        self.control = control
        self._clients: dict[str, Any] = {}

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    def describe(self) -> str:
        return "the local stack" if self.is_local else f"stack {self.name!r} ({self.region})"

    def client(self, service: str) -> Any:
        """A boto3 client for `service`, made once per target."""
        if service not in self._clients:
            self._clients[service] = self._client_factory(service)
        return self._clients[service]

    def output(self, key: str) -> str:
        """One output; a missing one is an error that says which and why it may be missing."""
        value = self.outputs.get(key)
        if not value:
            have = ", ".join(sorted(self.outputs)) or "none"
            fix = (
                "restart it with `make run` (it may predate this command)"
                if self.is_local
                else "redeploy it with `sam deploy` (it may predate this command)"
            )
            msg = f"{self.describe()} has no output {key!r} (outputs: {have})"
            raise TargetError(msg, hint=fix)
        return value

    @property
    def mqtt_host(self) -> str:
        return self.output("MqttHost")

    @property
    def mqtt_port(self) -> int:
        return int(self.output("MqttPort"))

    def invoke(self, function: str, event: Mapping[str, Any]) -> dict[str, Any]:
        """Run a function synchronously with `event`; InvokeError when it fails."""
        if self._invoke is None:
            raise TargetError(f"{self.describe()} cannot invoke functions")
        return self._invoke(self.function_name(function), event)

    def function_name(self, function: str) -> str:
        """`RouterFunction` (a logical id) -> the deployed name from output `RouterFunctionName`."""
        return self.outputs.get(f"{function}Name") or function


# ---------------------------------------------------------------------------- local


def control_port(env: Mapping[str, str]) -> int:
    """MQTT_ACTIONS_CONTROL_PORT, else MQTT_ACTIONS_AWS_PORT + 1, else 4567."""
    for var, offset in (("MQTT_ACTIONS_CONTROL_PORT", 0), ("MQTT_ACTIONS_AWS_PORT", 1)):
        raw = env.get(var, "").strip()
        if raw:
            try:
                port = int(raw) + offset
            except ValueError:
                raise UsageError(
                    f"{var}={raw!r} is not a port number", hint=f"set {var} to e.g. 4567"
                ) from None
            if not 0 < port < 65536:
                raise UsageError(f"{var}={raw!r} is out of range", hint="use a port 1-65535")
            return port
    return DEFAULT_CONTROL_PORT


class ControlApi:
    """The local stack's control API (JSON over HTTP on 127.0.0.1)."""

    def __init__(self, port: int, host: str = LOCAL_HOST, timeout: float = CONTROL_TIMEOUT) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _not_running(self) -> TargetError:
        return TargetError(
            f"no local stack on {self.host}:{self.port} — start it with `make run` "
            "(or `mqtt-actions local`)",
            hint="for a deployed stack pass --stack NAME; for a local stack on another port "
            "set MQTT_ACTIONS_CONTROL_PORT",
        )

    def request(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = None
    ) -> Any:
        import urllib.error  # here: urllib.request costs a CLI's --help 60 ms
        import urllib.request

        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only, built above
            self.base + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read(MAX_ERROR_BODY).decode("utf-8", errors="replace")
            exc.close()
            raise _HttpStatusError(exc.code, detail) from None
        except TimeoutError as exc:  # connected, then no answer: it runs, busy or stuck
            raise TargetError(
                f"the local stack on {self.host}:{self.port} did not answer {method} {path} "
                f"within {timeout or self.timeout:.0f} s",
                hint="it may be overloaded or stuck: see its log, or restart it with `make run`",
            ) from exc
        except (urllib.error.URLError, ConnectionError) as exc:
            raise self._not_running() from exc
        try:
            return json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError as exc:
            msg = f"the local stack's control API answered {path} with something not JSON"
            raise TargetError(msg, hint="is another program using that port?") from exc

    def outputs(self) -> dict[str, str]:
        try:
            data = self.request("GET", "/outputs")
        except _HttpStatusError as exc:
            raise TargetError(
                f"the local stack's control API answered GET /outputs with HTTP {exc.status}"
            ) from None
        if not isinstance(data, dict):
            raise TargetError("the local stack's GET /outputs is not a JSON object")
        return outputs_of(data)

    def read(self, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """What the stack's `operation` (an ops function it runs itself: local/ops_routes.py)
        answers for `params`; its error is raised here as the same CliError, word for word."""
        path = f"/ops/{quote(operation, safe='')}"
        try:
            data = self.request("POST", path, dict(params), timeout=READ_TIMEOUT)
        except _HttpStatusError as exc:
            raise _read_error(path, exc) from None
        if not isinstance(data, dict):
            raise TargetError(f"the local stack's POST {path} is not a JSON object")
        return data

    def outbox(self) -> list[dict[str, Any]]:
        try:
            data = self.request("GET", "/outbox")
        except _HttpStatusError as exc:
            raise TargetError(
                f"the local stack's control API answered GET /outbox with HTTP {exc.status}"
            ) from None
        if not isinstance(data, list):
            raise TargetError("the local stack's GET /outbox is not a JSON list")
        return [item for item in data if isinstance(item, dict)]

    def trusted_client(self) -> tuple[str, str]:
        """(username, password) of the stack's own MQTT client, made at each start."""
        try:
            data = self.request("GET", "/trusted-client")
        except _HttpStatusError as exc:
            raise TargetError(
                f"the local stack's control API answered GET /trusted-client with HTTP "
                f"{exc.status}",
                hint="restart it with `make run` (it may predate this command)",
            ) from None
        if not isinstance(data, dict) or not data.get("username") or not data.get("password"):
            raise TargetError("the local stack's GET /trusted-client is not {username, password}")
        return str(data["username"]), str(data["password"])

    def invoke(self, logical_id: str, event: Mapping[str, Any]) -> dict[str, Any]:
        try:
            result = self.request(
                "POST", f"/invoke/{quote(logical_id, safe='')}", dict(event), timeout=INVOKE_TIMEOUT
            )
        except _HttpStatusError as exc:
            detail = exc.detail[:2000]
            raise InvokeError(f"{logical_id} failed (HTTP {exc.status}): {detail}") from None
        return result if isinstance(result, dict) else {"result": result}


class _HttpStatusError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.detail = detail


def outputs_of(data: Mapping[Any, Any]) -> dict[str, str]:
    """The outputs as a Target holds them: text, none missing (GET /outputs, and the stack's own
    Target for its read routes)."""
    return {str(k): str(v) for k, v in data.items() if v is not None}


def _read_error(path: str, exc: _HttpStatusError) -> CliError:
    """The CliError a read route answered (`{"error", "problems", "hint", "kind"}`, kind the
    class name), or one that says what went wrong with the request itself."""
    try:
        body = json.loads(exc.detail)
    except json.JSONDecodeError:
        body = None
    if not isinstance(body, dict) or "kind" not in body:  # not a read route's answer
        said = f": {body['error']}" if isinstance(body, dict) and body.get("error") else ""
        return TargetError(
            f"the local stack's control API answered POST {path} with HTTP {exc.status}{said}",
            hint="restart it with `make run` (it may predate this command)"
            if exc.status == 404
            else "",
        )
    kind = ERRORS.get(str(body["kind"]), CliError)
    problems = body.get("problems")
    return kind(
        str(body.get("error", "")),
        problems=[str(p) for p in problems] if isinstance(problems, list) else (),
        hint=str(body.get("hint") or ""),
    )


def local_client_factory(endpoint: str, iot_data_endpoint: str | None = None) -> ClientFactory:
    """Clients on moto's endpoint; iot-data on the control API, which answers it (the broker)."""

    def make(service: str) -> Any:
        import boto3  # only commands that talk to AWS pay for importing boto3

        return boto3.session.Session().client(  # type: ignore[call-overload]
            service,
            endpoint_url=iot_data_endpoint
            if service == "iot-data" and iot_data_endpoint
            else endpoint,
            region_name=LOCAL_REGION,
            aws_access_key_id=LOCAL_CREDENTIALS,
            aws_secret_access_key=LOCAL_CREDENTIALS,
            aws_session_token=LOCAL_CREDENTIALS,
        )

    return make


def local_target(env: Mapping[str, str] | None = None) -> Target:
    """The running local stack, found through its control API."""
    api = ControlApi(control_port(os.environ if env is None else env))
    outputs = api.outputs()
    return Target(
        kind="local",
        name="local",
        outputs=outputs,
        region=outputs.get("Region") or LOCAL_REGION,
        client_factory=local_client_factory(
            outputs.get("AwsEndpoint", "http://127.0.0.1:4566"), outputs.get("ControlEndpoint")
        ),
        invoke=api.invoke,
        control=api,
    )


# ---------------------------------------------------------------------------- deployed stack


def _boto_config() -> Any:
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=5,
        read_timeout=INVOKE_TIMEOUT,
    )


def stack_target(name: str, region: str | None) -> Target:
    """A deployed stack, by its CloudFormation outputs."""
    import boto3
    from botocore.exceptions import ClientError

    session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
    if not session.region_name:
        raise UsageError(
            "no AWS region", hint="pass --region (e.g. --region eu-west-1) or set AWS_REGION"
        )
    config = _boto_config()

    def make(service: str) -> Any:
        if service == "iot-data":  # the account's own ATS endpoint, not the legacy default one
            iot = session.client("iot", config=config)
            host = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
            return session.client("iot-data", endpoint_url=f"https://{host}", config=config)
        return session.client(service, config=config)  # type: ignore[call-overload]

    try:
        stacks = make("cloudformation").describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":
            raise TargetError(
                f"no stack named {name!r} in {session.region_name}",
                hint="check the name and --region; deploy it with `sam deploy --guided`",
            ) from None
        raise
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stacks[0].get("Outputs", [])}
    parameters = {
        p["ParameterKey"]: p.get("ResolvedValue") or p.get("ParameterValue", "")
        for p in stacks[0].get("Parameters", [])
    }
    return Target(
        kind="stack",
        name=name,
        outputs=outputs,
        region=session.region_name,
        client_factory=make,
        invoke=lambda function, event: lambda_invoke(make("lambda"), function, event),
        parameters=parameters,
    )


def lambda_invoke(client: Any, function: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """Synchronous Lambda invoke; a function error becomes InvokeError with its message."""
    response = client.invoke(
        FunctionName=function,
        InvocationType="RequestResponse",
        Payload=json.dumps(event, separators=(",", ":")).encode("utf-8"),
    )
    raw = response["Payload"].read()
    try:
        payload = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        payload = raw.decode("utf-8", errors="replace")
    if response.get("FunctionError"):
        reason = payload.get("errorMessage") if isinstance(payload, dict) else payload
        raise InvokeError(f"{function} failed ({response['FunctionError']}): {reason}")
    return payload if isinstance(payload, dict) else {"result": payload}


# ---------------------------------------------------------------------------- from the command line


def wants_stack(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "stack", None))


def resolve_target(args: argparse.Namespace) -> Target:
    """`--stack NAME [--region R]` or, by default, the local stack."""
    stack = getattr(args, "stack", None)
    if stack:
        return stack_target(stack, getattr(args, "region", None))
    return local_target()
