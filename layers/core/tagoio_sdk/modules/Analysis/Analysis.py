"""`from tagoio_sdk.modules.Analysis.Analysis import Analysis`."""

from mqtt_actions.tagoio import Analysis

__all__ = ["Analysis"]
