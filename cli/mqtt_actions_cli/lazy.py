"""Modules loaded at first use, so that `mqtt-actions COMMAND --help` loads nothing heavy.

A command module names what its handlers call at the top, as usual, but through `lazy`:

    if TYPE_CHECKING:
        from mqtt_actions_cli.ops import devices
    else:
        devices = lazy("mqtt_actions_cli.ops.devices")

The module object exists at once; its code (pydantic models, boto3 adapters, ...) runs at the
first attribute access, i.e. when a handler runs, not when the parser is built. mypy sees the
real import. This is the standard library's `importlib.util.LazyLoader`."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy(name: str) -> ModuleType:
    """The module `name`: already loaded, or loaded at the first attribute access."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    if parent:  # `from parent import child` finds it, as after a real import
        setattr(sys.modules[parent], child, module)
    return module
