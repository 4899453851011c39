"""`Analysis(...).init(fn)` and the generic handler that runs a TagoIO script unchanged.

`Handler: mqtt_actions.tagoio.handler` with `TAGOIO_SCRIPT=<file>.py` (relative to the
function's code, `LAMBDA_TASK_ROOT`): the script is imported once per container; its top-level
`Analysis(...).init(my_analysis)` hands over `my_analysis` (TagoIO's own SDK would block there,
waiting for triggers). Each trigger then runs `my_analysis(context, scope)`:
- `async def` analyses are awaited;
- `print(...)` and `context.log(...)` go to the function's log and into the run's inspector
  entry (`log`, the first lines);
- the return value is ignored, as on TagoIO; an exception fails the run (recorded as failed).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import importlib.util
import inspect
import io
import itertools
import os
import sys
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

from mqtt_actions.analysis import AnalysisFunction, Context, InvalidMessageError, Scope
from mqtt_actions.analysis.errors import AnalysisError
from mqtt_actions.ports import AdapterWrappers
from mqtt_actions.tagoio.common import (
    BUCKET_TABLE,
    CURRENT,
    DEVICE_TOKENS_TABLE,
    DEVICES_TABLE,
    BucketRows,
    DeviceTokenList,
    Stores,
    TagoRun,
    kind,
)

if TYPE_CHECKING:
    from mqtt_actions.ports import DeviceRegistry

SCRIPT_ENV: Final = "TAGOIO_SCRIPT"
# TagoIO's own analysis environment (Analysis/Analysis.py reads T_ANALYSIS_TOKEN and T_ANALYSIS_ID).
T_ANALYSIS_TOKEN: Final = "T_ANALYSIS_TOKEN"  # noqa: S105 - the variable's name, not a token
T_ANALYSIS_ID: Final = "T_ANALYSIS_ID"

TagoHandler = Callable[["TagoContext", Scope], object]

_LOADING: contextvars.ContextVar[list[TagoIOAnalysisFunction] | None] = contextvars.ContextVar(
    "tagoio_loading", default=None
)
_module_ids = itertools.count(1)


class ScriptError(AnalysisError):
    """The TagoIO script cannot be loaded; the message names the file and the fix."""


# --- context and print ------------------------------------------------------------------------


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
        _log_line(self._context, " ".join(str(a) for a in args), "context.log")


def _log_line(context: Context, line: str, source: str) -> None:
    context.logger.info(line, extra={"source": source})
    context.services.note(line)


class _RunStdout(io.TextIOBase):
    """sys.stdout while TagoIO scripts run here: a line printed inside a run (this thread's
    context) goes to that run's log; anything else to the real stdout."""

    def __init__(self, real: TextIO) -> None:
        self.real = real
        self._partial: contextvars.ContextVar[str] = contextvars.ContextVar(
            "tago_print", default=""
        )

    def write(self, text: str) -> int:
        run = CURRENT.get()
        if run is None:
            return self.real.write(text)
        buffered = self._partial.get() + text
        *lines, rest = buffered.split("\n")
        self._partial.set(rest)
        for line in lines:
            _log_line(run.context, line, "print")
        return len(text)

    def flush_run(self) -> None:
        run, rest = CURRENT.get(), self._partial.get()
        if run is not None and rest:
            _log_line(run.context, rest, "print")
        self._partial.set("")

    def flush(self) -> None:
        self.real.flush()


_STDOUT_LOCK = threading.Lock()


def _stdout() -> _RunStdout:
    with _STDOUT_LOCK:
        if not isinstance(sys.stdout, _RunStdout):
            sys.stdout = _RunStdout(sys.stdout)
        return sys.stdout


