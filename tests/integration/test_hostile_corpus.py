"""The hostile corpus (tests/corpus/hostile.py) through the real router handler against moto:
each case gets its outcomes, with the reason in the inspector, and nothing else in the
dead-letter queue than the failures it names."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from mqtt_actions.adapters.inspector import DynamoInspector
from mqtt_actions.adapters.webhook import HttpWebhookClient
from tests.corpus.hostile import CASES, HOOK, Case, Observed
from tests.integration.conftest import Aws, Router, bucket, message
from tests.support.webhook import Hook

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a matrix: `make test` runs it


def test_the_corpus_is_big_enough_and_ids_are_unique() -> None:
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)


def row_count(aws_env: Aws, device: str) -> int:
    kwargs: dict[str, Any] = {
        "TableName": aws_env.tables["BucketTable"],
        "KeyConditionExpression": "device = :d",
        "ExpressionAttributeValues": {":d": {"S": device}},
        "Select": "COUNT",
    }
    total = 0
    for _ in range(1_000):  # bounded: 1 MB pages
        page = aws_env.dynamodb.query(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    raise AssertionError("more pages than any case writes")


def observe(aws_env: Aws, webhook: Hook, result: dict[str, Any], device: str) -> Observed:
    inspector = DynamoInspector(aws_env.tables["InspectorTable"], aws_env.dynamodb, 7)
    entries = inspector.query(device=device, types=["action"], limit=50)
    return Observed(
        result=result,
        rows=bucket(aws_env, device),
        row_count=row_count(aws_env, device),
        sms=aws_env.sms(),
        subjects=[str(m.subject) for m in aws_env.emails()],
        mqtt=aws_env.mqtt(),
        hooks=webhook.requests,
        dead=aws_env.dead_letters(),
        outcomes={e.details["action_id"]: e.details for e in entries},
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_message(
    case: Case,
    router: Router,
    apply: Callable[[str], None],
    aws_env: Aws,
    webhook: Hook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from functions.router import app

    # Given the actions, and the webhook guard as the case wants it
    apply(case.actions.replace(HOOK, webhook.url))
    if not case.private_webhooks:
        monkeypatch.setattr(app.deps(), "webhooks", HttpWebhookClient(allow_private=False))
    event = message(case.payload_bytes(), case.topic_name(), clientid=case.clientid)
    event |= case.event

    # When the message arrives
    result = router(event)

    # Then
    if case.invalid is not None:
        assert case.invalid in result["error"]
        [dead] = aws_env.dead_letters()
        assert dead["kind"] == "invalid_event"
        assert case.invalid in dead["reason"]
        assert dead["event"] == event
        return
    assert result["outcomes"] == dict(case.outcomes)
    seen = observe(aws_env, webhook, result, case.clientid)
    assert {a: d["outcome"] for a, d in seen.outcomes.items()} == dict(case.outcomes)
    for action, words in case.reasons.items():
        assert words in (seen.outcomes[action]["reason"] or ""), seen.outcomes[action]
    for action, details in seen.outcomes.items():
        if details["outcome"] not in ("done", "duplicate"):
            assert details["reason"], f"{action} is {details['outcome']} without a reason"
    assert sorted(d["action_id"] for d in seen.dead) == sorted(case.dead)
    for dead in seen.dead:  # the original message, whole, for a replay
        assert base64.b64decode(dead["event"]["payload"]) == case.payload_bytes()
    if case.then is not None:
        assert case.then(seen) is not False
