"""Every mistake the analysis SDK refuses: an `AnalysisError` (a ValueError) subclass each, whose
message says what is wrong and what to do."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from mqtt_actions import topics
from mqtt_actions.publishing import ProblemKind

__all__ = [
    "PUBLISH_ERRORS",
    "AnalysisError",
    "InvalidDeviceError",
    "InvalidEmailAddressError",
    "InvalidEventError",
    "InvalidMessageError",
    "InvalidPhoneNumberError",
    "InvalidScopeError",
    "InvalidTopicError",
    "LoopRefusedError",
    "NotConfiguredError",
    "PayloadTooLargeError",
    "PointsRefusedError",
    "RateLimitedError",
    "UnknownAnalysisError",
    "UnsupportedQoSError",
]


class AnalysisError(ValueError):
    """Something the SDK refused; the message names what is wrong and what to do."""


class InvalidTopicError(AnalysisError, topics.InvalidTopicError):
    """Not a topic IoT Core publishes to (wildcards, empty, over 256 bytes, over 7 '/').
    Also a `mqtt_actions.topics.InvalidTopicError`."""


class UnsupportedQoSError(AnalysisError):
    """QoS other than 0 or 1 (IoT Core has no QoS 2)."""


class PayloadTooLargeError(AnalysisError):
    """Over IoT Core's 128 KB per message, or Lambda's 1 MB per asynchronous invocation."""


class InvalidMessageError(AnalysisError):
    """A message, subject or argument of a type or shape the service cannot send."""


class InvalidPhoneNumberError(AnalysisError):
    """Not an E.164 phone number (+<country code><number>)."""


class InvalidEmailAddressError(AnalysisError):
    """Not a plain e-mail address (name@domain)."""


class InvalidDeviceError(AnalysisError):
    """A device (bucket) name that is empty or too long."""


class InvalidScopeError(AnalysisError):
    """A scope for another analysis that is not a list of JSON objects."""


class PointsRefusedError(AnalysisError):
    """Data points that break TagoIO's limits; nothing of the batch was stored."""

    def __init__(self, refused: Sequence[tuple[int, list[str]]]) -> None:
        self.refused = list(refused)
        lines = "; ".join(f"point {i}: {', '.join(reasons)}" for i, reasons in self.refused)
        count = len(self.refused)
        super().__init__(
            f"{count} data point{'s' if count != 1 else ''} refused, nothing stored: {lines}"
        )


class RateLimitedError(AnalysisError):
    """More e-mails or SMS than the analysis's rate limit allows in the current window."""


class UnknownAnalysisError(AnalysisError):
    """`services.analysis.run` named an analysis this function may not start."""


class LoopRefusedError(AnalysisError):
    """The chain of analyses and publishes is longer than MAX_HOPS (a loop, most likely)."""


class NotConfiguredError(AnalysisError):
    """A service is used but its setting is missing from the function's environment."""


class InvalidEventError(AnalysisError):
    """The Lambda event is none of the shapes an analysis is started with."""


PUBLISH_ERRORS: Final[dict[ProblemKind, type[AnalysisError]]] = {
    "topic": InvalidTopicError,
    "qos": UnsupportedQoSError,
    "size": PayloadTooLargeError,
}
