"""Who a message belongs to (mqtt_actions.bindings): the binding client id -> device, the
certificate's client id, nobody else; the warm cache and how soon a change counts; an ended
binding naming its connection's last messages (wake, publish, vanish: the disconnect event may be
handled first) but holding the client id against nobody; the router's dead letter for an unknown
connection; TagoIO's reserved topic `tago/data/post`."""

from __future__ import annotations

from typing import Any

import pytest

from mqtt_actions.actions import parse_actions
from mqtt_actions.bindings import (
    CACHE_SECONDS,
    ENDED_GRACE_MS,
    UNKNOWN_CONNECTION,
    Binding,
    DeviceDirectory,
    DeviceIdentity,
    ends_binding,
)
from mqtt_actions.inspector import InspectorEntry, lifecycle_entry
from mqtt_actions.lifecycle import parse_lifecycle
from mqtt_actions.memory import Memory
from mqtt_actions.presence import record_presence
from mqtt_actions.router import UNKNOWN_DEVICE, route
from mqtt_actions_cli.errors import UsageError
from mqtt_actions_cli.ops.tokens import collisions, parse_client_ids_csv
from tests.support.bindings import MemoryBindings
from tests.support.router_fakes import SETTINGS, event, in_memory_deps

NOW = 1_800_000_000.0
NOW_S = int(NOW)
THUMBPRINT = "0123456789abcdef" * 4


def bound(client_id: str, device: str, *, expires: float = NOW + 3600) -> Binding:
    return Binding(client_id, device, "c-1", int((NOW - 10) * 1000), int(expires))


class Table:
    def __init__(self, *rows: Binding) -> None:
        self.rows = {b.client_id: b for b in rows}
        self.reads: list[str] = []

    def get(self, client_id: str) -> Binding | None:
        self.reads.append(client_id)
        return self.rows.get(client_id)


def directory(table: Table, clock: list[float], **kw: int) -> DeviceDirectory:
    return DeviceDirectory(table.get, clock=lambda: clock[0], **kw)  # type: ignore[arg-type]


def test_a_token_device_is_named_by_its_binding_whatever_the_principal() -> None:
    names = directory(Table(bound("ESP32", "sensor-01")), [NOW])
    assert names.device_for("ESP32", "TsensorZ2d01") == "sensor-01"
    assert names.device_for("ESP32", "anything") == "sensor-01"


def test_no_binding_no_device_unless_a_certificate_connected() -> None:
    names = directory(Table(), [NOW])
    assert names.device_for("sensor-02", "TsensorZ2d02") is None  # no principal() decoding
    assert names.device_for("sensor-02", "") is None  # never the bare client id
    assert names.device_for("sensor-02", THUMBPRINT) == "sensor-02"  # DevicePolicy: thing name
    assert names.device_for("n/a", "AROAEXAMPLE:analysis") == "n/a"  # iot-data, not MQTT


def test_an_expired_binding_names_nobody() -> None:
    names = directory(Table(bound("ESP32", "sensor-01", expires=NOW - 1)), [NOW])
    assert names.device_for("ESP32") is None


def test_without_token_checking_the_client_id_is_the_device() -> None:
    names = DeviceDirectory(lambda _c: None, DeviceIdentity.CLIENT_ID)
    assert names.device_for("ESP32", "Token") == "ESP32"


def test_a_binding_is_kept_warm_for_a_few_seconds_and_a_miss_is_never_kept() -> None:
    table, clock = Table(), [NOW]
    names = directory(table, clock)
    assert names.device_for("ESP32") is None
    table.rows["ESP32"] = bound("ESP32", "sensor-01")
    assert names.device_for("ESP32") == "sensor-01"  # a new binding counts at once
    del table.rows["ESP32"]  # revoked
    assert names.device_for("ESP32") == "sensor-01"  # still warm
    clock[0] += CACHE_SECONDS
    assert names.device_for("ESP32") is None  # within CACHE_SECONDS
    assert table.reads == ["ESP32", "ESP32", "ESP32"]


