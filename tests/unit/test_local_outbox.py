"""The local stack's outbox: recording adapters around the handlers' own, through the ports
(nothing patched): what was sent is recorded after the inner adapter accepted it, a failure is
recorded as such, and the router and every analysis get the recorders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.adapters.webhook import HttpWebhookClient
from mqtt_actions.analysis import AnalysisFunction
from mqtt_actions.ports import ActionError, AdapterWrappers, EmailAttachment, NeedsInvocation
from mqtt_actions.router import wrap_adapters
from mqtt_actions_cli.local.outbox import (
    ACTION_HEADER,
    Outbox,
    RecordingNotifier,
    RecordingWebhooks,
)
from mqtt_actions_cli.local.runtime import load_handler
from mqtt_actions_cli.local.template import FunctionSpec

ROOT = Path(__file__).resolve().parents[2]


class Sent:
    """A notifier and webhook client that accept (or refuse) everything."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.calls: list[tuple[Any, ...]] = []
        self.context: object = None

    def send_sms(self, to: str, message: str) -> str:
        self.calls.append(("sms", to, message))
        if self.fail:
            raise ActionError("SNS refused it")
        return "sms-1"

    def send_email(
        self, to: Sequence[str], subject: str, text: str | None, html: str | None
    ) -> str:
        self.calls.append(("email", list(to), subject, text, html))
        return "mail-1"

    def send_email_attachments(
        self,
        to: Sequence[str],
        subject: str,
        text: str | None,
        html: str | None,
        attachments: Sequence[EmailAttachment],
    ) -> str:
        self.calls.append(("email+files", list(to), subject, [a.filename for a in attachments]))
        return "mail-2"

    def register(self, context: object) -> None:
        self.context = context

    def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        timeout: float,
        retries: int,
        allow_http: bool = False,
    ) -> int:
        self.calls.append(("post", url, body, timeout, retries, allow_http))
        if self.fail:
            raise ActionError("HTTP 500")
        return 204


