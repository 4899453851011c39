"""`mqtt-actions inspect`: --since parsing, the table and JSON lines, colours, --follow."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.inspector import (
    EntryType,
    InspectorEntry,
    lifecycle_entry,
    message_entry,
    order_entries,
    outcome_entries,
)
from mqtt_actions.lifecycle import parse_lifecycle
from mqtt_actions.ports import ActionResult, MessageRecord, Outcome
from mqtt_actions_cli.inspect import (
    add_inspect_parser,
    describe_entry,
    parse_since,
    run_inspect,
)
from mqtt_actions_cli.ops.inspector import FOLLOW_LOOKBACK_MS

EVENTS = Path(__file__).resolve().parents[2] / "events" / "lifecycle"
T0 = 1_764_072_000_000  # 2025-11-25T12:00:00Z
NOW_MS = T0 + 3_600_000


def lifecycle(name: str) -> InspectorEntry:
    return lifecycle_entry(parse_lifecycle(json.loads((EVENTS / f"{name}.json").read_text())))


MESSAGE = MessageRecord(
    device="sensor-01",
    topic="home/kitchen/temperature",
    traceid="5f0c7a4e-2b1d-4c55-9a0e-3f1c2d4b6a78",
    timestamp=T0 + 300_000,
    size=44,
    preview='{"variable":"temperature","value":31.5,"unit":"C"}',
    points=1,
    matched=3,
)
RESULTS = [
    ActionResult(action_id="store", action_type="insert_bucket", outcome=Outcome.DONE),
    ActionResult(
        action_id="sms",
        action_type="sms",
        outcome=Outcome.THROTTLED,
        reason="rate limit of 10 per 60 s reached",
    ),
    ActionResult(
        action_id="hook", action_type="webhook", outcome=Outcome.FAILED, reason="HTTP 500"
    ),
]


def story() -> list[InspectorEntry]:
    entries = [
        lifecycle(n)
        for n in (
            "connected",
            "subscribed",
            "unsubscribed",
            "disconnected_client_initiated",
            "disconnected_connection_lost",
            "connect_failed_authorization",
        )
    ]
    entries += [message_entry(MESSAGE), *outcome_entries(MESSAGE, RESULTS)]
    return order_entries(entries)


class FakeQuery:
    """Stands in for DynamoInspector.query: filters a list the way the table does."""

    def __init__(self, entries: list[InspectorEntry]) -> None:
        self.entries = entries
        self.calls: list[dict[str, Any]] = []

    def __call__(
        self,
        *,
        device: str | None = None,
        since_ms: int = 0,
        until_ms: int | None = None,
        types: Collection[EntryType | str] | None = None,
        limit: int = 100,
    ) -> Sequence[InspectorEntry]:
        self.calls.append({"device": device, "since_ms": since_ms, "types": types, "limit": limit})
        found = [
            e
            for e in self.entries
            if (device is None or e.device == device)
            and since_ms <= e.time <= (until_ms if until_ms is not None else 10**13)
            and (not types or e.type.value in {str(t) for t in types})
        ]
        return order_entries(found)[-limit:]


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mqtt-actions")
    parser.add_argument("--json", action="store_true")
    add_inspect_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def run(
    *argv: str, query: FakeQuery | None = None, out: io.StringIO | None = None, **kw: Any
) -> tuple[int, str, str]:
    out = io.StringIO() if out is None else out
    err = io.StringIO()
    query = FakeQuery(story()) if query is None else query
    kw.setdefault("env", {})
    kw.setdefault("clock", lambda: NOW_MS / 1000)
    kw.setdefault("sleep", lambda _s: None)
    code = run_inspect(parse("inspect", *argv), query, out=out, err=err, **kw)
    return code, out.getvalue(), err.getvalue()


# --- --since ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", NOW_MS - 30_000),
        ("10m", NOW_MS - 600_000),
        ("2h", NOW_MS - 7_200_000),
        ("1d", NOW_MS - 86_400_000),
        ("1w", NOW_MS - 604_800_000),
        (" 10M ", NOW_MS - 600_000),
        ("0m", NOW_MS),
        ("2025-11-25T12:00:00Z", T0),
        ("2025-11-25T12:00:00.250Z", T0 + 250),
        ("2025-11-25T14:00:00+02:00", T0),
        ("2025-11-25T12:00:00", T0),  # no offset: UTC
        ("2025-11-25 12:00", T0),
        ("2025-11-25", T0 - 12 * 3_600_000),
    ],
)
def test_parse_since(text: str, expected: int) -> None:
    assert parse_since(text, NOW_MS) == expected


@pytest.mark.parametrize("text", ["yesterday", "10x", "", "-5m", "m", "1.5h", "2025-13-01"])
def test_parse_since_refuses_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match=r"give a duration \(30s, 10m, 2h, 1d, 1w\)"):
        parse_since(text, NOW_MS)


def test_bad_since_is_exit_2_with_the_hint() -> None:
    code, out, err = run("--since", "yesterday")
    assert code == 2
    assert out == ""
    assert err.startswith("mqtt-actions inspect: --since 'yesterday': give a duration")


# --- the parser plugs into the main command ---------------------------------------------------


def test_parser_options() -> None:
    args = parse(
        "inspect", "-d", "sensor-01", "-t", "publish", "--type", "action", "--since", "2h",
        "--limit", "5", "--follow", "--json",
    )  # fmt: skip
    assert (args.device, args.types, args.since, args.limit) == (
        "sensor-01",
        ["publish", "action"],
        "2h",
        5,
    )
    assert args.follow is True
    assert args.json is True
    assert args.handler is run_inspect


def test_parser_defaults_and_a_global_json_survives() -> None:
    args = parse("inspect")
    assert (args.device, args.types, args.since, args.limit, args.follow, args.json) == (
        None,
        None,
        "1h",
        100,
        False,
        False,
    )
    assert parse("--json", "inspect").json is True


@pytest.mark.parametrize(
    "argv", [("inspect", "--type", "reboot"), ("inspect", "--limit", "0"), ("inspect", "-l")]
)
def test_parser_refuses(argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse(*argv)
    assert "error" in capsys.readouterr().err


def test_options_reach_the_query() -> None:
    query = FakeQuery(story())
    run("-d", "sensor-01", "-t", "publish", "--since", "10m", "--limit", "7", query=query)
    assert query.calls == [
        {"device": "sensor-01", "since_ms": NOW_MS - 600_000, "types": ["publish"], "limit": 7},
        # nothing in range: is there anything at all for that device (to say which it is)?
        {"device": "sensor-01", "since_ms": 0, "types": ["publish"], "limit": 1},
    ]


# --- the table ------------------------------------------------------------------------------------

TABLE = """\
TIME (UTC)               DEVICE            TYPE            QOS  DETAILS
2025-11-25 12:00:00.000  sensor-01         connect          —   ip 192.0.2.10 · session a4666d2a · version 7
2025-11-25 12:00:01.000  sensor-01         subscribe        —   topics cmd/sensor-01, ack/sensor-01/#
2025-11-25 12:05:00.000  sensor-01         publish          —   home/kitchen/temperature · 44 B · 1 point · 3 actions · {"variable":"temperature","value":31.5,"unit":"C"}
2025-11-25 12:05:00.000  sensor-01         action           —   hook (webhook) failed: HTTP 500
2025-11-25 12:05:00.000  sensor-01         action           —   sms (sms) throttled: rate limit of 10 per 60 s reached
2025-11-25 12:05:00.000  sensor-01         action           —   store (insert_bucket) done
2025-11-25 12:08:20.000  sensor-01         unsubscribe      —   topics ack/sensor-01/#
2025-11-25 12:10:00.000  sensor-01         disconnect       —   CLIENT_INITIATED_DISCONNECT · by the client · last will: not sent · version 7
2025-11-25 12:15:00.000  sensor-02         disconnect       —   CONNECTION_LOST · not by the client · last will: sent · version 3
2025-11-25 12:16:40.000  sensor-03         connect_failed   —   AUTHORIZATION_FAILED · ip 198.51.100.7
"""  # noqa: E501


def test_table() -> None:
    code, out, err = run("--since", "1d")
    assert code == 0
    assert out == TABLE
    assert err == ""


def test_table_for_one_device_and_type() -> None:
    _, out, _ = run("--since", "1d", "-d", "sensor-01", "-t", "disconnect")
    assert out.splitlines()[1:] == [TABLE.splitlines()[8]]


def test_empty_table_says_so_on_stderr() -> None:
    code, out, err = run("--since", "1d", "-d", "nobody")
    assert code == 0
    assert out == TABLE.splitlines()[0] + "\n"
    assert "no inspector entries" in err


def test_qos_when_the_local_stack_knows_it() -> None:
    entry = message_entry(MESSAGE).model_copy(update={"qos": 1})
    _, out, _ = run("--since", "1d", query=FakeQuery([entry]))
    assert "  publish          1   home/kitchen" in out


def test_long_previews_are_shortened_and_control_characters_escaped() -> None:
    record = MESSAGE.model_copy(update={"preview": "\x1b[2Jboom\n" + "x" * 200})
    text = describe_entry(message_entry(record))
    assert "\x1b" not in text
    assert "\n" not in text
    assert text.endswith("\\x1b[2Jboom\\n" + "x" * (60 - 9) + "…")  # 60 characters kept


def test_a_message_the_stack_published_says_who_published_it() -> None:
    record = MESSAGE.model_copy(update={"device": "n/a", "source": "action/echo", "hops": 1})
    entry = message_entry(record)
    assert entry.details["by"] == "action/echo"
    assert "· hop 1 · by action echo ·" in describe_entry(entry)
    assert "by" not in message_entry(MESSAGE).details  # a device's message: nobody else's


def test_thing_name_is_shown() -> None:
    entry = lifecycle("connected").model_copy(update={"details": {"ip": "1.2.3.4", "thing": "k"}})
    assert describe_entry(entry).endswith("· thing k")


# --- colours: a terminal, and NO_COLOR unset -------------------------------------------------


def test_colours_on_a_terminal() -> None:
    _, out, _ = run("--since", "1d", out=Tty())
    assert "\033[32mconnect" in out
    assert "\033[31;1mhook (webhook) failed: HTTP 500\033[0m" in out


@pytest.mark.parametrize(
    ("out", "env"),
    [(Tty(), {"NO_COLOR": "1"}), (io.StringIO(), {})],
    ids=["no-color", "not-a-tty"],
)
def test_no_colours(out: io.StringIO, env: dict[str, str]) -> None:
    _, text, _ = run("--since", "1d", out=out, env=env)
    assert "\033" not in text
    assert text == TABLE


def test_an_empty_no_color_does_not_disable_colours() -> None:
    _, out, _ = run("--since", "1d", out=Tty(), env={"NO_COLOR": ""})
    assert "\033[" in out


# --- JSON lines --------------------------------------------------------------------------------


def test_json_lines() -> None:
    code, out, err = run("--since", "1d", "--json")
    assert code == 0
    assert err == ""
    rows = [json.loads(line) for line in out.splitlines()]
    assert [InspectorEntry.model_validate(r) for r in rows] == story()
    assert rows[0] == {
        "device": "sensor-01",
        "type": "connect",
        "time": T0,
        "uid": rows[0]["uid"],
        "traceid": None,
        "session": "a4666d2a7d844ae4ac5d7b38c9cb7967",
        "version": 7,
        "qos": None,
        "details": {"principal": "12345678901234567890123456789012", "ip": "192.0.2.10"},
        "recorded": None,
    }


def test_json_when_empty_prints_nothing() -> None:
    _, out, err = run("--since", "1d", "--json", "-d", "nobody")
    assert (out, err) == ("", "")


# --- --follow ----------------------------------------------------------------------------------


def publish(n: int, at: int) -> InspectorEntry:
    record = MESSAGE.model_copy(update={"traceid": f"trace-{n}", "timestamp": at})
    return message_entry(record)


class Arrivals:
    """Each poll's sleep lets time pass and new entries land (one of them late)."""

    def __init__(self, query: FakeQuery) -> None:
        self.query = query
        self.now_ms = NOW_MS
        self.polls = 0

    def clock(self) -> float:
        return self.now_ms / 1000

    def sleep(self, seconds: float) -> None:
        self.polls += 1
        self.now_ms += int(seconds * 1000)
        if self.polls == 1:
            self.query.entries.append(publish(1, self.now_ms - 10))
        if self.polls == 2:
            self.query.entries.append(publish(2, self.now_ms - 5))
            self.query.entries.append(publish(3, self.now_ms - 3000))  # stored late


