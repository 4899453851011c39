"""Lambda, in-process: handlers loaded from template.yaml's CodeUri, invoked synchronously (the
control API, RequestResponse) or asynchronously like IoT rules and `InvocationType=Event` do:
queued, retried `MaximumRetryAttempts` times, then sent to the OnFailure SQS destination with
the record shape Lambda uses.

Environment: each function has its own (template.yaml: Globals + the function), but os.environ
belongs to the process. So one handler runs at a time, process-wide, with its function's
variables set for the duration of the invocation (and of its import) and restored after; the
stack's own wiring (endpoints, credentials, region) is common to all. One at a time is also what
the handlers' module state needs (cached settings and clients, Powertools' shared metric set),
which Lambda never shares between concurrent invocations. Each function has its own queue.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import queue
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, Final

from mqtt_actions.analysis import AnalysisFunction
from mqtt_actions.ports import AdapterWrappers
from mqtt_actions_cli.local.output import log, set_current_function
from mqtt_actions_cli.local.template import FunctionSpec

Handler = Callable[[Any, Any], Any]
SendToQueue = Callable[[str, Mapping[str, Any]], None]
ResultHook = Callable[[str, Any, Any, float], None]

DEFAULT_RETRY_DELAYS: Final = (1.0, 2.0)  # Lambda waits ~1 and ~2 minutes; locally, seconds
_STOP: Final = object()
_module_ids = itertools.count(1)


class FunctionNotFoundError(KeyError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.message = f"no function {name!r}; the template has {', '.join(known) or 'none'}"

    def __str__(self) -> str:
        return self.message


class FunctionError(RuntimeError):
    """The handler raised; `payload` is what Lambda reports ({errorMessage, errorType, ...})."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("errorMessage", "function error"))
        self.payload = payload


@dataclass
class LambdaContext:
    """The parts of Lambda's context object that handlers and Powertools read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_seconds: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@contextlib.contextmanager
def function_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """os.environ with `variables` set; what they replaced (or their absence) restored after."""
    saved = {key: os.environ.get(key) for key in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_handler(spec: FunctionSpec, wrappers: AdapterWrappers | None = None) -> Handler:
    """Import the handler module by path under a unique name (every function has an app.py).
    `wrappers` go around its adapters: the router module's `wrappers`, an analysis handler's."""
    if spec.layer_module is not None:
        return _layer_handler(spec, wrappers)
    name = f"mqtt_actions_local_fn_{spec.logical_id}_{next(_module_ids)}"
    module_spec = importlib.util.spec_from_file_location(name, spec.module_path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {spec.module_path}")
    module: ModuleType = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # dataclasses and pydantic look their module up while importing
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # Lambda's Runtime.ImportModuleError: stop the stack, say where
        del sys.modules[name]
        msg = f"{spec.logical_id}: importing {spec.module_path} failed: {type(exc).__name__}: {exc}"
        raise ImportError(msg) from exc
    handler = getattr(module, spec.handler_name, None)
    if not callable(handler):
        raise ImportError(f"{spec.module_path} has no function {spec.handler_name}")
    if wrappers is not None:
        if isinstance(getattr(module, "wrappers", None), AdapterWrappers):
            setattr(module, "wrappers", wrappers)  # read when it builds its adapters  # noqa: B010
        if isinstance(handler, AnalysisFunction):
            handler.wrappers = wrappers
    return handler  # type: ignore[no-any-return]


def _layer_handler(spec: FunctionSpec, wrappers: AdapterWrappers | None) -> Handler:
    """A handler of the shared layer (`mqtt_actions.tagoio.handler`): one instance per
    function (its `fresh()`), with the function's wrappers."""
    assert spec.layer_module is not None  # noqa: S101 - the caller checked
    try:
        module = importlib.import_module(spec.layer_module)
    except Exception as exc:
        msg = (
            f"{spec.logical_id}: importing {spec.layer_module} failed: {type(exc).__name__}: {exc}"
        )
        raise ImportError(msg) from exc
    handler = getattr(module, spec.handler_name, None)
    if not callable(handler):
        raise ImportError(f"{spec.layer_module} has no function {spec.handler_name}")
    fresh = getattr(handler, "fresh", None)
    if callable(fresh):
        handler = fresh()
    if wrappers is not None and isinstance(getattr(handler, "wrappers", None), AdapterWrappers):
        handler.wrappers = wrappers
    return handler  # type: ignore[no-any-return]


@dataclass
class _Job:
    event: Any
    source: str
    attempt: int = 1
    result: Future[Any] | None = None  # set for synchronous invocations
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class _Function:
    def __init__(self, spec: FunctionSpec, handler: Handler) -> None:
        self.spec = spec
        self.handler = handler
        self.jobs: queue.Queue[Any] = queue.Queue()
        self.thread = threading.Thread(
            target=self._serve, name=f"fn-{spec.logical_id}", daemon=True
        )
        self.runtime: FunctionRuntime | None = None

    def _serve(self) -> None:
        set_current_function(self.spec.logical_id)
        while True:
            job = self.jobs.get()
            try:
                if job is _STOP:
                    return
                if self.runtime is not None:
                    self.runtime._run(self, job)
            finally:
                self.jobs.task_done()


