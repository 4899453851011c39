"""The analysis SDK: a user function started by an action, a schedule or another analysis.

    from mqtt_actions.analysis import Context, Scope, analysis

    @analysis
    def lambda_handler(context: Context, scope: Scope) -> None:
        for point in scope:
            context.services.mqtt.publish(f"echo/{context.trigger.device}", point)

`@analysis` turns `handler(context, scope)` into a Lambda handler `(event, lambda_context)`.
`scope` is the list of data points the trigger carried (empty for a schedule); `context` holds the
analysis name, the trigger, the environment, a Powertools logger and `services` (mqtt, email, sms,
bucket, analysis). Mistakes raise an `AnalysisError` subclass whose message says what to fix.
A handler that raises is reported to the inspector, then the error propagates: Lambda retries
the invocation twice, then the event goes to the dead-letter queue.

Nothing here needs AWS or the environment at import time: settings are read and adapters built
on the first invocation, and each adapter only when a service first needs it.
"""

from __future__ import annotations

from mqtt_actions.analysis.errors import (
    AnalysisError,
    InvalidDeviceError,
    InvalidEmailAddressError,
    InvalidEventError,
    InvalidMessageError,
    InvalidPhoneNumberError,
    InvalidScopeError,
    InvalidTopicError,
    LoopRefusedError,
    NotConfiguredError,
    PayloadTooLargeError,
    PointsRefusedError,
    RateLimitedError,
    UnknownAnalysisError,
    UnsupportedQoSError,
)
from mqtt_actions.analysis.event import AnalysisEvent, Scope, Trigger
from mqtt_actions.analysis.runner import AnalysisFunction, Context, analysis, run_analysis
from mqtt_actions.analysis.services import (
    AnalysisService,
    DeviceBucket,
    EmailService,
    MqttService,
    Services,
    SmsService,
)
from mqtt_actions.limits import MAX_ASYNC_EVENT_BYTES, MAX_SMS_CHARS
from mqtt_actions.ports import RetainedMessage

__all__ = [
    "MAX_ASYNC_EVENT_BYTES",
    "MAX_SMS_CHARS",
    "AnalysisError",
    "AnalysisEvent",
    "AnalysisFunction",
    "AnalysisService",
    "Context",
    "DeviceBucket",
    "EmailService",
    "InvalidDeviceError",
    "InvalidEmailAddressError",
    "InvalidEventError",
    "InvalidMessageError",
    "InvalidPhoneNumberError",
    "InvalidScopeError",
    "InvalidTopicError",
    "LoopRefusedError",
    "MqttService",
    "NotConfiguredError",
    "PayloadTooLargeError",
    "PointsRefusedError",
    "RateLimitedError",
    "RetainedMessage",
    "Scope",
    "Services",
    "SmsService",
    "Trigger",
    "UnknownAnalysisError",
    "UnsupportedQoSError",
    "analysis",
    "run_analysis",
]
