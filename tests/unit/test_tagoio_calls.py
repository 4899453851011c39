"""The TagoIO SDK calls real analyses make, one by one, every port faked: Device getData /
sendData / editData / deleteData with TagoIO's query parameters, Account devices.* and
buckets.amount over the device registry, delegation tokens, Services in both the positional and
the keyword form, Notification.send, print and async analyses, and the import paths of
`tagoio_sdk`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from mqtt_actions.analysis import AnalysisError, InvalidMessageError
from mqtt_actions.device_profiles import DeviceParam, DeviceProfile
from mqtt_actions.ports import Outcome
from mqtt_actions.settings import AnalysisSettings
from mqtt_actions.tagoio import (
    Account,
    Analysis,
    Device,
    Resources,
    Services,
    UnknownDeviceError,
    UnknownTokenError,
    UnsupportedCallError,
    token_hash,
)
from mqtt_actions.tagoio.utils import envToJson, getDevice, getTokenByName
from mqtt_actions.tokens import TokenRecord
from tests.support.analysis_fakes import T0, FakePorts, run, settings

TOKEN = "2ec4a1b0-11e6-4a77-991b-8f63b7670001"
DAY_MS = 86_400_000


@dataclass
class Tokens:
    devices: dict[str, str] = field(default_factory=dict)  # hash -> device

    def device_for(self, token_hash: str) -> str | None:
        return self.devices.get(token_hash)

    def all(self) -> list[tuple[str, TokenRecord]]:
        return [(h, TokenRecord(d, created_at=T0)) for h, d in self.devices.items()]


@dataclass
class Profiles:
    stored: dict[str, DeviceProfile] = field(default_factory=dict)

    def get(self, device: str) -> DeviceProfile | None:
        return self.stored.get(device)

    def all(self) -> list[DeviceProfile]:
        return sorted(self.stored.values(), key=lambda p: p.device)

    def put(self, profile: DeviceProfile) -> None:
        self.stored[profile.device] = profile


def profiles() -> Profiles:
    return Profiles(
        {
            "sensor-01": DeviceProfile(
                "sensor-01",
                created_at=T0,
                tags=(("type", "sensor"), ("email", "ops@example.com")),
                params=(DeviceParam("p1", "interval", "60"),),
            ),
            "sensor-02": DeviceProfile("sensor-02", created_at=T0, tags=(("type", "door"),)),
            "meter-01": DeviceProfile("meter-01", kind="certificate", created_at=T0),
        }
    )


def event(scope: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "analysis": "sample",
        "trigger": {"type": "action", "device": "sensor-01", "traceid": "tr-1", "timestamp": T0},
        "scope": scope or [],
        "environment": {"account_token": "any", "device_token": TOKEN},
    }


@dataclass
class Ran:
    summary: dict[str, Any]
    ports: FakePorts
    profiles: Profiles


def tago(
    fn: Callable[[Any, Any], object],
    *,
    ports: FakePorts | None = None,
    registry: Profiles | None = None,
    ev: dict[str, Any] | None = None,
    cfg: AnalysisSettings | None = None,
) -> Ran:
    handler = Analysis({"token": "analysis-token"}).init(fn)
    handler.tokens = Tokens({token_hash(TOKEN): "sensor-01"})
    handler.profiles = registry if registry is not None else profiles()
    given = ports or FakePorts()
    handler.rows = given.bucket
    summary = run(handler, ev or event(), given, cfg)  # type: ignore[arg-type]
    return Ran(summary, given, handler.profiles)


def seeded(points: list[tuple[str, Any, int]], device: str = "sensor-01") -> FakePorts:
    """Ports whose bucket holds (variable, value, ms before T0) points of `device`."""
    ports = FakePorts()
    for n, (variable, value, ago) in enumerate(points):
        ports.bucket.insert(
            device, [{"variable": variable, "value": value}], traceid=f"t{n}", timestamp=T0 - ago
        )
    return ports


TEMPS = [
    ("temperature", 20, 3 * DAY_MS),
    ("temperature", 25, 3_600_000),
    ("temperature", 22, 60_000),
]


def get(params: dict[str, Any] | None, ports: FakePorts) -> list[dict[str, Any]]:
    out: list[list[dict[str, Any]]] = []
    tago(lambda c, s: out.append(Device({"token": TOKEN}).getData(params)), ports=ports)
    return out[0]


# --- Device.getData -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "values"),
    [
        (None, [22, 25, 20]),  # default: newest first
        ({"variable": "temperature", "qty": 2}, [22, 25]),
        ({"variables": ["temperature"], "qty": 2, "ordination": "ascending"}, [25, 22]),
        ({"variables": "temperature", "query": "last_item"}, [22]),
        ({"variables": ["temperature"], "query": "last_value"}, [22]),
        ({"variable": "temperature", "query": "first_item"}, [20]),
        ({"variables": "temperature", "query": "min"}, [20]),
        ({"variables": "temperature", "query": "max", "start_date": "1 day"}, [25]),
        ({"variable": "temperature", "query": "min", "start_date": "1 day"}, [22]),
        ({"variable": "temperature", "qty": 1000, "start_date": "1 day"}, [22, 25]),
        ({"variable": "temperature", "query": "count"}, [3]),
        ({"variable": "temperature", "query": "sum", "start_date": "2 days"}, [47.0]),
        ({"variable": "temperature", "query": "avg", "start_date": "2 days"}, [23.5]),
        ({"variable": "humidity", "query": "last_item"}, []),
    ],
)
def test_get_data_takes_tagoios_query_parameters(
    params: dict[str, Any] | None, values: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mqtt_actions.tagoio.device.now_ms", lambda run: T0)
    assert [p["value"] for p in get(params, seeded(TEMPS))] == values


def test_get_data_points_have_the_sdks_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mqtt_actions.tagoio.device.now_ms", lambda run: T0)
    (point,) = get({"variable": "temperature", "query": "last_item"}, seeded(TEMPS))
    assert point["variable"] == "temperature"
    assert isinstance(point["time"], datetime)
    assert point["time"].tzinfo is None  # the SDK's dateParser gives naive UTC datetimes
    assert point["time"] == datetime(1970, 1, 1) + timedelta(milliseconds=T0 - 60_000)
    assert (point["device"], isinstance(point["id"], str)) == ("sensor-01", True)


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"query": "median"}, "query 'median' is not one of"),
        ({"qty": -1}, "qty must be 0 to"),
        ({"start_date": "yesterday-ish"}, "start_date 'yesterday-ish'"),
        ({"variabel": "t"}, "unknown query parameter(s) variabel"),
    ],
)
def test_get_data_refuses_what_tagoio_would_and_names_the_parameter(
    params: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidMessageError) as caught:
        get(params, seeded(TEMPS))
    assert says in str(caught.value)


def test_an_unknown_token_never_reaches_another_devices_bucket() -> None:
    ports = seeded(TEMPS)

    def my_analysis(context: Any, scope: Any) -> None:
        Device({"token": "f" * 36}).getData({"variable": "temperature"})

    with pytest.raises(UnknownTokenError, match="no device has the token"):
        tago(my_analysis, ports=ports)
    assert ports.bucket.inserts[-1][0] == "sensor-01"  # only the seeding wrote


# --- editData, deleteData -----------------------------------------------------------------------


def test_edit_data_changes_a_point_by_its_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mqtt_actions.tagoio.device.now_ms", lambda run: T0)
    ports = seeded(TEMPS)
    said: list[str] = []

    def my_analysis(context: Any, scope: Any) -> None:
        device = Device({"token": TOKEN})
        (last,) = device.getData({"variable": "temperature", "query": "last_item"})
        said.append(device.editData({"id": last["id"], "value": 99, "unit": "C"}))

    tago(my_analysis, ports=ports)
    assert said == ["1 item(s) edited"]
    (last,) = get({"variable": "temperature", "query": "last_item"}, ports)
    assert (last["value"], last["unit"]) == (99, "C")


def test_edit_data_of_an_unknown_id_is_an_error() -> None:
    with pytest.raises(InvalidMessageError, match="no data point with id 'nope'"):
        tago(lambda c, s: Device({"token": TOKEN}).editData({"id": "nope", "value": 1}))


def test_delete_data_removes_what_the_query_selects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mqtt_actions.tagoio.device.now_ms", lambda run: T0)
    ports = seeded(TEMPS)
    said: list[str] = []
    params = {"variables": ["temperature"], "qty": 100, "end_date": "1 day"}
    tago(lambda c, s: said.append(Device({"token": TOKEN}).deleteData(params)), ports=ports)
    assert said == ["1 Data Removed"]  # only the point older than a day
    assert [p["value"] for p in get(None, ports)] == [22, 25]


# --- Account ------------------------------------------------------------------------------------


def test_list_device_filters_by_tags_and_name_with_fields_and_paging() -> None:
    out: dict[str, Any] = {}

    def my_analysis(context: Any, scope: Any) -> None:
        devices = Account(params={"token": "any"}).devices
        out["sensors"] = devices.listDevice(
            {
                "page": 1,
                "amount": 20,
                "fields": ["id", "tags"],
                "filter": {"tags": [{"key": "type", "value": "sensor"}]},
            }
        )
        out["named"] = devices.listDevice({"fields": ["name"], "filter": {"name": "sensor*"}})
        out["keyed"] = devices.listDevice(
            {"fields": ["id"], "filter": {"tags": [{"key": "email"}]}}
        )
        out["page2"] = devices.listDevice({"page": 2, "amount": 2, "fields": ["id"]})

    tago(my_analysis)
    assert out["sensors"] == [
        {
            "id": "sensor-01",
            "tags": [
                {"key": "type", "value": "sensor"},
                {"key": "email", "value": "ops@example.com"},
            ],
        }
    ]
    assert out["named"] == [{"name": "sensor-01"}, {"name": "sensor-02"}]
    assert out["keyed"] == [{"id": "sensor-01"}]
    assert out["page2"] == [{"id": "sensor-02"}]


def test_last_input_is_the_newest_points_time_as_a_naive_utc_datetime() -> None:
    out: list[Any] = []

    def my_analysis(context: Any, scope: Any) -> None:
        out.extend(Account().devices.listDevice({"fields": ["name", "last_input"], "amount": 1000}))

    tago(my_analysis, ports=seeded(TEMPS))
    by_name = {d["name"]: d["last_input"] for d in out}
    assert by_name["sensor-01"] == datetime(1970, 1, 1) + timedelta(milliseconds=T0 - 60_000)
    assert by_name["sensor-02"] is None


def test_info_param_list_and_param_set_work_on_the_registry() -> None:
    out: dict[str, Any] = {}
    registry = profiles()

    def my_analysis(context: Any, scope: Any) -> None:
        devices = Account({"token": "any"}).devices
        out["info"] = devices.info("sensor-01")
        out["said"] = devices.paramSet(
            "sensor-01",
            [
                {"key": "interval", "value": "30", "sent": False},
                {"key": "mode", "value": "eco", "sent": False},
            ],
        )
        out["params"] = devices.paramList("sensor-01")
        devices.paramSet(
            "sensor-01", {"key": "mode", "value": "eco", "sent": True}, out["params"][1]["id"]
        )
        out["sent"] = devices.paramList("sensor-01", sentStatus=True)

    tago(my_analysis, registry=registry)
    assert out["info"]["name"] == "sensor-01"
    assert {"key": "email", "value": "ops@example.com"} in out["info"]["tags"]
    assert out["said"] == "Successfully Updated"
    assert next((p["id"], p["key"], p["value"]) for p in out["params"]) == ("p1", "interval", "30")
    assert [(p["key"], p["sent"]) for p in out["sent"]] == [("mode", True)]
    stored = registry.get("sensor-01")
    assert stored is not None
    assert stored.param("mode") is not None


def test_an_unknown_device_is_named() -> None:
    with pytest.raises(UnknownDeviceError, match="no device 'ghost'"):
        tago(lambda c, s: Account().devices.info("ghost"))


def test_token_list_gives_a_delegation_token_that_device_accepts_and_nothing_stored() -> None:
    out: dict[str, Any] = {}

    def my_analysis(context: Any, scope: Any) -> None:
        account = Account({"token": "any"})
        (token,) = account.devices.tokenList("sensor-02")
        out["token"] = token["token"]
        out["by_name"] = getTokenByName(account, "sensor-02")
        Device({"token": token["token"]}).sendData({"variable": "x", "value": 1})
        getDevice(account, "meter-01").sendData({"variable": "y", "value": 2})
        out["amount"] = account.buckets.amount("sensor-02")
        out["env"] = envToJson(context.environment)

    ran = tago(my_analysis)
    assert out["token"].startswith("mqad1.")
    assert [d for d, *_ in ran.ports.bucket.inserts] == ["sensor-02", "meter-01"]
    assert out["amount"] == 1
    assert out["env"] == {"account_token": "any", "device_token": TOKEN}


def test_a_tampered_delegation_token_is_refused() -> None:
    def my_analysis(context: Any, scope: Any) -> None:
        (token,) = Account().devices.tokenList("sensor-02")
        forged = token["token"].replace(token["token"].split(".")[1], "bWV0ZXItMDE")  # meter-01
        Device({"token": forged}).sendData({"variable": "x", "value": 1})

    with pytest.raises(UnknownTokenError, match="delegation token"):
        tago(my_analysis)


# --- Services -----------------------------------------------------------------------------------


def test_services_take_the_positional_object_and_the_sdks_keywords() -> None:
    def my_analysis(context: Any, scope: Any) -> None:
        services = Services({"token": context.token})
        services.email.send({"to": "a@example.com", "subject": "s", "message": "m"})
        services.email.send(
            email={"to": "b@example.com, c@example.com", "subject": "s", "message": "m"}
        )
        services.sms.send({"to": "+15555550100", "message": "m"})
        services.sms.send(sms={"to": "+15555550101", "message": "m"})
        services.MQTT.publish({"topic": "a/b", "message": "1", "bucket": "x"})
        services.MQTT.publish(mqtt={"topic": "a/c", "message": "2", "options": {"qos": 1}})

    ran = tago(my_analysis)
    assert [e["to"] for e in ran.ports.notifier.emails] == [
        ["a@example.com"],
        ["b@example.com", "c@example.com"],
    ]
    assert [to for to, _ in ran.ports.notifier.sms] == ["+15555550100", "+15555550101"]
    assert [p.topic for p in ran.ports.publisher.published] == ["a/b", "a/c"]


def test_both_forms_at_once_or_an_unknown_keyword_is_refused() -> None:
    with pytest.raises(InvalidMessageError, match="unknown keyword"):
        tago(lambda c, s: Services({}).sms.send(message={"to": "+15555550100"}))


def test_notification_send_is_an_inspector_entry_of_its_own_type() -> None:
    ran = tago(
        lambda c, s: Services({"token": c.token}).Notification.send(
            notification={"title": "Hot", "message": "31 C"}
        )
    )
    kinds = [
        (r.action_type, r.outcome, r.detail.get("title")) for _, r in ran.ports.inspector.outcomes
    ]
    assert ("notification", Outcome.DONE, "Hot") in kinds
    assert kinds[-1][:2] == ("analysis", Outcome.DONE)


def notify(context: Any, scope: Any) -> None:
    Services({"token": context.token}).Notification.send({"title": "Hot\nroom", "message": "31 C"})


def test_without_a_notification_email_a_notification_is_an_inspector_entry_only() -> None:
    ran = tago(notify, cfg=settings(NOTIFICATION_EMAIL=""))
    assert ran.ports.notifier.emails == []
    (note,) = [r for _, r in ran.ports.inspector.outcomes if r.action_type == "notification"]
    assert note.detail["email"] == "no NotificationEmail configured"


def test_with_a_notification_email_the_owner_gets_the_notification_by_email() -> None:
    ran = tago(notify, cfg=settings(NOTIFICATION_EMAIL="owner@example.com, ann@example.com"))
    (sent,) = ran.ports.notifier.emails
    assert (sent["to"], sent["subject"], sent["text"]) == (
        ["owner@example.com", "ann@example.com"],
        "Hot",  # one line: the title's first
        "31 C",
    )
    (note,) = [r for _, r in ran.ports.inspector.outcomes if r.action_type == "notification"]
    assert (note.outcome, note.detail["email"]) == (
        Outcome.DONE,
        "sent to owner@example.com, ann@example.com",
    )
    assert "analysis:sample:email" in ran.ports.rate_limiter.keys  # email.send's rate limit


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"NOTIFICATION_EMAIL": "not-an-address"}, "NotificationEmail"),
        ({"NOTIFICATION_EMAIL": "owner@example.com", "EMAIL_SENDER": ""}, "EmailSender"),
    ],
)
def test_a_notification_whose_email_cannot_go_is_recorded_failed_and_fails_the_run(
    env: dict[str, str], says: str
) -> None:
    ports = FakePorts()
    with pytest.raises(AnalysisError, match=says):
        tago(notify, ports=ports, cfg=settings(**env))
    assert ports.notifier.emails == []
    (note,) = [r for _, r in ports.inspector.outcomes if r.action_type == "notification"]
    assert note.outcome == Outcome.FAILED
    assert note.detail["title"] == "Hot\nroom"
    assert says in str(note.reason)


def test_an_email_attachment_is_sent_with_its_file_name_and_content() -> None:
    def my_analysis(context: Any, scope: Any) -> None:
        Services({}).email.send(
            {
                "to": "a@example.com, b@example.com",
                "subject": "Exported File from TagoIO",
                "message": "see the file",
                "attachment": {"archive": "Fuel Level,\n80", "filename": "exported_file.csv"},
            }
        )

    ran = tago(my_analysis)
    (sent,) = ran.ports.notifier.emails
    assert sent["to"] == ["a@example.com", "b@example.com"]
    assert sent["attachments"] == [("exported_file.csv", b"Fuel Level,\n80", "text/csv")]


def test_a_malformed_attachment_or_a_template_is_refused_naming_it() -> None:
    def bad(context: Any, scope: Any) -> None:
        Services({}).email.send(
            {"to": "a@example.com", "subject": "s", "message": "m", "attachment": "x"}
        )

    with pytest.raises(InvalidMessageError, match="attachment is"):
        tago(bad)

    def template(context: Any, scope: Any) -> None:
        Services({}).email.send({"to": "a@example.com", "template": {"name": "t"}})

    with pytest.raises(UnsupportedCallError, match="'template'"):
        tago(template)


# --- print, async, return values ----------------------------------------------------------------


def test_print_and_context_log_go_to_the_runs_inspector_entry(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def my_analysis(context: Any, scope: Any) -> None:
        print("Hello World")  # noqa: T201 - what TagoIO scripts do
        print("Environment:", len(context.environment), end="")  # noqa: T201
        context.log("from", "context.log")

    ran = tago(my_analysis)
    (_, result) = ran.ports.inspector.outcomes[-1]
    assert result.detail["log"] == ["Hello World", "from context.log", "Environment: 2"]
    assert "Hello World" in caplog.messages  # the function's log


def test_an_async_analysis_is_awaited_and_its_failure_fails_the_run() -> None:
    done: list[str] = []

    async def my_analysis(context: Any, scope: Any) -> None:
        await asyncio.sleep(0)
        done.append("ran")

    ran = tago(my_analysis)
    assert done == ["ran"]
    assert ran.ports.inspector.outcomes[-1][1].outcome is Outcome.DONE

    async def failing(context: Any, scope: Any) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")

    ports = FakePorts()
    with pytest.raises(RuntimeError, match="boom"):
        tago(failing, ports=ports)
    assert [r.outcome for _, r in ports.inspector.outcomes] == [Outcome.FAILED]


def test_the_return_value_is_ignored_even_when_it_is_not_json() -> None:
    ran = tago(lambda c, s: {1, 2, 3})
    assert "result" not in ran.summary
    assert ran.ports.inspector.outcomes[-1][1].outcome is Outcome.DONE


# --- import paths -------------------------------------------------------------------------------


def test_tagoio_sdk_has_the_sdks_import_paths_and_names_what_it_lacks() -> None:
    code = """
