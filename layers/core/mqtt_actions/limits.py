"""The platform limits the product enforces, each once, with where it comes from. Pure constants.

The actions file (models), the executors, the analysis SDK, the publish checks, the local stack's
warnings and the CLI all read them here, so a limit AWS raises is changed in one place.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "MAX_ASYNC_EVENT_BYTES",
    "MAX_CLIENT_ID_CHARS",
    "MAX_DEVICE_CHARS",
    "MAX_EMAIL_RECIPIENTS",
    "MAX_MQTT_PAYLOAD",
    "MAX_SMS_CHARS",
    "MAX_SUBJECT_CHARS",
    "MAX_TOPIC_BYTES",
    "MAX_TOPIC_SLASHES",
    "TAGOIO_FREE_INPUTS_PER_HOUR",
    "TAGOIO_FREE_INPUTS_PER_MINUTE",
]

# Amazon SNS API reference, Publish: "The total size limit for a single SMS Publish action is
# 1,600 characters."
MAX_SMS_CHARS: Final = 1600

# RFC 5322 section 2.1.1: a line holds at most 998 characters; a subject is one header line.
MAX_SUBJECT_CHARS: Final = 998

# Amazon SES quotas: one message goes to at most 50 recipients (To, Cc and Bcc together).
MAX_EMAIL_RECIPIENTS: Final = 50

# AWS IoT Core quotas: a message payload is at most 128 KB.
MAX_MQTT_PAYLOAD: Final = 128 * 1024

# AWS IoT Core quotas: a topic in a PUBLISH is at most 256 UTF-8 bytes...
MAX_TOPIC_BYTES: Final = 256

# ...and holds at most 7 forward slashes for the rules engine to see it ($aws/rules/ not counted).
MAX_TOPIC_SLASHES: Final = 7

# AWS IoT Core quotas: a client id is at most 128 bytes; a device (bucket) name is a client id.
MAX_CLIENT_ID_CHARS: Final = 128
MAX_DEVICE_CHARS: Final = MAX_CLIENT_ID_CHARS

# AWS Lambda quotas: an asynchronous invocation's payload is at most 1 MB.
MAX_ASYNC_EVENT_BYTES: Final = 1024 * 1024

# TagoIO's usage policy (help.tago.io/portal/en/kb/articles/63-usage-policy): "Free Accounts are
# limited to 5,000 Data Input Transactions per hour (or 500 per minute)", and one data input is
# counted for each variable a device sends (article 192, "Data Input Service"). The defaults of
# the template parameters MaxPointsPerMessage (a minute's) and MaxPointsPerDeviceMinute (an
# hour's: a device flushing its offline buffer still fits).
TAGOIO_FREE_INPUTS_PER_MINUTE: Final = 500
TAGOIO_FREE_INPUTS_PER_HOUR: Final = 5000
