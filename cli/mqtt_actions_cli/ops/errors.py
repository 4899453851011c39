"""The operations' typed errors. They are the CLI's own (errors.py), so a command needs no
mapping, and the console maps each class to an HTTP status once (console/app.py).

- UsageError: the input is wrong (exit 2, HTTP 400); `problems` lists each one with its field.
- NotFoundError: an id or name that is not stored (exit 2, HTTP 404).
- TargetError: the local or deployed stack cannot be reached or lacks something (exit 1, 502).
- OpsError: any other failure the user can act on (exit 1, HTTP 500)."""

from __future__ import annotations

from mqtt_actions_cli.errors import CliError as OpsError
from mqtt_actions_cli.errors import NotFoundError, TargetError, UsageError

__all__ = ["NotFoundError", "OpsError", "TargetError", "UsageError"]
