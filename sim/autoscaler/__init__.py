"""The cluster autoscaler (``kubernetes/autoscaler`` cluster-autoscaler) as a kubetwin controller.

The names below load on first use (PEP 562): the builder reads :mod:`sim.autoscaler.settings` for every
scenario, and a scenario that does not autoscale should not pay for importing the controller.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.autoscaler.controller import ClusterAutoscaler
    from sim.autoscaler.settings import AutoscalerSettings, NodeGroup, settings_from

__all__ = ["AutoscalerSettings", "ClusterAutoscaler", "NodeGroup", "settings_from"]

_HOME = {"ClusterAutoscaler": "controller", "AutoscalerSettings": "settings", "NodeGroup": "settings",
         "settings_from": "settings"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
