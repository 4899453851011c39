"""The sample functions/analyses/tagoio_port: a TagoIO analysis ported with two edits, through
mqtt_actions.tagoio with every port faked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.ports import Outcome
from tests.support.analysis_fakes import T0, FakePorts, load_sample, run, sample_event, settings

port = load_sample("tagoio_port")


def event(value: object, **environment: str) -> dict[str, Any]:
    return {
        "analysis": "tagoio_port",
        "trigger": {
            "type": "action",
            "action_id": "hot",
            "topic": "tago/oven/temperature",
            "device": "oven-1",
            "traceid": "tr-1",
            "timestamp": T0,
        },
        "scope": [
            {"variable": "humidity", "value": 80},
            {"variable": "temperature", "value": value, "unit": "°C"},
        ],
        "environment": {"threshold": "30", "email": "ops@example.com"} | environment,
    }


def test_above_the_threshold_it_publishes_and_emails() -> None:
    ports = FakePorts()
    run(port.lambda_handler, event(31.5), ports)

    (published,) = ports.publisher.published
    assert (published.topic, published.qos, published.retain) == (
        "alerts/oven-1/temperature",
        1,
        False,
    )
    assert published.json() == {
        "variable": "temperature_alert",
        "value": 31.5,
        "unit": "°C",
        "threshold": 30.0,
    }
    assert ports.notifier.emails == [
        {
            "to": ["ops@example.com"],
            "subject": "oven-1: temperature above 30",
            "text": "oven-1 reported temperature = 31.5°C, above 30.",
            "html": None,
        }
    ]
    ((_, result),) = ports.inspector.outcomes
    assert (result.action_id, result.outcome) == ("sample", Outcome.DONE)
    assert result.detail["published"] == 1
    assert result.detail["emails"] == 1


@pytest.mark.parametrize(
    ("ev", "why"),
    [
        pytest.param(event(30), "not above", id="at-the-threshold"),
        pytest.param(event("12"), "not above", id="below-as-text"),
        pytest.param(event(50, variable="pressure"), "Couldn't find", id="variable-absent"),
        pytest.param(event(50) | {"scope": []}, "triggered by an action", id="empty-scope"),
    ],
)
def test_otherwise_it_only_logs(
    ev: dict[str, Any], why: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports = FakePorts()
    logged: list[str] = []
    monkeypatch.setattr(port.lambda_handler.logger, "info", lambda msg, *a, **k: logged.append(msg))
    run(port.lambda_handler, ev, ports)
    assert ports.publisher.published == []
    assert ports.notifier.emails == []
    assert any(why in line for line in logged), logged


def test_without_email_it_only_publishes() -> None:
    ports = FakePorts()
    run(port.lambda_handler, event(40, email=""), ports)
    assert [p.topic for p in ports.publisher.published] == ["alerts/oven-1/temperature"]
    assert ports.notifier.emails == []


def test_a_missing_threshold_fails_as_the_tagoio_code_says() -> None:
    ev = event(40)
    del ev["environment"]["threshold"]
    ports = FakePorts()
    with pytest.raises(ValueError, match="'threshold' not found in environment variables"):
        run(port.lambda_handler, ev, ports)
    ((_, result),) = ports.inspector.outcomes
    assert result.outcome is Outcome.FAILED


def test_the_port_differs_from_tagoio_code_only_in_two_marked_edits() -> None:
    text = Path(port.__file__ or "").read_text(encoding="utf-8")
    assert text.count("# EDIT 1") == 1
    assert text.count("# EDIT 2") == 1
    assert "mqtt_actions.analysis" not in text


def test_its_sample_event_alerts() -> None:
    ports = FakePorts()
    run(
        port.lambda_handler,
        sample_event("tagoio_port"),
        ports,
        settings(ANALYSIS_ENV_threshold="30"),
    )
    assert [p.topic for p in ports.publisher.published] == ["alerts/oven-1/temperature"]
    assert [m["to"] for m in ports.notifier.emails] == [["ops@example.com"]]