def _await(result: Any) -> None:
    """Run a coroutine to its end: here when no loop runs in this thread, else in a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(result)
        return
    copied = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(copied.run, asyncio.run, result).result()


# --- the analysis function --------------------------------------------------------------------


class TagoIOAnalysisFunction(AnalysisFunction):
    """The Lambda handler `Analysis(...).init(fn)` returns. `tokens`, `profiles` and `rows`
    replace the stores (tests); by default each is built from the function's environment
    (DEVICE_TOKENS_TABLE, DEVICES_TABLE, BUCKET_TABLE) on first use."""

    def __init__(self, fn: TagoHandler, token: str) -> None:
        self.tokens: DeviceTokenList | None = None
        self.profiles: DeviceRegistry | None = None
        self.rows: BucketRows | None = None
        self._built: dict[tuple[str, str], Any] = {}
        self.fn = fn

        def handler(context: Context, scope: Scope) -> None:
            tago = TagoContext(
                context,
                token or os.environ.get(T_ANALYSIS_TOKEN, ""),
                os.environ.get(T_ANALYSIS_ID) or context.name,
            )
            run = TagoRun(context, Stores(self._tokens, self._profiles, self._rows))
            out = _stdout()
            reset = CURRENT.set(run)
            try:
                result = fn(tago, _scope(scope, context.trigger.device))
                if inspect.isawaitable(result):
                    _await(result)
            finally:
                out.flush_run()
                CURRENT.reset(reset)
            # TagoIO ignores the return value (it may not even be JSON).

        functools.update_wrapper(handler, fn)
        super().__init__(handler)

    def _adapter(self, variable: str, build: Callable[[str], Any]) -> Any:
        table = os.environ.get(variable, "")
        if not table:
            return None
        key = (variable, table)
        if key not in self._built:
            self._built[key] = build(table)
        return self._built[key]

    def _tokens(self) -> DeviceTokenList | None:
        if self.tokens is not None:
            return self.tokens

        def build(table: str) -> Any:
            from mqtt_actions.adapters.aws import client
            from mqtt_actions.adapters.token_store import DynamoTokenStore

            return DynamoTokenStore(table, client("dynamodb"))

        return self._adapter(DEVICE_TOKENS_TABLE, build)  # type: ignore[no-any-return]

    def _profiles(self) -> DeviceRegistry | None:
        if self.profiles is not None:
            return self.profiles

        def build(table: str) -> Any:
            from mqtt_actions.adapters.aws import client
            from mqtt_actions.adapters.device_profiles import DynamoDeviceProfiles

            return DynamoDeviceProfiles(table, client("dynamodb"))

        return self._adapter(DEVICES_TABLE, build)  # type: ignore[no-any-return]

    def _rows(self) -> BucketRows | None:
        if self.rows is not None:
            return self.rows

        def build(table: str) -> Any:
            from mqtt_actions.adapters.aws import client
            from mqtt_actions.adapters.bucket import DynamoBucket

            return DynamoBucket(table, client("dynamodb"))

        return self._adapter(BUCKET_TABLE, build)  # type: ignore[no-any-return]


def _scope(scope: Scope, device: str | None) -> Scope:
    """TagoIO gives each scope point its `device` (and `origin`): the trigger's device here."""
    if not device:
        return scope
    return [{"device": device, "origin": device, **point} for point in scope]


class Analysis:
    """`Analysis({"token": ...}).init(my_analysis)`: returns the Lambda handler (for a module of
    your own: `lambda_handler = Analysis(...).init(fn)`); inside a script run by
    `mqtt_actions.tagoio.handler`, it also hands `my_analysis` to that handler. The token is
    optional; `context.token` falls back to T_ANALYSIS_TOKEN."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        token = (params or {}).get("token")
        self._token = token if isinstance(token, str) else ""
        self.params = dict(params or {})

    def init(self, analysis: TagoHandler) -> TagoIOAnalysisFunction:
        if not callable(analysis):
            raise InvalidMessageError(
                f"Analysis(...).init takes your function (context, scope), got {kind(analysis)}"
            )
        function = TagoIOAnalysisFunction(analysis, self._token)
        loading = _LOADING.get()
        if loading is not None:
            loading.append(function)
        return function

    @staticmethod
    def use(analysis: TagoHandler, params: Mapping[str, Any] | None = None) -> AnalysisFunction:
        """TagoIO's `Analysis.use(fn, params)`: the same as `Analysis(params).init(fn)`."""
        return Analysis(params).init(analysis)


# --- the generic handler ----------------------------------------------------------------------


def script_path(env: Mapping[str, str] | None = None) -> Path:
    source = os.environ if env is None else env
    name = source.get(SCRIPT_ENV, "")
    if not name:
        raise ScriptError(
            f"{SCRIPT_ENV} is not set: it names the TagoIO script (e.g. analysis.py) in the "
            "function's code; `mqtt-actions analyses add-tagoio` sets it"
        )
    root = Path(source.get("LAMBDA_TASK_ROOT") or ".")
    path = (root / name).resolve()
    if not path.is_file():
        raise ScriptError(f"{SCRIPT_ENV}={name}: no such file in {root} (the function's code)")
    return path


def load_script(path: Path) -> TagoIOAnalysisFunction:
    """Import the script (once per container) and take the function it gave to `init`."""
    name = f"tagoio_analysis_{path.stem.replace('-', '_')}_{next(_module_ids)}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ScriptError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    token = _LOADING.set([])
    try:
        spec.loader.exec_module(module)
        found = _LOADING.get() or []
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        _LOADING.reset(token)
    if not found:
        raise ScriptError(
            f"{path.name} never called Analysis(...).init(my_analysis) at its top level, so "
            "there is no analysis to run; add that line as on TagoIO"
        )
    return found[-1]


class ScriptHandler:
    """`mqtt_actions.tagoio.handler`: runs the TagoIO script named by TAGOIO_SCRIPT."""

    def __init__(self) -> None:
        self.wrappers = AdapterWrappers()
        self._functions: dict[Path, TagoIOAnalysisFunction] = {}
        self._lock = threading.Lock()

    def fresh(self) -> ScriptHandler:
        """A handler of its own (the local stack runs several functions in one process)."""
        return ScriptHandler()

    def function(self) -> TagoIOAnalysisFunction:
        path = script_path()
        with self._lock:
            if path not in self._functions:
                self._functions[path] = load_script(path)
            return self._functions[path]

    def __call__(self, event: Any, lambda_context: Any = None) -> dict[str, Any]:
        function = self.function()
        function.wrappers = self.wrappers
        return function(event, lambda_context)


handler: Final = ScriptHandler()
