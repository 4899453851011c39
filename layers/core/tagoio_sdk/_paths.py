"""The import paths of TagoIO's SDK that this package does not have as files:
- type modules (`*_Type`, `*_Types`, `*Type`, `types`): TypedDicts and aliases scripts use in
  annotations; every name in them is `dict` here (a TypedDict builds a dict too);
- anything else under `tagoio_sdk.`: ModuleNotFoundError naming it and what to use instead.
The finder goes last on sys.meta_path, so it only sees what no file provides."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import re
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Final

_TYPES: Final = re.compile(r"tagoio_sdk(\.\w+)*\.(\w*_Types?|\w*Type|types)")
INSTEAD: Final = (
    "it reaches TagoIO's cloud, which MQTT Actions replaces: the README's 'Move from TagoIO' "
    "table lists each SDK call, whether it works here and what to use instead"
)


class _TypesModule(ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return dict


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if not fullname.startswith("tagoio_sdk."):
            return None
        if _TYPES.fullmatch(fullname):
            return importlib.machinery.ModuleSpec(fullname, self)
        raise ModuleNotFoundError(
            f"{fullname} is not provided by MQTT Actions' tagoio_sdk: {INSTEAD}", name=fullname
        )

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return _TypesModule(spec.name, "TagoIO SDK types: every name is dict here")

    def exec_module(self, module: ModuleType) -> None:
        return


_FINDER: Final = _Finder()


def install() -> None:
    if _FINDER not in sys.meta_path:
        sys.meta_path.append(_FINDER)
