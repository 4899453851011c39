"""The whole product on one machine: moto for the AWS services, amqtt for IoT Core's broker, the
rules engine and the handlers of template.yaml in this process.

Environment: the process gets the local wiring (AWS endpoints, fake credentials, the region);
each handler runs with its own function's variables on top (see runtime.py).

moto: its server (127.0.0.1, `--aws-port`) is what the CLI and your own tools use. The handlers,
in this process, reach the same moto backends in-process (moto's botocore hook, `mock_aws`
started without a reset): the same boto3 calls, without an HTTP round trip and a server thread
per call (6 ms of CPU per DynamoDB call over HTTP, 1.4 ms in-process). Their iot-data and
Lambda calls are addressed to the control API, whose effect (the broker, the runtime) lives
here; they are answered by its request handler in the calling thread (in_process.py), while
the CLI and the console reach the same routes over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import boto3
from moto import mock_aws
from moto.core.config import DefaultConfig
from moto.core.models import MockAWS

from mqtt_actions.adapters.binding_store import DynamoBindingStore
from mqtt_actions.limits import MAX_MQTT_PAYLOAD
from mqtt_actions.tokens import new_binding
from mqtt_actions_cli.cfn import (
    ROOT,
    TEMPLATE,
    LocalNames,
    create_queues,
    create_tables,
    load_template,
)
from mqtt_actions_cli.local import auth, moto_partition, output, tls
from mqtt_actions_cli.local.broker import LocalBroker, aws_differences
from mqtt_actions_cli.local.broker_rules import BrokerRules
from mqtt_actions_cli.local.control import ControlServer, PublishRefusedError
from mqtt_actions_cli.local.in_process import InProcessControl
from mqtt_actions_cli.local.moto_watch import WatchedMotoServer, serialize_in_process
from mqtt_actions_cli.local.outbox import Outbox
from mqtt_actions_cli.local.output import log
from mqtt_actions_cli.local.persistence import Persistence, retained_from_json, retained_json
from mqtt_actions_cli.local.rules import InboundMessage, RulesEngine
from mqtt_actions_cli.local.runtime import DEFAULT_RETRY_DELAYS, FunctionRuntime
from mqtt_actions_cli.local.state import Snapshot, StateDir
from mqtt_actions_cli.local.template import (
    REGION,
    LocalTemplate,
    load_local_template,
)
from mqtt_actions_cli.target import Target, outputs_of

EMAIL_SENDER: Final = "mqtt-actions@localhost.test"
# Parameters the local stack sets unless told otherwise: a verified sender so e-mail actions
# work. The actions cache keeps the template's TTL: a write to the actions table through moto's
# server (`actions apply`, `actions rm`, the console) rewrites the router's change marker, so a
# change still takes effect at the next message.
LOCAL_PARAMETERS: Final[Mapping[str, str]] = {
    "EmailSender": EMAIL_SENDER,
}
ACTIONS_MARKER: Final = "actions.changed"
FAKE_CREDENTIALS: Final[Mapping[str, str]] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# moto for the handlers, in-process: keep our fake credentials and boto3's default session.
IN_PROCESS_MOTO: Final[DefaultConfig] = {
    "core": {"mock_credentials": False, "reset_boto3_session": False},
}
IOT_DATA_CLIENT_ID: Final = "n/a"  # what clientid() gives for a message not sent over MQTT
IOT_DATA_PRINCIPAL: Final = "local-iam-role"
AUTH_LINES: Final[Mapping[str, str]] = {
    "anonymous": "anonymous: any client connects, its client id is the device (tokens are not "
    "checked: MQTT_ACTIONS_AUTH=tokens make run, or --auth tokens)",
    "tokens": "tokens: username Token + the device token, checked by DeviceAuthorizerFunction; "
    "the client id is bound to the token's device (one device per client id)",
}


def _started[T](value: T | None) -> T:
    if value is None:
        raise RuntimeError("the local stack is not started")
    return value


@dataclass
class LocalOptions:
    host: str = "127.0.0.1"
    mqtt_port: int = 1883
    aws_port: int = 4566
    control_port: int | None = None  # None: aws_port + 1 (0 when aws_port is 0)
    parameters: dict[str, str] = field(default_factory=dict)
    retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    verbose: bool = False
    template_path: Path = TEMPLATE
    root: Path = ROOT
    state_dir: Path | None = None  # None: remember nothing (a temporary directory)
    fresh: bool = False  # start empty: do not restore the saved state (it is replaced)
    extra_environment: dict[str, str] = field(default_factory=dict)
    auth: str = "anonymous"  # or "tokens": CONNECTs checked by DeviceAuthorizerFunction
    tls_port: int | None = None  # the TLS listener (as IoT Core's token endpoint); None: none
    gateway_port: int | None = None  # haproxy in front of the TLS listener; None: none
    broker_rules: BrokerRules = field(default_factory=BrokerRules)  # IoT Core's, or plain MQTT


class LocalStack:
    """Start with `await start()`, stop with `await stop()`; serves the control API meanwhile."""

    def __init__(self, options: LocalOptions) -> None:
        self.options = options
        self._ready = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._moto: WatchedMotoServer | None = None
        self._in_process: MockAWS | None = None
        self._unserialize: Callable[[], None] | None = None
        self._whole_table_queries: Callable[[], None] | None = None
        self._control: ControlServer | None = None
        self._control_in_process: InProcessControl | None = None
        self._runtime: FunctionRuntime | None = None
        self._engine: RulesEngine | None = None
        self._broker: LocalBroker | None = None
        self._outbox = Outbox()
        self._trusted_password = secrets.token_urlsafe(24)  # auth.TRUSTED_USERNAME's
        self._sqs: Any = None
        self._local: LocalTemplate | None = None
        self._saved_stdout: IO[str] | None = None
        self._saved_environ: dict[str, str] | None = None
        self._parameters: dict[str, str] = {}
        self._persistence: Persistence | None = None
        self._restored = "nothing"  # what the banner says was restored
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._marker: Path | None = None
        self._actions_table = ""
        self._tls_files: tls.TlsFiles | None = None
        self._gateway: Any = None  # local.gateway.LocalGateway once started
        self._gateway_problem = ""  # why there is no gateway (the banner says it)
        self._devices_table = ""  # its writes move the marker too: payload parsers are there
        self._bindings: DynamoBindingStore | None = None  # DeviceBindingsTable, once started
        self.aws_port = options.aws_port
        self.mqtt_port = options.mqtt_port
        self.control_port = 0
        self._ops_lock = threading.Lock()
        self._ops_target: Target | None = None
        self._ops_session: Any = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        opts = self.options
        self._loop = asyncio.get_running_loop()
        # a Query reads its partition, not the whole table (moto sorts every row otherwise)
        self._whole_table_queries = moto_partition.install()
        self._moto = WatchedMotoServer(opts.host, opts.aws_port, on_write=self._moto_write)
        self._moto.start()
        self._in_process = mock_aws(config=IN_PROCESS_MOTO)
        self._in_process.start(reset=False)  # the server's backends, shared: keep them
        self._unserialize = serialize_in_process()  # one call into moto at a time, both ways
        self.aws_port = int(self._moto.get_host_and_port()[1])
        clients = self._clients()
        self._sqs = clients["sqs"]
        template = load_template(opts.template_path)
        names = LocalNames()
        physical = {
            **create_tables(template, clients["dynamodb"], names),
            **create_queues(template, self._sqs, names),
        }
        self._actions_table = physical.get("ActionsTable", "")
        self._devices_table = physical.get("DevicesTable", "")
        self._bindings = (
            DynamoBindingStore(physical["DeviceBindingsTable"], clients["dynamodb"])
            if "DeviceBindingsTable" in physical
            else None
        )
        snapshot = self._open_state(physical, clients)
        parameters = {**LOCAL_PARAMETERS, **opts.parameters}
        self._parameters = parameters
        control_port = opts.control_port
        if control_port is None:
            control_port = opts.aws_port + 1 if opts.aws_port else 0
        self._control = ControlServer(self, opts.host, control_port)
        self.control_port = self._control.port
        self._local = load_local_template(
            template, root=opts.root, physical=physical, parameters=parameters
        )
        sender = parameters.get("EmailSender", "")
        if sender:
            clients["ses"].verify_email_identity(EmailAddress=sender)
        self._apply_environment()
        self._control_in_process = InProcessControl(self._control, self.control_url)
        self._control_in_process.install()
        self._saved_stdout = sys.stdout
        sys.stdout = output.FunctionOutput(sys.stdout, opts.verbose)
        self._runtime = FunctionRuntime(
            self._local.functions,
            send_to_queue=self._send_to_queue,
            on_result=self._on_result,
            retry_delays=opts.retry_delays,
            wrappers=self._outbox.recorders(),
        )
        self._runtime.start()
        self._engine = RulesEngine(
            self._local.rules, dispatch=self._dispatch, send_to_queue=self._send_to_queue
        )
        self._control.start()
        self._broker = LocalBroker(opts.host, opts.mqtt_port, sink=self._engine_message)
        self._broker.auth_mode, self._broker.authorizer = opts.auth, self._authorize
        self._broker.trusted_password = self._trusted_password
        if self._bindings is not None:
            self._broker.trusted_binder = self._bind_trusted
        self._broker.rules = opts.broker_rules
        if opts.tls_port is not None:
            self._tls_files = tls.ensure_certificates(self._state_root())
            self._broker.tls_port = opts.tls_port
            self._broker.tls_context = tls.server_context(self._tls_files)
        await self._broker.start()
        self.mqtt_port = self._broker.port
        if opts.gateway_port is not None:
            await self._start_gateway(opts.gateway_port)
        if snapshot is not None:
            self._outbox.restore(snapshot.outbox)
            await self._broker.restore_retained(retained_from_json(snapshot.retained))
        if self._persistence is not None:
            self._persistence.start()
        self._ready = True

    def _state_root(self) -> Path:
        """Where the local CA lives: the state directory (kept), else the temporary one."""
        if self.options.state_dir is not None:
            return self.options.state_dir
        return Path(_started(self._workdir).name)

    async def _start_gateway(self, port: int) -> None:
        """haproxy in front of the TLS listener; without haproxy (or the listener) the stack
        runs without it and the banner says why and how to get it."""
        from mqtt_actions_cli.local.gateway import (
            INSTALL_HINT,
            GatewayError,
            LocalGateway,
            haproxy_path,
        )

        broker, files = _started(self._broker), self._tls_files
        executable = haproxy_path()
        if files is None or broker.tls_port is None:
            self._gateway_problem = "not started: it needs the TLS listener (--tls-port)"
            return
        if executable is None:
            self._gateway_problem = f"not started: haproxy is not installed ({INSTALL_HINT})"
            log.warning("gw   %s", self._gateway_problem)
            return
        gateway = LocalGateway(
            host=self.options.host,
            port=port,
            tls_port=broker.tls_port,
            domain=tls.LOCAL_DOMAIN,
            ca_file=files.ca_cert,
            executable=executable,
        )
        try:
            await asyncio.to_thread(gateway.start)
        except (GatewayError, OSError) as exc:
            self._gateway_problem = f"not started: {exc}"
            log.error("gw   %s", self._gateway_problem)
            return
        self._gateway = gateway

    async def stop(self) -> None:
        self._ready = False
        if self._gateway is not None:
            await asyncio.to_thread(self._gateway.stop)
        if self._broker is not None:
            await self._broker.stop()
        if self._runtime is not None:
            await asyncio.to_thread(self._runtime.stop, 5.0)
        if self._persistence is not None and self._broker is not None:
            await asyncio.to_thread(self._persistence.stop)
        if self._control_in_process is not None:
            self._control_in_process.uninstall()
        if self._control is not None:
            self._control.stop()
        if self._in_process is not None:
            self._in_process.stop(remove_data=False)
        if self._unserialize is not None:
            self._unserialize()
        if self._moto is not None:
            self._moto.stop()
        if self._whole_table_queries is not None:
            self._whole_table_queries()
        if self._saved_stdout is not None:
            sys.stdout = self._saved_stdout
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
        if self._workdir is not None:
            self._workdir.cleanup()

    def _clients(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "endpoint_url": self.aws_url,
            "region_name": REGION,
            "aws_access_key_id": FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            "aws_session_token": FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        }
        return {name: boto3.client(name, **kwargs) for name in ("dynamodb", "sqs", "ses")}

    def _apply_environment(self) -> None:
        control = f"http://{self.options.host}:{self.control_port}"
        local = {
            **FAKE_CREDENTIALS,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            # iot-data and Lambda are answered by the stack itself: their effect lives here.
            "AWS_ENDPOINT_URL_IOT_DATA_PLANE": control,
            "AWS_ENDPOINT_URL_LAMBDA": control,
            "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
            "WEBHOOK_ALLOW_PRIVATE": "true",  # local webhooks are local addresses
            "ACTIONS_CHANGE_FILE": str(_started(self._marker)),
            # Without token checking nothing binds a client id at connect: the client id is
            # the device (never the username: TagoIO firmware sends `Token`).
            "DEVICE_IDENTITY": "binding" if self.options.auth == "tokens" else "client-id",
        }
        self._saved_environ = dict(os.environ)
        # Never the caller's profile, and no endpoint of theirs: AWS calls stay in moto.
        for var in list(os.environ):
            if var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE") or var.startswith("AWS_ENDPOINT_URL"):
                os.environ.pop(var, None)
        os.environ.update({**local, **self.options.extra_environment})

    # ------------------------------------------------------------------ wiring
    @property
    def aws_url(self) -> str:
        return f"http://{self.options.host}:{self.aws_port}"

    @property
    def control_url(self) -> str:
        return f"http://{self.options.host}:{self.control_port}"

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://{self.options.host}:{self.mqtt_port}"

    def _send_to_queue(self, url: str, record: Mapping[str, Any]) -> None:
        self._sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record, default=str))

    def _dispatch(self, function: str, event: dict[str, Any], rule: str) -> None:
        _started(self._runtime).invoke_async(function, event, source=f"rule {rule}")

    def _engine_message(self, message: InboundMessage) -> None:
        if self._persistence is not None:
            self._persistence.mark_changed()
        _started(self._engine).on_message(message)

    def _moto_write(self, tables: frozenset[str]) -> None:
        """A request to moto's server that may change something (from moto's server thread)."""
        if self._persistence is not None:
            self._persistence.mark_changed()
        watched = {self._actions_table, self._devices_table} - {""}
        if watched & tables and self._marker is not None:
            # A new content each time: the router compares contents, not times.
            self._marker.write_text(uuid.uuid4().hex, encoding="ascii")

    def _open_state(
        self, physical: Mapping[str, str], clients: Mapping[str, Any]
    ) -> Snapshot | None:
        """The state directory: restore what it holds (unless --fresh); the change marker."""
        opts = self.options
        if opts.state_dir is None:
            self._workdir = tempfile.TemporaryDirectory(prefix="mqtt-actions-")
            self._marker = Path(self._workdir.name) / ACTIONS_MARKER
            return None
        opts.state_dir.mkdir(parents=True, exist_ok=True)
        self._marker = opts.state_dir / ACTIONS_MARKER
        state = StateDir(opts.state_dir)
        tables = {k: v for k, v in physical.items() if not v.startswith("http")}
        queues = {k: v for k, v in physical.items() if v.startswith("http")}
        self._persistence = Persistence(
            state,
            tables,
            queues,
            clients,
            retained=lambda: retained_json(_started(self._broker).retained_snapshot()),
            outbox=self._outbox.items,
        )
        if opts.fresh:
            self._restored = "nothing (--fresh: the saved state is replaced at the first save)"
            return None
        snapshot = state.load()
        if state.set_aside is not None:
            self._restored = (
                f"nothing: the saved state was unreadable ({state.problem}); "
                f"kept as {state.set_aside}"
            )
            log.error("state %s: %s", self._restored, state.path)
            return None
        if snapshot is None:
            self._restored = "nothing (no saved state yet)"
            return None
        try:
            self._persistence.restore(snapshot)
        except Exception as exc:  # a state moto refuses (a table's keys changed): never a crash
            state.set_aside_now(f"{type(exc).__name__}: {exc}")
            self._restored = (
                f"part of the saved state only: restoring it failed ({state.problem}); "
                f"the file is kept as {state.set_aside}"
            )
            log.error("state %s", self._restored)
            return None
        self._restored = Persistence.summary(snapshot)
        return snapshot

    def _on_result(self, function: str, event: Any, result: Any, elapsed: float) -> None:
        if self._persistence is not None:
            self._persistence.mark_changed()
        if isinstance(result, dict) and isinstance(result.get("outcomes"), dict):
            topic = event.get("topic", "") if isinstance(event, dict) else ""
            outcomes = result["outcomes"]
            shown = ", ".join(f"{a}={o}" for a, o in outcomes.items()) or "no action matched"
            log.info("act  %s: %s (%s, %.0f ms)", topic, shown, function, elapsed * 1000)
        elif isinstance(result, dict) and "error" in result:
            log.warning("fn   %s refused the event: %s", function, result["error"])
        else:
            log.debug("fn   %s done in %.0f ms", function, elapsed * 1000)

    # ------------------------------------------------------------------ control API
    @property
    def ready(self) -> bool:
        return self._ready

    @property
    def idle(self) -> bool:
        """No invocation queued, running or waiting for a retry (False before the start)."""
        return self._runtime is not None and self._runtime.idle()

    def outputs(self) -> dict[str, Any]:
        return {
            **_started(self._local).outputs,
            "AwsEndpoint": self.aws_url,
            "ControlEndpoint": self.control_url,
            "MqttHost": self.options.host,
            "MqttPort": self.mqtt_port,
            "Region": REGION,
            "DeviceAuth": self.options.auth,  # anonymous | tokens: devices create says which
            # where mqtt_publish actions may publish: `actions apply` checks each topic
            "ActionPublishPrefixes": self._router_environment("ACTION_PUBLISH_PREFIXES"),
            **self._tls_outputs(),
        }

    def _router_environment(self, name: str) -> str | None:
        router = _started(self._local).functions.get("RouterFunction")
        return None if router is None else router.environment.get(name)

    def _tls_outputs(self) -> dict[str, Any]:
        broker, files = _started(self._broker), self._tls_files
        out: dict[str, Any] = {}
        if broker.tls_port is not None and files is not None:
            out |= {
                "MqttTlsPort": broker.tls_port,
                "MqttTlsDomain": tls.LOCAL_DOMAIN,
                "MqttCaFile": str(files.ca_cert),
            }
        if self._gateway is not None:
            out |= {"GatewayHost": self.options.host, "GatewayPort": self._gateway.port}
        return out

    def outbox(self) -> list[dict[str, Any]]:
        return self._outbox.items()

    def trusted_client(self) -> dict[str, str]:
        """The credentials of the stack's own MQTT client (publish in any auth mode)."""
        return {"username": auth.TRUSTED_USERNAME, "password": self._trusted_password}

    def invoke_sync(self, name: str, event: Any) -> Any:
        return _started(self._runtime).invoke_sync(name, event)

    def ops_target(self) -> Target:
        """The stack as the ops functions take it, for the control API's read routes: the
        outputs GET /outputs gives, and boto3 clients on moto's backends in this process (the
        handlers' path: no HTTP round trip per call)."""
        with self._ops_lock:
            if self._ops_target is None:
                self._ops_target = Target(
                    kind="local",
                    name="local",
                    outputs=outputs_of(self.outputs()),
                    region=REGION,
                    client_factory=self._ops_client,
                )
            return self._ops_target

    def _ops_client(self, service: str) -> Any:
        with self._ops_lock:  # boto3 sessions are not thread-safe; requests come on many threads
            if self._ops_session is None:
                self._ops_session = boto3.session.Session(
                    region_name=REGION,
                    aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                    aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
                )
            return self._ops_session.client(service)

    def invoke_async(self, name: str, event: Any) -> None:
        _started(self._runtime).invoke_async(name, event, source="lambda invoke")

    def iot_publish(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        user_properties: list[tuple[str, str]],
    ) -> None:
        """iot-data Publish: delivered on the broker, then through the rules engine (hops kept)."""
        loop, broker = _started(self._loop), _started(self._broker)
        for problem in aws_differences(topic, len(payload), qos, what="iot-data publish"):
            log.warning("warn %s", problem)
        if len(payload) > MAX_MQTT_PAYLOAD:
            msg = "The payload exceeds the maximum size allowed"
            raise PublishRefusedError("RequestEntityTooLargeException", msg, 413)
        hops = ",".join(v for k, v in user_properties if k == "mqtt-actions-hops")
        log.info(
            "pub  iot-data -> %s (%d B, qos %d%s%s)",
            topic,
            len(payload),
            qos,
            ", retain" if retain else "",
            f", hops {hops}" if hops else "",
        )
        future = asyncio.run_coroutine_threadsafe(
            broker.publish(topic, payload, qos=qos, retain=retain), loop
        )
        future.result(timeout=10)
        self._engine_message(
            InboundMessage(
                topic=topic,
                payload=payload,
                qos=qos,
                retain=retain,
                clientid=IOT_DATA_CLIENT_ID,
                principal=IOT_DATA_PRINCIPAL,
                user_properties=tuple(user_properties),
            )
        )

    def retained(self, topic: str) -> dict[str, Any] | None:
        return _started(self._broker).retained(topic)

    def retained_topics(self) -> list[dict[str, Any]]:
        """iot-data ListRetainedMessages' summaries: topic, payloadSize, qos, lastModifiedTime."""
        snapshot = _started(self._broker).retained_snapshot()
        return [
            {"topic": topic, "payloadSize": len(payload), "qos": qos, "lastModifiedTime": at}
            for topic, (payload, qos, at) in sorted(snapshot.items())
        ]

    def disconnect(self, client_id: str) -> bool:
        loop, broker = _started(self._loop), _started(self._broker)
        closing = asyncio.run_coroutine_threadsafe(broker.disconnect(client_id), loop)
        return closing.result(timeout=10)

    def _bind_trusted(self, client_id: str) -> str | None:
        """Bind the stack's own client's client id to the device of that name (auth.py: it is
        `publish` without credentials acting as that device); the holder's name if refused."""
        now_ms = int(time.time() * 1000)
        binding = new_binding(client_id, client_id, f"trusted-{uuid.uuid4()}", now_ms)
        holder = _started(self._bindings).bind(binding, now_ms // 1000)
        return None if holder is None else holder.device

    def _authorize(self, event: dict[str, Any]) -> Any:
        # IoT Core waits 5 s for its authorizer; so does the local broker.
        return _started(self._runtime).invoke_sync(auth.AUTHORIZER_FUNCTION, event, timeout=5.0)

    # ------------------------------------------------------------------ presentation
    def banner(self) -> str:
        local, engine = _started(self._local), _started(self._engine)
        rules = ", ".join(f"{r.name} ({', '.join(r.functions)})" for r in engine.rules)
        lines = [
            "mqtt-actions local: IoT Core, Lambda and the AWS services on this machine",
            f"  MQTT broker   {self.mqtt_url}   (MQTT 3.1.1, {self._broker_mode()}, no TLS, "
            f"auth {self.options.auth})",
            f"  device auth   {AUTH_LINES[self.options.auth]}",
            *self._tls_lines(),
            f"  AWS (moto)    {self.aws_url}   (AWS_ENDPOINT_URL, region {REGION}, any keys)",
            f"  control API   {self.control_url}   "
            "(/outputs /outbox /invoke/<Function> /ops/<read> /health)",
            f"  functions     {', '.join(sorted(local.functions)) or 'none'}",
            f"  rules         {rules or 'none'}",
            f"  e-mail from   {self._parameters.get('EmailSender') or '- (EmailSender is empty)'}",
            self._state_line(),
        ]
        if local.not_run:
            lines.append(
                f"  not run here  {', '.join(local.not_run)}: POST {self.control_url}"
                "/invoke/<Function> runs one"
            )
        return "\n".join(lines)

    def _tls_lines(self) -> list[str]:
        broker, files = _started(self._broker), self._tls_files
        if broker.tls_port is None or files is None:
            return []
        lines = [
            f"  MQTT over TLS mqtts://{self.options.host}:{broker.tls_port}   (as IoT Core's "
            f"token endpoint: SNI {tls.LOCAL_DOMAIN} and ALPN mqtt required; CA {files.ca_cert})"
        ]
        if self._gateway is not None:
            engine = self._gateway.version or "haproxy"
            lines.append(
                f"  gateway       mqtt://{self.options.host}:{self._gateway.port}   (plain MQTT -> "
                f"TLS :{broker.tls_port} with SNI and ALPN mqtt; {engine} with the configuration "
                "LegacyGateway runs on AWS)"
            )
        elif self._gateway_problem:
            lines.append(f"  gateway       {self._gateway_problem}")
        return lines

    def _broker_mode(self) -> str:
        rules = self.options.broker_rules
        mode = "IoT Core rules, QoS 0/1" if rules.iot_core else "plain MQTT (--spec-broker)"
        if rules.time_scale != 1:
            mode += f", timers x {rules.time_scale:g}"
        return mode

    def _state_line(self) -> str:
        state = self.options.state_dir
        if state is None:
            return "  state         not kept (no state directory): a restart starts empty"
        return f"  state         {state}/ (saved every few seconds); restored {self._restored}"

    def ready_line(self) -> str:
        return f"ready: {self.mqtt_url} aws={self.aws_url} control={self.control_url}"
