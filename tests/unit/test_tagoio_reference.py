"""Our `tagoio_sdk` against TagoIO's own SDK from PyPI (requirements-tagoio-sdk.txt, installed by
`make tagoio-sdk-reference` into a directory that is on no path): every import path and name
we provide exists there, every method we implement takes the same parameters, every type module
of theirs imports here, and every other module of theirs fails here with our clear error.
The reference is read as text (ast), never imported: code nobody here wrote is the judge."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from mqtt_actions.tagoio import Analysis, Device, Services
from mqtt_actions.tagoio import account as our_account
from mqtt_actions.tagoio import utils as our_utils

pytestmark = pytest.mark.slow  # needs `make tagoio-sdk-reference` (a dependency of make test)

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / ".venv" / "tagoio-sdk-reference" / "tagoio_sdk"
OURS = ROOT / "layers" / "core" / "tagoio_sdk"


@cache
def reference() -> Path:
    assert REFERENCE.is_dir(), "run `make tagoio-sdk-reference` (TagoIO's SDK from PyPI)"
    return REFERENCE


@cache
def tree(relative: str) -> ast.Module:
    return ast.parse((reference() / relative).read_text(encoding="utf-8"))


def defined_names(relative: str) -> set[str]:
    names: set[str] = set()
    for node in tree(relative).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names |= {a.asname or a.name for a in node.names}
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def reference_parameters(relative: str, cls: str | None, function: str) -> list[str]:
    body = tree(relative).body
    if cls is not None:
        (klass,) = [n for n in body if isinstance(n, ast.ClassDef) and n.name == cls]
        body = klass.body
    (fn,) = [n for n in body if isinstance(n, ast.FunctionDef) and n.name == function]
    names = [a.arg for a in [*fn.args.posonlyargs, *fn.args.args]]
    return [n for n in names if n != "self"]


def our_parameters(fn: Callable[..., Any]) -> list[str]:
    return [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    ]


def our_modules() -> list[str]:
    return sorted(
        str(p.relative_to(OURS)) for p in OURS.rglob("*.py") if not p.name.startswith("_paths")
    )


@pytest.mark.parametrize("relative", our_modules())
def test_each_of_our_import_paths_is_one_of_the_sdks(relative: str) -> None:
    there = reference() / relative
    if relative.endswith("__init__.py"):  # their folders are namespace packages
        assert there.parent.is_dir(), f"tagoio_sdk has no {there.parent.name}/"
        return
    assert there.is_file(), f"TagoIO's SDK has no {relative}"
    ours = ast.parse((OURS / relative).read_text(encoding="utf-8"))
    (exported,) = [
        n.value
        for n in ours.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "__all__"
    ]
    assert isinstance(exported, ast.List)
    for name in (e.value for e in exported.elts if isinstance(e, ast.Constant)):
        assert name in defined_names(relative), f"{relative} of TagoIO's SDK has no {name}"


def test_the_package_exports_what_the_sdk_exports() -> None:
    assert {"Analysis", "Device", "Account", "Resources", "Services"} <= defined_names(
        "__init__.py"
    )


METHODS: list[tuple[str, str | None, str, Callable[..., Any]]] = [
    ("modules/Analysis/Analysis.py", "Analysis", "__init__", Analysis.__init__),
    ("modules/Analysis/Analysis.py", "Analysis", "init", Analysis.init),
    ("modules/Analysis/Analysis.py", "Analysis", "use", Analysis.use),
    ("common/tagoio_module.py", "TagoIOModule", "__init__", Device.__init__),  # Device inherits it
    ("modules/Device/Device.py", "Device", "sendData", Device.sendData),
    ("modules/Device/Device.py", "Device", "getData", Device.getData),
    ("modules/Device/Device.py", "Device", "editData", Device.editData),
    ("modules/Device/Device.py", "Device", "deleteData", Device.deleteData),
    ("modules/Services/SMS.py", "SMS", "send", type(Services().sms).send),
    ("modules/Services/Email.py", "Email", "send", type(Services().email).send),
    ("modules/Services/MQTT.py", "MQTT", "publish", type(Services().MQTT).publish),
    (
        "modules/Services/Notification.py",
        "Notification",
        "send",
        type(Services().Notification).send,
    ),
    ("modules/Resources/Buckets.py", "Buckets", "amount", our_account._Buckets.amount),
    ("modules/Utils/envToJson.py", None, "envToJson", our_utils.envToJson),
    ("modules/Utils/getTokenByName.py", None, "getTokenByName", our_utils.getTokenByName),
    ("modules/Utils/getDevice.py", None, "getDevice", our_utils.getDevice),
] + [
    ("modules/Resources/Devices.py", "Devices", name, getattr(our_account._Devices, name))
    for name in (
        "listDevice",
        "info",
        "paramList",
        "paramSet",
        "tokenList",
        "amount",
        "getDeviceData",
        "sendDeviceData",
    )
]


@pytest.mark.parametrize(
    ("relative", "cls", "name", "ours"), METHODS, ids=[f"{m[1]}.{m[2]}" for m in METHODS]
)
def test_our_calls_take_the_sdks_parameters(
    relative: str, cls: str | None, name: str, ours: Callable[..., Any]
) -> None:
    assert our_parameters(ours) == reference_parameters(relative, cls, name)


def test_every_sdk_module_imports_here_or_fails_with_our_clear_error() -> None:
    modules = sorted(
        "tagoio_sdk." + str(p.relative_to(reference()).with_suffix("")).replace("/", ".")
        for p in reference().rglob("*.py")
        if p.name != "__init__.py"
    )
    code = f"""
import importlib
import tagoio_sdk
for name in {modules!r}:
    try:
        importlib.import_module(name)
        print("ok", name)
    except ModuleNotFoundError as exc:
        print("missing", name, exc)
"""
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={"PYTHONPATH": str(ROOT / "layers" / "core"), "PATH": ""},
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert len(lines) == len(modules)
    missing = [line for line in lines if line.startswith("missing")]
    assert all("is not provided by MQTT Actions' tagoio_sdk" in m for m in missing), missing
    imported = {line.split()[1] for line in lines if line.startswith("ok")}
    types = {m for m in modules if m.endswith(("_Type", "_Types", "Type", ".types"))}
    assert types <= imported  # scripts import types from any of them
    assert {
        "tagoio_sdk.modules.Device.Device",
        "tagoio_sdk.modules.Utils.envToJson",
        "tagoio_sdk.modules.Resources.Resources",
    } <= imported