def strip_time(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    assert all(isinstance(i.pop("time"), int) for i in items)
    return items


def test_sms_and_emails_are_recorded_after_the_inner_notifier_sent_them() -> None:
    outbox, inner = Outbox(), Sent()
    notifier = RecordingNotifier(inner, outbox)

    assert notifier.send_sms("+15555550100", "hot") == "sms-1"
    assert notifier.send_email(("ops@example.com",), "Alarm", "text", "<p>html</p>") == "mail-1"

    assert inner.calls == [
        ("sms", "+15555550100", "hot"),
        ("email", ["ops@example.com"], "Alarm", "text", "<p>html</p>"),
    ]
    assert strip_time(outbox.items()) == [
        {"kind": "sms", "to": "+15555550100", "message": "hot"},
        {
            "kind": "email",
            "to": ["ops@example.com"],
            "subject": "Alarm",
            "text": "text",
            "html": "<p>html</p>",
        },
    ]


def test_what_the_inner_notifier_refused_is_not_in_the_outbox() -> None:
    outbox = Outbox()
    with pytest.raises(ActionError):
        RecordingNotifier(Sent(fail=True), outbox).send_sms("+15555550100", "hot")
    assert outbox.items() == []


@pytest.mark.parametrize(
    ("fail", "status", "error"), [(False, 204, None), (True, None, "HTTP 500")]
)
def test_webhook_calls_are_recorded_with_their_status_or_error(
    fail: bool, status: int | None, error: str | None
) -> None:
    outbox, inner = Outbox(), Sent(fail=fail)
    hooks = RecordingWebhooks(inner, outbox)
    headers = {ACTION_HEADER: "hook", "X-Key": "k"}

    if fail:
        with pytest.raises(ActionError):
            hooks.post("https://example.com/in", b"{}", headers, timeout=2.0, retries=1)
    else:
        assert hooks.post("https://example.com/in", b"{}", headers, timeout=2.0, retries=1) == 204

    assert inner.calls == [("post", "https://example.com/in", b"{}", 2.0, 1, False)]
    [item] = strip_time(outbox.items())
    expected = {"kind": "webhook", "url": "https://example.com/in", "status": status}
    assert item == expected | {"action_id": "hook"} | ({"error": error} if error else {})


def test_the_webhook_recorder_passes_the_invocation_on() -> None:
    inner = Sent()
    hooks = RecordingWebhooks(inner, Outbox())
    assert isinstance(hooks, NeedsInvocation)
    context = object()
    hooks.register(context)
    assert inner.context is context


def test_wrap_adapters_replaces_the_notifier_and_webhooks_only() -> None:
    from mqtt_actions.router import RouterDeps

    deps = RouterDeps(*(object() for _ in range(10)))  # type: ignore[arg-type]
    assert wrap_adapters(deps, AdapterWrappers()) is deps
    outbox = Outbox()
    wrapped = wrap_adapters(deps, outbox.recorders())
    assert isinstance(wrapped.notifier, RecordingNotifier)
    assert isinstance(wrapped.webhooks, RecordingWebhooks)
    kept = ("actions", "bucket", "rate_limiter", "publisher", "invoker", "inspector", "once")
    assert all(getattr(wrapped, name) is getattr(deps, name) for name in kept)


def spec(logical_id: str, path: str) -> FunctionSpec:
    module = ROOT / path
    return FunctionSpec(
        logical_id=logical_id,
        code_dir=module.parent,
        module_path=module,
        handler_name="lambda_handler",
        environment={},
    )


def test_the_router_module_and_every_analysis_get_the_stacks_recorders() -> None:
    recorders = Outbox().recorders()

    router = load_handler(spec("RouterFunction", "functions/router/app.py"), recorders)
    forward = load_handler(spec("ForwardAnalysis", "functions/analyses/forward/app.py"), recorders)
    untouched = load_handler(spec("ForwardAnalysis", "functions/analyses/forward/app.py"))

    import sys

    assert sys.modules[router.__module__].wrappers is recorders
    assert isinstance(forward, AnalysisFunction)
    assert forward.wrappers is recorders
    assert isinstance(untouched, AnalysisFunction)
    assert untouched.wrappers == AdapterWrappers()
    # A fresh HttpWebhookClient still knows its invocation: the router registers through the port.
    assert isinstance(HttpWebhookClient(), NeedsInvocation)


def test_an_email_with_attachments_shows_each_files_name_type_and_content() -> None:
    outbox, inner = Outbox(), Sent()
    notifier = RecordingNotifier(inner, outbox)
    files = [EmailAttachment(filename="export.csv", content=b"a,b\n1,2", content_type="text/csv")]
    assert (
        notifier.send_email_attachments(["ops@example.com"], "Export", "see", None, files)
        == "mail-2"
    )
    assert inner.calls == [("email+files", ["ops@example.com"], "Export", ["export.csv"])]
    (item,) = strip_time(outbox.items())
    assert item["attachments"] == [
        {"filename": "export.csv", "content_type": "text/csv", "content": "a,b\n1,2"}
    ]


def test_a_secret_in_a_webhook_url_is_masked_in_the_outbox_not_in_the_request() -> None:
    """Slack-style URLs, query tokens and passwords were shown in plain text (issue #23)."""
    outbox, inner = Outbox(), Sent()
    hooks = RecordingWebhooks(inner, outbox)
    url = "https://bot:pa55word@hooks.example/services/T01/B02/Xy12Zq34Rt56Uv78Wx90Ab12?token=t0k3n-abcdef"
    hooks.post(url, b"{}", {ACTION_HEADER: "hook"}, timeout=2.0, retries=1)

    assert inner.calls[0][1] == url  # sent as written
    [item] = outbox.items()
    assert item["url"] == "https://••••@hooks.example/services/T01/B02/••••Ab12?token=••••cdef"
