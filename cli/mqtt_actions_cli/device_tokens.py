"""Moved to `mqtt_actions_cli.ops.tokens`; this name stays for code that imports it."""

import sys

from mqtt_actions_cli.ops import tokens

sys.modules[__name__] = tokens
