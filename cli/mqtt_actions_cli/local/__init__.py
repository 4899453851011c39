"""The local stack (`mqtt-actions local`): IoT Core, Lambda and AWS on one machine, no Docker."""

from mqtt_actions_cli.local.command import add_local_parser, run_local

__all__ = ["add_local_parser", "run_local"]