def test_follow_prints_new_entries_once() -> None:
    query = FakeQuery([publish(0, NOW_MS - 60_000)])
    arrivals = Arrivals(query)
    code, out, _ = run(
        "--since", "10m", "--follow", "--json",
        query=query, clock=arrivals.clock, sleep=arrivals.sleep, max_iterations=4,
    )  # fmt: skip
    assert code == 0
    uids = [json.loads(line)["uid"] for line in out.splitlines()]
    assert uids == ["trace-0", "trace-1", "trace-3", "trace-2"]
    assert len(query.calls) == 5  # the first page, then one query per poll


def test_follow_reads_a_bounded_window() -> None:
    query = FakeQuery([])
    arrivals = Arrivals(query)
    run("--since", "1d", "--follow", query=query, clock=arrivals.clock, sleep=arrivals.sleep,
        max_iterations=2)  # fmt: skip
    assert query.calls[0]["since_ms"] == NOW_MS - 86_400_000
    assert query.calls[1]["since_ms"] == NOW_MS - FOLLOW_LOOKBACK_MS  # from the first read on


def test_follow_table_prints_the_header_once() -> None:
    query = FakeQuery([])
    arrivals = Arrivals(query)
    _, out, err = run(
        "--since", "10m", "-f", query=query, clock=arrivals.clock, sleep=arrivals.sleep,
        max_iterations=3,
    )  # fmt: skip
    lines = out.splitlines()
    assert lines[0].startswith("TIME (UTC)")
    assert sum(line.startswith("TIME") for line in lines) == 1
    assert len(lines) == 4
    assert err == ""


def test_follow_stops_on_ctrl_c() -> None:
    def interrupted(_s: float) -> None:
        raise KeyboardInterrupt

    code, out, _ = run("--since", "1d", "--follow", sleep=interrupted)
    assert code == 130
    assert out == TABLE + "\n"


def test_a_binary_payload_is_said_to_be_base64() -> None:
    record = MESSAGE.model_copy(update={"preview": "AP8Q", "encoding": "base64", "size": 3})
    assert describe_entry(message_entry(record)).endswith("binary, base64 AP8Q")
