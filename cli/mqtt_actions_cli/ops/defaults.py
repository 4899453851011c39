"""Values the commands' options show in --help, kept apart from the operations that use them so
that building a command's parser loads nothing heavy (no pydantic, no boto3)."""

from __future__ import annotations

AUTH_MODES = ("anonymous", "tokens")  # `mqtt-actions local --auth`
TEST_DEVICE = "test-device"  # the publishing device of a dry run (`actions test`)
BUCKET_MAX_LIMIT = 10_000  # `bucket query --limit`: at most this many points a query
# The inspector's entry types, in the order mqtt_actions.inspector.EntryType declares them
# (tests/unit/test_cli_startup.py checks they agree).
ENTRY_TYPES = (
    "connect",
    "disconnect",
    "connect_failed",
    "subscribe",
    "unsubscribe",
    "publish",
    "action",
)