class FunctionRuntime:
    def __init__(
        self,
        specs: Mapping[str, FunctionSpec],
        *,
        send_to_queue: SendToQueue,
        on_result: ResultHook | None = None,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
        handlers: Mapping[str, Handler] | None = None,
        wrappers: AdapterWrappers | None = None,
    ) -> None:
        self._specs = dict(specs)
        self._wrappers = wrappers
        self._send_to_queue = send_to_queue
        self._on_result = on_result
        self._retry_delays = retry_delays
        self._one_at_a_time = threading.Lock()  # os.environ is the process's: see the docstring
        self._given = dict(handlers or {})
        self._functions: dict[str, _Function] = {}
        self._names: dict[str, str] = {}
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()
        self._stopping = False

    @property
    def names(self) -> list[str]:
        return sorted(self._specs)

    def start(self) -> None:
        """Import every handler (in the calling thread, so import errors stop the stack) and start
        the workers."""
        for logical_id, spec in self._specs.items():
            handler = self._given.get(logical_id)
            if handler is None:
                with self._one_at_a_time, function_environment(spec.environment):
                    handler = load_handler(spec, self._wrappers)
            function = _Function(spec, handler)
            function.runtime = self
            self._functions[logical_id] = function
            self._names.update({logical_id: logical_id, spec.arn: logical_id})
        for function in self._functions.values():
            function.thread.start()

    def resolve(self, name: str) -> str:
        """The logical id for a function name, ARN (qualifier allowed) or partial ARN."""
        if name in self._names:
            return self._names[name]
        base = ":".join(name.split(":")[:7]) if name.startswith("arn:") else name
        tail = base.rsplit(":", 1)[-1]
        for candidate in (base, tail):
            if candidate in self._names:
                return self._names[candidate]
        raise FunctionNotFoundError(name, self.names)

    def invoke_async(self, name: str, event: Any, *, source: str) -> None:
        """Queue an invocation (IoT rule, InvocationType=Event); failures retry, then go to the
        function's OnFailure destination."""
        function = self._functions[self.resolve(name)]
        function.jobs.put(_Job(event=_copy(event), source=source))

    def invoke_sync(self, name: str, event: Any, *, timeout: float | None = None) -> Any:
        """Run the handler once and return its result; raises FunctionError when it raised."""
        function = self._functions[self.resolve(name)]
        future: Future[Any] = Future()
        function.jobs.put(_Job(event=_copy(event), source="sync", result=future))
        limit = timeout if timeout is not None else function.spec.timeout_seconds + 30
        return future.result(timeout=limit)

    def _run(self, function: _Function, job: _Job) -> None:
        spec = function.spec
        context = LambdaContext(
            function_name=spec.logical_id,
            invoked_function_arn=spec.arn,
            memory_limit_in_mb=spec.memory_mb,
            timeout_seconds=spec.timeout_seconds,
            aws_request_id=job.request_id,
        )
        started = time.perf_counter()
        try:
            with self._one_at_a_time, function_environment(spec.environment):
                result = function.handler(_copy(job.event), context)
            result = _copy(result)  # what Lambda would return: JSON
        except Exception as exc:
            payload = _error_payload(exc)
            if job.result is not None:
                job.result.set_exception(FunctionError(payload))
                return
            self._failed(function, job, payload)
            return
        elapsed = time.perf_counter() - started
        if elapsed > spec.timeout_seconds:
            log.warning(
                "warn %s ran %.1f s, over its Timeout of %d s: Lambda would have stopped it",
                spec.logical_id,
                elapsed,
                spec.timeout_seconds,
            )
        if job.result is not None:
            job.result.set_result(result)
        if self._on_result is not None:
            self._on_result(spec.logical_id, job.event, result, elapsed)

    def _failed(self, function: _Function, job: _Job, payload: dict[str, Any]) -> None:
        spec = function.spec
        attempts = spec.max_retries + 1
        error = f"{payload['errorType']}: {payload['errorMessage']}"
        if job.attempt < attempts and not self._stopping:
            delay = self._retry_delays[min(job.attempt, len(self._retry_delays)) - 1]
            log.warning(
                "fail %s attempt %d of %d: %s; retrying in %.1f s",
                spec.logical_id,
                job.attempt,
                attempts,
                error,
                delay,
            )
            job.attempt += 1
            self._later(delay, function, job)
            return
        log.warning("fail %s gave up after %d attempt(s): %s", spec.logical_id, job.attempt, error)
        if spec.on_failure_queue_url is None:
            return
        record = {
            "version": "1.0",
            "timestamp": datetime.now(UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "requestContext": {
                "requestId": job.request_id,
                "functionArn": f"{spec.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": job.attempt,
            },
            "requestPayload": job.event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": payload,
        }
        try:
            self._send_to_queue(spec.on_failure_queue_url, record)
        except Exception as exc:  # the queue is gone (shutting down): say so, do not crash
            log.error("fail could not send to the OnFailure destination: %s", exc)
            return
        log.warning("dlq  %s invocation %s -> OnFailure queue", spec.logical_id, job.request_id)

    def _later(self, delay: float, function: _Function, job: _Job) -> None:
        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            if not self._stopping:
                function.jobs.put(job)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def idle(self) -> bool:
        """True when nothing is queued, running or waiting for a retry."""
        with self._lock:
            if self._timers:
                return False
        return all(f.jobs.unfinished_tasks == 0 for f in self._functions.values())

    def stop(self, timeout: float = 5.0) -> None:
        """Finish what is queued (bounded by `timeout`); drop retries still waiting; stop."""
        self._stopping = True
        with self._lock:
            dropped = len(self._timers)
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        if dropped:
            log.warning("fail %d invocation(s) waiting for a retry dropped at shutdown", dropped)
        deadline = time.monotonic() + timeout
        while not self.idle() and time.monotonic() < deadline:
            time.sleep(0.02)
        for function in self._functions.values():
            function.jobs.put(_STOP)
        for function in self._functions.values():
            function.thread.join(timeout=max(0.1, deadline - time.monotonic()))


def _copy(value: Any) -> Any:
    """A JSON round trip: what crossing Lambda's API boundary does to an event or result."""
    return json.loads(json.dumps(value))


def _error_payload(exc: BaseException) -> dict[str, Any]:
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": "",
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }
