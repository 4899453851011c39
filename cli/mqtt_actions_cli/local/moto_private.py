"""The local stack's only reads of moto's private state, checked against moto 5.2.5 (the version
pinned in constraints.txt); `tests/unit/test_moto_private.py` fails loudly when moto changes them.

Why private: saving the state reads every item of every table and every queued message. Through
the API (Scan, ReceiveMessage) that costs the handlers seconds of CPU per save of a big bucket
and would change the messages' receive counts; this process runs moto's backends, so reading
them directly costs microseconds an item. Everything is restored through the API.
"""

from __future__ import annotations

from typing import Any, Final

from mqtt_actions_cli.local.template import ACCOUNT_ID, REGION

MOTO_CHECKED: Final = "5.2.5"

__all__ = ["MOTO_CHECKED", "queue_messages", "table_items"]


def table_items(table_name: str) -> list[dict[str, Any]]:
    """Every item of the table, in DynamoDB's JSON (`{"S": ...}`), as a Scan would return them."""
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends[ACCOUNT_ID][REGION].get_table(table_name)
    return [item.to_json()["Attributes"] for item in table.all_items()]


def queue_messages(queue_name: str) -> list[dict[str, Any]]:
    """Every message in the queue, received or not: its body, its string attributes, its id
    and when it was sent (ms)."""
    from moto.sqs.models import sqs_backends

    queue = sqs_backends[ACCOUNT_ID][REGION].get_queue(queue_name)
    return [_message(m) for m in list(queue._messages)]


def _message(message: Any) -> dict[str, Any]:
    attributes = {
        name: {"DataType": value["DataType"], "StringValue": value["StringValue"]}
        for name, value in dict(message.message_attributes or {}).items()
        if isinstance(value, dict) and value.get("StringValue") is not None
    }
    return {
        "body": message.body,
        "attributes": attributes,
        "id": message.id,
        "sent_ms": message.sent_timestamp,
    }
