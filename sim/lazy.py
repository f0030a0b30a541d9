"""Names a package exports but loads on first use (PEP 562 module ``__getattr__``).

The scenario builder reads every controller package's small planning module for every scenario; a
scenario that does not autoscale, serve or use Volcano should not pay for importing the controller.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``name`` comes from ``package.<homes[name]>``, imported when
    it is first asked for."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{home}"), name)

    return __getattr__
