"""The CLI's errors and how they end: one message on stderr that names the problem and the fix,
and an exit code (0 ok, 1 operational error, 2 usage or validation error, 130 interrupted)."""

from __future__ import annotations

from collections.abc import Sequence

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C


class CliError(Exception):
    """Something the user can act on; `problems` lists details, one line each."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, problems: Sequence[str] = (), hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)
        self.hint = hint


class UsageError(CliError):
    """The command line or an input file is wrong; running it again unchanged cannot help."""

    exit_code = EXIT_USAGE


class TargetError(CliError):
    """The local stack or the deployed stack cannot be reached or lacks something we need."""


class NotFoundError(UsageError):
    """An action, dead letter or device that is not there; nothing was changed."""


# By name: the local stack's control API sends an error's class name (target.py rebuilds it).
ERRORS: dict[str, type[CliError]] = {
    cls.__name__: cls for cls in (CliError, UsageError, TargetError, NotFoundError)
}


def http_status(exc: Exception) -> int:
    """The HTTP status the console and the local stack's control API answer an error with."""
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, UsageError):
        return 400
    if isinstance(exc, TargetError):
        return 502
    return 500
