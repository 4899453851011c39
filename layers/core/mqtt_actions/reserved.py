"""TagoIO's reserved topic `tago/data/post`: a device publishes TagoIO data there and it is
stored in the publishing device's bucket with no action, as TagoIO's broker did (its legacy
reserved topic, still honoured by TagoIO and common in field firmware: `client.publish(
"tago/data/post", ...)`). Actions on the topic still run.

The payload is TagoIO's data format: a JSON object or an array of objects with `variable`,
`value`, `unit`, `time`, `group`, `location`, `metadata`. Anything else is refused whole, with
the reason; a point that breaks TagoIO's limits is refused alone (`insert_bucket`'s rules), the
valid ones are stored. Either way the inspector shows it and a dead letter keeps the message.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from mqtt_actions.actions import Action

TAGO_DATA_POST: Final = "tago/data/post"
STORE_ID: Final = "tago-data-post"  # the built-in action's id in outcomes and dead letters


def tago_data_problem(payload: bytes) -> str | None:
    """Why a `tago/data/post` payload is not TagoIO data (None: it is)."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        data = None
    if isinstance(data, dict) or (
        isinstance(data, list) and all(isinstance(item, dict) for item in data)
    ):
        return None
    return (
        f"{TAGO_DATA_POST} takes TagoIO data: a JSON object or an array of objects such as "
        '[{"variable":"temperature","value":21.5,"unit":"C"}]; nothing stored'
    )


@functools.cache
def store_action() -> Action:
    """The built-in `insert_bucket` of `tago/data/post` (into the publishing device)."""
    from mqtt_actions.actions import parse_action

    return parse_action(
        {
            "id": STORE_ID,
            "name": f"TagoIO's {TAGO_DATA_POST}: store into the publishing device",
            "topics": [TAGO_DATA_POST],
            "type": "insert_bucket",
        }
    )