def test_the_cache_is_bounded() -> None:
    table = Table(*(bound(f"c{i}", f"d{i}") for i in range(10)))
    names = directory(table, [NOW], size=3)
    for i in range(10):
        assert names.device_for(f"c{i}") == f"d{i}"
    assert len(names._cache) == 3


def test_only_the_disconnect_of_its_own_connection_ends_a_binding() -> None:
    binding = bound("ESP32", "sensor-01")
    after = binding.bound_at_ms + 5
    assert ends_binding(binding, "CONNECTION_LOST", after)
    assert not ends_binding(binding, "DUPLICATE_CLIENTID", after)
    assert not ends_binding(binding, "CONNECTION_LOST", binding.bound_at_ms - 1)


# ------------------------------------------- wake, publish, vanish: an ended binding

T = int(NOW * 1000)  # the first connect, ms
TOKEN_PRINCIPAL = "TsensorZ2d01"  # whatever principal() says for a token connection
DAY_S = 86_400


class Log:
    def record_lifecycle(
        self, event: Any, device: str | None = None, extra: Any = None
    ) -> InspectorEntry:
        return lifecycle_entry(event, device, extra)


def presence(kind: str, at: int, *, reason: str = "", principal: str = "") -> dict[str, Any]:
    """IoT Core's connected / disconnected event for client id ESP32 (life-cycle-events.html)."""
    found: dict[str, Any] = {
        "clientId": "ESP32",
        "timestamp": at,
        "eventType": kind,
        "sessionIdentifier": f"s-{at}",
        "principalIdentifier": principal,
        "versionNumber": at,
    }
    if kind == "disconnected":
        found |= {"clientInitiatedDisconnect": True, "disconnectReason": reason}
    return found