import sys
from tagoio_sdk import Account, Analysis, Device, Resources, Services
from tagoio_sdk.modules.Utils.envToJson import envToJson
from tagoio_sdk.modules.Utils import envToJson as module
from tagoio_sdk.modules.Utils.getTokenByName import getTokenByName
from tagoio_sdk.modules.Utils.getDevice import getDevice
from tagoio_sdk.modules.Account.Device_Type import DeviceInfoList, DeviceCreateInfo
from tagoio_sdk.modules.Account.Notification_Type import NotificationCreate
from tagoio_sdk.modules.Resources.AccountDeprecated import AccountDeprecated
assert module.envToJson is envToJson and AccountDeprecated is Account
assert DeviceCreateInfo(name="x") == {"name": "x"}
assert "boto3" not in sys.modules
try:
    import tagoio_sdk.modules.Services.PDF
except ModuleNotFoundError as exc:
    print(exc)
"""
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=False,
        env={"PYTHONPATH": "layers/core", "PATH": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "tagoio_sdk.modules.Services.PDF is not provided by MQTT Actions" in done.stdout
    assert "Move from TagoIO" in done.stdout


def test_resources_is_the_same_account() -> None:
    out: list[Any] = []
    tago(lambda c, s: out.append(Resources().devices.paramList("sensor-01")))
    assert out == [[{"id": "p1", "key": "interval", "value": "60", "sent": False}]]
