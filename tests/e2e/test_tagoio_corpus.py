"""The corpus runner's way through a running `mqtt-actions local --template COPY`: TagoIO scripts
(our own here; `make corpus` takes TagoIO's public ones) added unchanged with add-tagoio, run
with `analyses run`, each effect read back from the running stack (bucket rows, the outbox, a
real MQTT subscriber, the inspector)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mqtt_actions_cli.main import main
from scripts import tagoio_corpus

pytestmark = pytest.mark.e2e

STORE_AND_PUBLISH = """
from tagoio_sdk import Analysis, Device, Services
from tagoio_sdk.modules.Utils.envToJson import envToJson


def my_analysis(context, scope):
    env = envToJson(context.environment)
    device = Device({"token": env["device_token"]})
    last = device.getData({"variable": "temperature", "query": "last_value"})
    device.sendData({"variable": "corpus_seen", "value": last[0]["value"]})
    Services({"token": context.token}).MQTT.publish(
        mqtt={"topic": "corpus/out", "message": "seen", "bucket": "any"}
    )
    print("seen", last[0]["value"])


Analysis({"token": "MY-ANALYSIS-TOKEN-HERE"}).init(my_analysis)
"""

NOTIFY = """
from tagoio_sdk import Analysis, Services


def my_analysis(context, scope):
    Services({"token": context.token}).Notification.send(
        notification={"title": "Corpus", "message": "to the owner"}
    )


Analysis({"token": "x"}).init(my_analysis)
"""

FAILS = """
from tagoio_sdk import Account, Analysis


def my_analysis(context, scope):
    Account({"token": "any"}).info()


Analysis({"token": "x"}).init(my_analysis)
"""


def test_scripts_run_unchanged_through_a_running_local_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "store-publish.py").write_text(STORE_AND_PUBLISH)
    (tmp_path / "notify-owner.py").write_text(NOTIFY)
    (tmp_path / "account-info.py").write_text(FAILS)
    checks = {
        "store-publish": (
            "stores corpus_seen from the seeded temperature and publishes on corpus/out",
            lambda e: (
                [(r["variable"], r["value"]) for r in e.new_rows] == [("corpus_seen", 22.0)]
                and e.mqtt == [("corpus/out", b"seen")]
                and "seen 22.0" in e.log
            ),
        ),
        "notify-owner": (
            "records a notification and e-mails the owner",
            lambda e: (
                [n["detail"]["email"] for n in e.notifications]
                == [f"sent to {tagoio_corpus.OWNER}"]
                and [(m["to"], m["subject"]) for m in e.emails]
                == [([tagoio_corpus.OWNER], "Corpus")]
            ),
        ),
    }
    monkeypatch.setattr(tagoio_corpus, "CHECKS", checks)

    report = {r["script"]: r for r in tagoio_corpus.run_corpus_local(tmp_path)}

    assert report["store-publish.py"]["ok"], report["store-publish.py"]
    assert report["notify-owner.py"]["ok"], report["notify-owner.py"]
    failing = report["account-info.py"]
    assert (failing["ok"], failing["outcome"]) == (False, "failed")
    assert "Account.info(...) has no counterpart" in failing["reason"]


def test_local_refuses_a_template_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["local", "--template", str(tmp_path / "nope.yaml"), "--no-console"])
    assert code == 2
    assert "--template" in capsys.readouterr().err
