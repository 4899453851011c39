"""The docs' TagoIO SDK table (docs/tagoio/index.md) is the one `mqtt_actions.tagoio.calls`
renders, and each row says the truth: a supported call resolves to a method of ours, any other
raises UnsupportedCallError when called (never at construction)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.tagoio import Account, Device, Resources, Services, Unsupported, Utils
from mqtt_actions.tagoio.calls import CALLS, NOT_SUPPORTED, SUPPORTED, markdown_table

PAGE = Path(__file__).resolve().parents[2] / "docs" / "tagoio" / "index.md"


def test_the_docs_hold_the_generated_table() -> None:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index("<!-- tagoio-sdk-table:start -->\n") + len(
        "<!-- tagoio-sdk-table:start -->\n"
    )
    end = text.index("\n<!-- tagoio-sdk-table:end -->")
    assert text[start:end] == markdown_table(), (
        "regenerate it: print(mqtt_actions.tagoio.calls.markdown_table())"
    )


def device() -> Device:
    return Device({"token": "t" * 36})


# Each row of CALLS -> the object(s) it names, resolved without calling them.
RESOLVE: dict[str, list[Callable[[], Any]]] = {
    "Device(params).sendData(data)": [lambda: device().sendData],
    "Device(params).getData(queryParams)": [lambda: device().getData],
    "Device(params).editData(data)": [lambda: device().editData],
    "Device(params).deleteData(queryParams)": [lambda: device().deleteData],
    "Account(params).devices.listDevice(queryObj)": [lambda: Account({}).devices.listDevice],
    "Account(params).devices.info(deviceID)": [lambda: Account({}).devices.info],
    "Account(params).devices.paramList(deviceID, sentStatus)": [
        lambda: Account({}).devices.paramList
    ],
    "Account(params).devices.paramSet(deviceID, configObj, paramID)": [
        lambda: Account({}).devices.paramSet
    ],
    "Account(params).devices.tokenList(deviceID, queryObj)": [
        lambda: Account({}).devices.tokenList
    ],
    "Account(params).devices.amount(deviceID)": [lambda: Account({}).devices.amount],
    "Account(params).devices.getDeviceData / sendDeviceData": [
        lambda: Account({}).devices.getDeviceData,
        lambda: Account({}).devices.sendDeviceData,
    ],
    "Account(params).buckets.amount(bucketID)": [lambda: Account({}).buckets.amount],
    "Resources().devices.*": [lambda: Resources().devices.listDevice],
    "Utils.envToJson(environment)": [lambda: Utils.envToJson],
    "Utils.getTokenByName(account, deviceID)": [lambda: Utils.getTokenByName],
    "Utils.getDevice(account, deviceID)": [lambda: Utils.getDevice],
    "Services(params).email.send(email)": [lambda: Services({}).email.send],
    "Services(params).sms.send(sms)": [lambda: Services({}).sms.send],
    "Services(params).MQTT.publish(mqtt)": [lambda: Services({}).MQTT.publish],
    "Services(params).Notification.send(notification)": [lambda: Services({}).Notification.send],
    "Services(params).PDF.*": [lambda: Services({}).PDF.generate],
    "Services(params).Attachment.*, .console.*, .tagotip.*": [
        lambda: Services({}).Attachment.upload,
        lambda: Services({}).console.log,
        lambda: Services({}).tagotip.send,
    ],
    "Account(params).devices.create / edit / delete / tokenCreate ...": [
        lambda: Account({}).devices.create,
        lambda: Account({}).devices.edit,
        lambda: Account({}).devices.delete,
        lambda: Account({}).devices.tokenCreate,
    ],
    CALLS[29][0]: [
        lambda: Account({}).info,
        lambda: Account({}).profile.list,
        lambda: Account({}).billing.getSubscription,
        lambda: Account({}).run.notificationCreate,
        lambda: Account({}).dashboards.list,
    ],
    "Utils.sendDownlink(...)": [lambda: Utils.sendDownlink],
    "Device(params).info / getParameters / ...": [
        lambda: device().info,
        lambda: device().getParameters,
    ],
}


@pytest.mark.parametrize(("call", "status"), [(c, s) for c, s, _ in CALLS if c in RESOLVE])
def test_each_row_says_what_the_code_does(call: str, status: str) -> None:
    for resolve in RESOLVE[call]:
        found = resolve()
        if status == SUPPORTED:
            assert callable(found), call
            assert not isinstance(found, Unsupported), call
        else:
            assert status == NOT_SUPPORTED
            assert isinstance(found, Unsupported), call


def test_every_row_is_checked_or_is_about_the_runner() -> None:
    about_the_runner = {
        c
        for c, _, _ in CALLS
        if c.startswith(("Analysis", "context", "Network", "Services(params).email.send({"))
    }
    assert {c for c, _, _ in CALLS} - set(RESOLVE) == about_the_runner
