"""`dlq replay` with the real router handler behind `invoke`: a failed webhook lands in the
dead-letter queue, the replay delivers it once, and nothing else is sent again."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions_cli.target import Target
from tests.integration.cli_support import moto_target, run
from tests.integration.conftest import SENDER, Aws, Context
from tests.support.webhook import Hook

pytestmark = pytest.mark.integration


@pytest.fixture
def target(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    from functions.router import app

    env = {
        "BUCKET_TABLE": aws_env.tables["BucketTable"],
        "ACTIONS_TABLE": aws_env.tables["ActionsTable"],
        "IDEMPOTENCY_TABLE": aws_env.tables["IdempotencyTable"],
        "DEAD_LETTER_QUEUE_URL": aws_env.queues["DeadLetterQueue"],
        "EMAIL_SENDER": SENDER,
        "ACTIONS_CACHE_SECONDS": "0",
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "DEVICE_IDENTITY": "client-id",  # these messages name their device by client id
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app.settings.cache_clear()
    app.deps.cache_clear()
    monkeypatch.setattr(app.deps().webhooks, "_sleep", lambda _s: None)

    def invoke(function: str, event: Mapping[str, Any]) -> dict[str, Any]:
        assert function == "RouterFunction"
        result: dict[str, Any] = app.lambda_handler(dict(event), Context())  # type: ignore[arg-type]
        return result

    yield moto_target(aws_env, invoke=invoke)
    app.settings.cache_clear()
    app.deps.cache_clear()


def test_a_failed_webhook_is_replayed_once_and_nothing_else_is_resent(
    target: Target, aws_env: Aws, webhook: Hook, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    actions = tmp_path / "actions.yaml"
    actions.write_text(
        f"""
actions:
  - {{id: hook, topics: ["alarm/#"], type: webhook, url: "{webhook.url}", allow_http: true,
      max_retries: 1}}
  - {{id: sms, topics: ["alarm/#"], type: sms, to: ["+15555550100"], message: "$VALUE$"}}
"""
    )
    assert run(capsys, ["actions", "apply", str(actions)], target).code == 0
    webhook.fail_next = 2
    event = {
        "payload": base64.b64encode(b"open").decode(),
        "topic": "alarm/door",
        "clientid": "door-01",
        "timestamp": 1_764_072_000_000,
        "traceid": "trace-door-1",
    }
    assert target.invoke("RouterFunction", event)["outcomes"] == {"hook": "failed", "sms": "done"}

    listed = run(capsys, ["dlq", "list", "--json"], target)
    [letter] = listed.json()
    assert (letter["action_id"], letter["topic"]) == ("hook", "alarm/door")
    assert "HTTP 500" in letter["reason"]

    replayed = run(capsys, ["dlq", "replay", "--all"], target)
    assert replayed.code == 0, replayed.out + replayed.err
    assert "1 replayed" in replayed.out

    assert len(webhook.requests) == 3  # two failed attempts, then the replay's one
    assert json.loads(webhook.requests[-1]["body"])[0]["value"] == "open"
    assert len(aws_env.sms()) == 1  # the SMS was not sent again
    assert aws_env.dead_letters() == []