def run(steps: list[tuple[Any, ...]]) -> tuple[MemoryBindings, list[str]]:
    """Play `steps` against one bindings table: ("bind", device, at) is the authorizer's write
    at a connect (its refusals are collected), ("disconnected", at, reason) and
    ("certificate_connected", at) lifecycle events through the inspector's record_presence."""
    table, refused = MemoryBindings(), []
    for step in steps:
        kind, at = step[0], step[2] if step[0] == "bind" else step[1]
        if kind == "bind":
            binding = Binding("ESP32", step[1], f"c-{at}", at, at // 1000 + DAY_S)
            if table.bind(binding, at // 1000) is not None:
                refused.append(step[1])
            continue
        raw = (
            presence("disconnected", at, reason=step[2])
            if kind == "disconnected"
            else presence("connected", at, principal=THUMBPRINT)
        )
        record_presence(parse_lifecycle(raw), Log(), table, DeviceIdentity.BINDING, now_s=NOW)
    return table, refused


BYE = "CLIENT_INITIATED_DISCONNECT"
LOST = "CONNECTION_LOST"  # no DISCONNECT sent: the device just vanished


CONNECTED: list[tuple[Any, ...]] = [("bind", "sensor-01", T)]
GONE: list[tuple[Any, ...]] = [*CONNECTED, ("disconnected", T + 100, BYE)]
LATE = T + 100 + ENDED_GRACE_MS  # the disconnect plus the 2 minutes AWS gives its timestamps
EXPIRED = T + 50 + (DAY_S + 3_600) * 1000
TAKEN_BY_CERTIFICATE: list[tuple[Any, ...]] = [*CONNECTED, ("certificate_connected", T + 100)]
TOKEN, CERT = TOKEN_PRINCIPAL, THUMBPRINT
CASES = {
    # id: (steps, the message's timestamp(), its principal(), its device, refused connects)
    "connected": (CONNECTED, T + 50, TOKEN, "sensor-01", []),
    "publish-then-disconnect-handled-first": (GONE, T + 50, TOKEN, "sensor-01", []),
    "publish-then-vanish-without-disconnect": (
        [*CONNECTED, ("disconnected", T + 100, LOST)],
        T + 50,
        TOKEN,
        "sensor-01",
        [],
    ),
    "stamped-within-the-2-minutes": (GONE, LATE, TOKEN, "sensor-01", []),
    "stamped-after-them-names-nobody": (GONE, LATE + 1, TOKEN, None, []),
    "same-device-reconnects-old-message": (
        [*GONE, ("bind", "sensor-01", T + 200)],
        T + 50,
        TOKEN,
        "sensor-01",
        [],
    ),
    "same-device-reconnects-new-message": (
        [*GONE, ("bind", "sensor-01", T + 200)],
        LATE + 9,
        TOKEN,
        "sensor-01",
        [],
    ),
    "another-device-takes-it-after-the-disconnect": (
        [*GONE, ("bind", "pump-7", T + 200)],
        T + 300,
        TOKEN,
        "pump-7",
        [],
    ),
    "another-device-refused-while-live": (
        [*CONNECTED, ("bind", "pump-7", T + 200)],
        T + 300,
        TOKEN,
        "sensor-01",
        ["pump-7"],
    ),
    "duplicate-clientid-ends-nothing": (
        [*CONNECTED, ("disconnected", T + 100, "DUPLICATE_CLIENTID")],
        LATE + 9,
        TOKEN,
        "sensor-01",
        [],
    ),
    "expired": (GONE, EXPIRED, TOKEN, None, []),
    "certificate-after-the-disconnect-is-its-thing": (GONE, T + 300, CERT, "ESP32", []),
    "certificate-takeover-ends-the-token-binding": (
        TAKEN_BY_CERTIFICATE,
        T + 300,
        CERT,
        "ESP32",
        [],
    ),
    "certificate-takeover-token-last-message": (
        TAKEN_BY_CERTIFICATE,
        T + 50,
        TOKEN,
        "sensor-01",
        [],
    ),
}


@pytest.mark.parametrize(
    ("steps", "message_at", "principal", "device", "refused"),
    list(CASES.values()),
    ids=list(CASES),
)
def test_who_a_message_belongs_to_around_its_connections_disconnect(
    steps: list[tuple[Any, ...]],
    message_at: int,
    principal: str,
    device: str | None,
    refused: list[str],
) -> None:
    table, got_refused = run(steps)
    clock = max(NOW, message_at / 1000)  # the router handles it when it is stamped, or later
    names = DeviceDirectory(table.get, clock=lambda: clock)
    assert names.device_for("ESP32", principal, message_at) == device
    assert got_refused == refused


def test_an_ended_binding_holds_the_client_id_against_nobody() -> None:
    table, _ = run([("bind", "sensor-01", T), ("disconnected", T + 100, BYE)])
    (ended,) = table.all()
    assert ended.ended_at_ms == T + 100
    assert ended.live(NOW)
    assert not ended.holds(NOW)
    assert table.bind(Binding("ESP32", "pump-7", "c-2", T + 200, NOW_S + DAY_S), NOW_S) is None
    assert table.rows["ESP32"].device == "pump-7"
    assert table.rows["ESP32"].ended_at_ms is None


def test_a_late_duplicate_disconnect_keeps_the_first_end() -> None:
    table, _ = run(
        [("bind", "sensor-01", T), ("disconnected", T + 100, BYE), ("disconnected", T + 900, BYE)]
    )
    assert table.rows["ESP32"].ended_at_ms == T + 100


def test_an_ended_binding_is_read_again_so_a_new_binding_counts_at_once() -> None:
    table, _ = run([("bind", "sensor-01", T), ("disconnected", T + 100, BYE)])
    names = DeviceDirectory(table.get, clock=lambda: NOW)
    assert names.device_for("ESP32", "", T + 50) == "sensor-01"
    table.bind(Binding("ESP32", "pump-7", "c-2", T + 200, NOW_S + DAY_S), NOW_S)
    assert names.device_for("ESP32", "", T + 300) == "pump-7"  # not the cached ended binding


def test_the_disconnect_event_is_filed_under_the_device_it_ended() -> None:
    table, _ = run([("bind", "sensor-01", T), ("disconnected", T + 100, BYE)])
    again = parse_lifecycle(presence("disconnected", T + 100, reason=BYE))  # AWS sent it twice
    got = record_presence(again, Log(), table, DeviceIdentity.BINDING, now_s=NOW)
    assert got.device == "sensor-01"


# ---------------------------------------------------------------- the router


STORE = {"id": "store", "topics": ["#"], "type": "insert_bucket"}


def test_an_unknown_connection_is_dead_lettered_and_inspected_never_filed() -> None:
    memory = Memory()
    deps = in_memory_deps(parse_actions({"actions": [STORE]}), memory, clock=lambda: 1.0)
    deps.devices = DeviceDirectory(lambda _c: None)
    summary = route(event("home/x", {"variable": "t", "value": 1}), deps, SETTINGS)
    assert [(r.action_id, r.outcome.value) for r in summary.results] == [("identity", "refused")]
    assert memory.rows == []
    [letter] = memory.dead_letters
    assert (letter["kind"], letter["reason"], letter["client_id"]) == (
        "unknown_connection",
        UNKNOWN_CONNECTION,
        "x",
    )
    assert summary.message.device == UNKNOWN_DEVICE


def test_tago_data_post_is_stored_in_the_publishing_device_with_no_action() -> None:
    memory = Memory()
    deps = in_memory_deps([], memory, clock=lambda: 1.0)
    reading = [{"variable": "temperature", "value": 21.5, "unit": "C"}]
    summary = route(event("tago/data/post", reading, clientid="ESP32"), deps, SETTINGS)
    assert [(r.action_id, r.outcome.value) for r in summary.results] == [("tago-data-post", "done")]
    assert [(d, p["variable"], p["value"]) for d, p in memory.rows] == [
        ("ESP32", "temperature", 21.5)
    ]
    assert memory.dead_letters == []


def test_tago_data_post_keeps_the_valid_points_and_dead_letters_the_others() -> None:
    memory = Memory()
    deps = in_memory_deps(parse_actions({"actions": [STORE]}), memory, clock=lambda: 1.0)
    points = [{"variable": "ok", "value": 1}, {"variable": "x" * 101, "value": 2}]
    summary = route(event("tago/data/post", points, clientid="d1"), deps, SETTINGS)
    outcomes = {r.action_id: r.outcome.value for r in summary.results}
    assert outcomes == {"tago-data-post": "points_refused", "store": "points_refused"}
    assert {p["variable"] for _d, p in memory.rows} == {"ok"}  # actions still run
    [letter] = memory.dead_letters
    assert letter["action_id"] == "tago-data-post"
    assert "1 of 2 data points refused" in letter["reason"]


def test_tago_data_post_refuses_what_is_not_tagoio_data() -> None:
    memory = Memory()
    deps = in_memory_deps([], memory, clock=lambda: 1.0)
    summary = route(event("tago/data/post", b"21.5", clientid="d1"), deps, SETTINGS)
    [result] = summary.results
    assert result.outcome.value == "refused"
    assert "takes TagoIO data" in str(result.reason)
    assert memory.rows == []
    assert len(memory.dead_letters) == 1


# ---------------------------------------------------------------- devices check


def test_shared_client_ids_are_listed_with_where_each_was_seen() -> None:
    found = collisions(
        [
            ("esp-a", "ESP32", "connected"),
            ("esp-b", "ESP32", "import line 3"),
            ("esp-c", "ESP32-c", "last connect"),
            ("esp-c", "ESP32-c", "import line 4"),
        ]
    )
    assert found == [
        {
            "client_id": "ESP32",
            "devices": ["esp-a", "esp-b"],
            "seen": {"esp-a": ["connected"], "esp-b": ["import line 3"]},
        }
    ]


def test_the_import_file_needs_device_and_client_id_columns() -> None:
    rows = parse_client_ids_csv("device,token,client_id\nesp-a,t1,ESP32\n\nesp-b,t2,ESP32\n")
    assert rows == [(2, "esp-a", "ESP32"), (4, "esp-b", "ESP32")]
    with pytest.raises(UsageError, match="client_id"):
        parse_client_ids_csv("device,token\nesp-a,t1\n")
