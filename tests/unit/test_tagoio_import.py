"""`actions import-tagoio`: TagoIO action objects (shapes from TagoIO's public SDK types) become an
actions file the project's own loader accepts; every source action is reported."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.actions import parse_action
from mqtt_actions_cli.actions_file import load_actions_file
from mqtt_actions_cli.main import main
from mqtt_actions_cli.tagoio_import import (
    CONVERTED,
    NOT_CONVERTED,
    WITH_NOTES,
    ExportError,
    convert,
    parse_analysis_map,
    parse_export,
    to_yaml,
)

EXPORT = Path(__file__).resolve().parents[1] / "data" / "tagoio_actions_export.json"
ANALYSIS_ID = "6470f2a1c72f2f00181d0001"


def tagoio(action: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """An mqtt_topic action on `tago/+/x` doing `action`, with any other fields."""
    base = {"id": "a1", "name": "My action", "type": "mqtt_topic", "trigger": [{"topic": "t/+/x"}]}
    return base | {"action": action} | fields


def one(item: object, amap: dict[str, str] | None = None) -> tuple[Any, dict[str, Any] | None]:
    result = convert([item], amap or {})
    (row,) = result.rows
    return row, (result.actions[0] if result.actions else None)


# --- the mapping, type by type ---------------------------------------------------------------

MAPPED = [
    pytest.param(
        {"type": "email", "to": "ops@example.com", "subject": "Hot $DEVICE$", "message": "$VALUE$"},
        {
            "type": "email",
            "to": ["ops@example.com"],
            "subject": "Hot $DEVICE$",
            "message": "$VALUE$",
        },
        CONVERTED,
        [],
        id="email",
    ),
    pytest.param(
        {"type": "Email", "to": " a@example.com ;b@example.com,", "subject": "S", "message": "M"},
        {"type": "email", "to": ["a@example.com", "b@example.com"], "subject": "S", "message": "M"},
        CONVERTED,
        [],
        id="email-to-list-odd-spacing-and-casing",
    ),
    pytest.param(
        {"type": "email", "to": "a@example.com", "message": "M"},
        {"type": "email", "to": ["a@example.com"], "subject": "My action", "message": "M"},
        WITH_NOTES,
        ["no subject"],
        id="email-without-subject",
    ),
    pytest.param(
        {"type": "email-smtp", "to": "a@example.com", "subject": "S", "message": "M", "from": "x"},
        {"type": "email", "to": ["a@example.com"], "subject": "S", "message": "M"},
        WITH_NOTES,
        ["SES"],
        id="email-smtp",
    ),
    pytest.param(
        {"type": "sms", "to": "+15555550100, +44 20 7946 0000", "message": "$DEVICE$ $VALUE$"},
        {"type": "sms", "to": ["+15555550100", "+442079460000"], "message": "$DEVICE$ $VALUE$"},
        WITH_NOTES,
        ["written as '+442079460000'"],
        id="sms-two-numbers",
    ),
    pytest.param(
        {"type": "sms-twilio", "to": "+15555550100", "message": "m", "twilio_sid": "s"},
        {"type": "sms", "to": ["+15555550100"], "message": "m"},
        WITH_NOTES,
        ["SNS"],
        id="sms-twilio",
    ),
    pytest.param(
        {"type": "mqtt", "topic": "ack/$DEVICE$", "payload": "ok $VALUE$"},
        {"type": "mqtt_publish", "topic": "ack/$DEVICE$", "payload": "ok $VALUE$"},
        CONVERTED,
        [],
        id="mqtt",
    ),
    pytest.param(
        {"type": "mqtt", "topic": "ack", "bucket": "6523f0a1c72f2f00181d8aaa"},
        {"type": "mqtt_publish", "topic": "ack", "payload": "$PAYLOAD$"},
        WITH_NOTES,
        ["no payload", "every subscriber"],
        id="mqtt-to-a-device-without-payload",
    ),
    pytest.param(
        {"type": "post", "url": "https://h.example.com/in", "headers": {"X-Key": "k"}},
        {"type": "webhook", "url": "https://h.example.com/in", "headers": {"X-Key": "k"}},
        CONVERTED,
        [],
        id="post-with-headers",
    ),
    pytest.param(
        {"type": "post", "url": "http://h.example.com/in", "headers": {}},
        {"type": "webhook", "url": "http://h.example.com/in", "allow_http": True},
        WITH_NOTES,
        ["allow_http"],
        id="post-http",
    ),
    pytest.param(
        {"type": "script", "script": [ANALYSIS_ID, ANALYSIS_ID]},
        {"type": "run_analysis", "analyses": ["forward"]},
        CONVERTED,
        [],
        id="script-mapped",
    ),
    pytest.param(
        {"type": "TagoIO"},
        {"type": "insert_bucket"},
        CONVERTED,
        [],
        id="store-in-the-device-bucket",
    ),
    pytest.param(
        {"type": "insert_bucket", "device": "6523f0a1c72f2f00181d8aaa"},
        {"type": "insert_bucket"},
        WITH_NOTES,
        ["$DEVICE$"],
        id="store-into-another-device",
    ),
    pytest.param(
        {"type": "sms", "to": "+15555550100", "message": "$value$ from $BUCKET$ ($SERIE$)"},
        {"type": "sms", "to": ["+15555550100"], "message": "$VALUE$ from $BUCKET$ ($SERIE$)"},
        WITH_NOTES,
        ["$value$ written as $VALUE$", "$BUCKET$ is not supported", "$SERIE$ is not supported"],
        id="placeholders",
    ),
]


@pytest.mark.parametrize(("action", "expected", "status", "notes"), MAPPED)
def test_mqtt_topic_actions_map_to_our_types(
    action: dict[str, Any], expected: dict[str, Any], status: str, notes: list[str]
) -> None:
    row, converted = one(tagoio(action), {ANALYSIS_ID: "forward"})

    assert row.status == status, row.notes
    assert converted == {"id": "my-action", "name": "My action", "topics": ["t/+/x"], **expected}
    for text in notes:
        assert any(text in n for n in row.notes), (text, row.notes)
    if status == CONVERTED:
        assert row.notes == []


@pytest.mark.parametrize(
    ("trigger", "topics"),
    [
        pytest.param([{"topic": "a/+/b"}], ["a/+/b"], id="topic"),
        pytest.param([{"value": " a/# "}], ["a/#"], id="value-with-spaces"),
        pytest.param(
            [{"mqtt_topic": "a"}, {"topic": "b/#"}, {"topic": "a"}], ["a", "b/#"], id="many"
        ),
        pytest.param([{"topics": ["x", "y/+"]}], ["x", "y/+"], id="topics-list"),
        pytest.param(["plain/text"], ["plain/text"], id="a-bare-string"),
        pytest.param({"Topic": "one/object"}, ["one/object"], id="not-a-list-key-casing"),
    ],
)
def test_the_trigger_topic_is_read_from_whichever_field_holds_it(
    trigger: object, topics: list[str]
) -> None:
    _, converted = one(tagoio({"type": "tagoio"}, trigger=trigger))
    assert converted is not None
    assert converted["topics"] == topics


def test_active_false_becomes_enabled_false_and_a_device_bound_trigger_is_noted() -> None:
    row, converted = one(
        tagoio({"type": "tagoio"}, active=False, trigger=[{"topic": "a/b", "device": "d1"}])
    )
    assert converted is not None
    assert converted["enabled"] is False
    assert row.status == WITH_NOTES
    assert "every device" in row.notes[0]


# --- what does not convert, and why --------------------------------------------------------------

NOT_MAPPED = [
    pytest.param(
        {"type": "schedule", "trigger": [{"cron": "30 6 * * *", "timezone": "UTC"}]},
        "runs on time",
        ["ScheduleV2", "cron(30 6 * * ? *)", "ScheduleExpressionTimezone: UTC"],
        id="schedule",
    ),
    pytest.param(
        {"type": "interval", "trigger": [{"interval": "2 hours"}]},
        "runs on time",
        ["ScheduleV2", "rate(2 hours)"],
        id="interval",
    ),
    pytest.param(
        {"type": "interval", "trigger": [{"interval": "1 week"}]},
        "runs on time",
        ["rate(7 days)"],
        id="interval-week",
    ),
    pytest.param(
        {"type": "condition", "trigger": [{"variable": "temp", "is": "!", "value": "0"}]},
        "watches a device's variable",
        ['when: [{variable: temp, op: "!=", value: "0"}]'],
        id="condition",
    ),
    pytest.param(
        {"type": "resource", "trigger": [{"resource": "device", "when": "create"}]},
        "platform events",
        ["inspect"],
        id="resource",
    ),
    pytest.param({"type": "usage_alert"}, "account usage", ["Budgets"], id="usage-alert"),
    pytest.param({"type": "condition_geofence"}, "no counterpart", ["location"], id="geofence"),
    pytest.param({"type": "something_new"}, "unknown action type", ["by hand"], id="unknown-type"),
    pytest.param(
        {"action": {"type": "notification", "subject": "s", "message": "m"}},
        "in-app notification",
        ["email or sms"],
        id="notification",
    ),
    pytest.param(
        {"action": {"type": "notification_run", "subject": "s", "message": "m", "run_user": "u"}},
        "in-app notification",
        ["email or sms"],
        id="notification-run",
    ),
    pytest.param(
        {"action": {"type": "script", "script": ["64aa"]}},
        "'64aa' is not mapped",
        ["--analysis-map 64aa=NAME"],
        id="script-unmapped",
    ),
    pytest.param(
        {"action": {"type": "whatsapp-twilio", "to": "+1", "message": "m"}},
        "WhatsApp",
        ["webhook"],
        id="whatsapp",
    ),
    pytest.param(
        {"action": {"type": "queue-sqs", "sqs_secret": "s"}}, "queue-sqs", ["webhook"], id="sqs"
    ),
    pytest.param(
        {"trigger": [], "action": {"type": "mqtt", "topic": "sensors/+", "payload": "{}"}},
        "no MQTT topic found",
        ['trigger: [{"topic"'],
        id="mqtt-topic-without-trigger",
    ),
    pytest.param(
        {"trigger": [{"topic": "a/#/b"}]},
        "not a valid MQTT topic filter",
        ["fix the topic"],
        id="invalid-filter",
    ),
    pytest.param(
        {"action": {"type": "email", "to": "not-an-address", "subject": "s", "message": "m"}},
        "refused by the actions-file rules",
        ["fix the field"],
        id="bad-address-caught-by-our-rules",
    ),
    pytest.param(
        {"action": {"type": "sms", "to": "+15555550100"}}, "no 'message'", [], id="sms-no-message"
    ),
]


@pytest.mark.parametrize(("fields", "reason", "instead"), NOT_MAPPED)
def test_what_cannot_move_is_reported_with_the_reason_and_what_to_do(
    fields: dict[str, Any], reason: str, instead: list[str]
) -> None:
    item = tagoio({"type": "email", "to": "a@example.com", "subject": "s", "message": "m"})
    row, converted = one(item | fields)

    assert converted is None
    assert row.status == NOT_CONVERTED
    assert reason in row.notes[0]
    for text in instead:
        assert text in (row.instead or ""), (text, row.instead)


def test_not_an_object_is_a_row_of_its_own() -> None:
    result = convert(["oops", tagoio({"type": "tagoio"})], {})
    assert [r.status for r in result.rows] == [NOT_CONVERTED, CONVERTED]
    assert "not an action object" in result.rows[0].notes[0]


def test_unknown_fields_are_ignored_with_a_note_never_an_error() -> None:
    row, converted = one(tagoio({"type": "tagoio"}, x_new_field=1, profile="p", lock=False))
    assert converted is not None
    assert row.notes == ["ignored unknown field 'x_new_field'"]


# --- names and ids ----------------------------------------------------------------------------


def test_ids_are_unique_slugs_of_the_names_and_names_are_kept() -> None:
    items = [
        tagoio({"type": "tagoio"}, name="Store Temperatures!"),
        tagoio({"type": "tagoio"}, name="store temperatures"),
        tagoio({"type": "tagoio"}, name="🔥🔥"),
        tagoio({"type": "tagoio"}, name=None, id="6523f0a1"),
        tagoio({"type": "tagoio"}, name="x" * 200),
    ]
    result = convert(items, {})
    ids = [a["id"] for a in result.actions]
    assert ids[:4] == ["store-temperatures", "store-temperatures-2", "tagoio-action-3", "6523f0a1"]
    assert len(ids[4]) <= 64
    assert [a["name"] for a in result.actions][:2] == ["Store Temperatures!", "store temperatures"]


# --- reading the export --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "count"),
    [
        pytest.param('[{"name": "a"}, {"name": "b"}]', 2, id="list"),
        pytest.param('{"name": "a", "type": "mqtt_topic"}', 1, id="one-action"),
        pytest.param('{"status": true, "result": [{"name": "a"}]}', 1, id="envelope"),
        pytest.param('{"result": [{"name": "a"}, {"name": "b"}]}', 2, id="envelope-no-status"),
        pytest.param("[]", 0, id="empty"),
    ],
)
def test_the_export_is_a_list_one_action_or_the_api_envelope(text: str, count: int) -> None:
    assert len(parse_export(text)) == count


@pytest.mark.parametrize(
    ("text", "message", "where"),
    [
        pytest.param('[{"name": "a",\n  "type": mqtt_topic}]', "not JSON", (2, 11), id="syntax"),
        pytest.param(
            '{"status": false, "message": "Authorization denied"}',
            "error answer",
            None,
            id="error-without-result",
        ),
        pytest.param(
            '{"status": false, "result": null, "message": "Invalid token"}',
            "error answer",
            None,
            id="error-envelope",
        ),
        pytest.param('"text"', "expected a list", None, id="scalar"),
    ],
)
def test_an_unreadable_export_says_why_and_where(
    text: str, message: str, where: tuple[int, int] | None
) -> None:
    with pytest.raises(ExportError, match=message) as caught:
        parse_export(text)
    if where:
        assert (caught.value.line, caught.value.column) == where
        assert str(caught.value).startswith(f"line {where[0]}, column {where[1]}: ")


def test_analysis_map_pairs() -> None:
    assert parse_analysis_map(["a=forward", " b = report "]) == {"a": "forward", "b": "report"}
    with pytest.raises(ValueError, match="TAGOIO_ANALYSIS_ID=ANALYSIS_NAME"):
        parse_analysis_map(["no-equals"])


# --- the sample export, end to end of the conversion --------------------------------------------


def test_the_sample_export_converts_into_a_file_our_loader_accepts_unchanged() -> None:
    items = parse_export(EXPORT.read_text(encoding="utf-8"))
    result = convert(items, {ANALYSIS_ID: "forward"})

    assert len(items) >= 12
    types = {json.dumps(i.get("type")).strip('" ').lower() for i in items if isinstance(i, dict)}
    assert types >= {
        "condition",
        "resource",
        "interval",
        "schedule",
        "mqtt_topic",
        "usage_alert",
        "condition_geofence",
    }
    assert len(result.rows) == len(items)  # one row per source action: nothing dropped
    assert result.counts() == {CONVERTED: 3, WITH_NOTES: 6, NOT_CONVERTED: 9}
    text = to_yaml(result, "export.json")
    loaded = load_actions_file(text, source="converted")
    # The YAML says exactly what the conversion built, field for field.
    assert [a.model_dump(mode="json") for a in loaded] == [
        parse_action(a).model_dump(mode="json") for a in result.actions
    ]
    assert {a.type for a in loaded} == {
        "insert_bucket",
        "email",
        "sms",
        "mqtt_publish",
        "webhook",
        "run_analysis",
    }
    assert "# TagoIO action 6523f0a1c72f2f00181d8b01: Store temperatures" in text


def test_comments_cannot_break_the_yaml() -> None:
    item = tagoio({"type": "tagoio"}, description="line one\nactions: []\n# x", name="a: b #c")
    text = to_yaml(convert([item], {}), "x")
    (action,) = load_actions_file(text)
    assert action.name == "a: b #c"


# --- the command ------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["actions", "import-tagoio", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_command_writes_the_file_and_prints_the_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "actions.yaml"
    code, stdout, _ = run(
        capsys, str(EXPORT), "-o", str(out), "--analysis-map", f"{ANALYSIS_ID}=forward"
    )

    assert code == 0
    assert len(load_actions_file(out.read_text(encoding="utf-8"))) == 9
    assert "3 converted, 6 converted with notes, 9 not converted" in stdout
    assert "--analysis-map 6470f2a1c72f2f00181d0999=NAME" in stdout
    assert f"next: mqtt-actions actions apply {out}" in stdout


def test_command_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "actions.yaml"
    out.write_text("mine", encoding="utf-8")
    code, _, err = run(capsys, str(EXPORT), "-o", str(out))
    assert code == 2
    assert "exists; nothing was written" in err
    assert out.read_text(encoding="utf-8") == "mine"
    assert run(capsys, str(EXPORT), "-o", str(out), "--force")[0] == 0
    assert out.read_text(encoding="utf-8").startswith("# Converted from TagoIO")


def test_the_hint_to_map_an_analysis_works_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "actions.yaml"
    code, stdout, _ = run(capsys, str(EXPORT), "-o", str(out))
    assert code == 0
    hint = next(line for line in stdout.splitlines() if "import again with" in line)
    flags = re.findall(r"--analysis-map (\S+)=NAME", hint)
    assert "--force" in hint  # the file of this run exists now: the same -o needs it
    mapped = [arg for flag in flags for arg in ("--analysis-map", f"{flag}=forward")]
    assert run(capsys, str(EXPORT), "-o", str(out), *mapped)[0] == 2  # as the hint says
    assert run(capsys, str(EXPORT), "-o", str(out), *mapped, "--force")[0] == 0
    assert "type: run_analysis" in out.read_text(encoding="utf-8")


def test_command_json_report_holds_every_row_and_the_yaml(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, stdout, _ = run(capsys, str(EXPORT), "--json")
    data = json.loads(stdout)
    assert code == 0
    assert data["counts"] == {CONVERTED: 2, WITH_NOTES: 6, NOT_CONVERTED: 10}  # script unmapped
    assert len(data["actions"]) == 18
    assert {"index", "tagoio_id", "name", "status", "id", "notes", "instead"} <= set(
        data["actions"][0]
    )
    assert len(load_actions_file(data["yaml"])) == 8


def test_command_without_output_prints_yaml_on_stdout_and_the_report_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, stdout, stderr = run(capsys, str(EXPORT))
    assert code == 0
    assert len(load_actions_file(stdout)) == 8
    assert "not converted" in stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param('[{"name": "a",\n  "type": mqtt_topic}]', "line 2, column 11", id="json"),
        pytest.param(None, "no file", id="missing"),
    ],
)
def test_command_exits_2_when_the_export_cannot_be_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, expected: str
) -> None:
    path = tmp_path / "export.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, stdout, err = run(capsys, str(path), "-o", str(tmp_path / "out.yaml"), "--json")
    assert code == 2
    assert expected in json.loads(stdout)["error"]
    assert expected in err
    assert not (tmp_path / "out.yaml").exists()


def test_command_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(capsys, "--help")
    assert code == 0
    assert "examples:\n  mqtt-actions actions import-tagoio" in stdout
    for text in ("--analysis-map ID=NAME", "-o OUT", "--json", "dropped silently", "Exit 0"):
        assert text in stdout
    assert "--stack" not in stdout  # a file conversion reaches no stack
