"""Inference serving: Deployments, the HorizontalPodAutoscaler and Gateway API traffic as controllers.

The names below load on first use (PEP 562): the builder reads :mod:`sim.serving.plan` for every
scenario, and a scenario that serves nothing should not pay for importing the controller.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sim.serving.controller import ServingController
    from sim.serving.plan import ServingPlan, plan_from

__all__ = ["ServingController", "ServingPlan", "plan_from"]

_HOME = {"ServingController": "controller", "ServingPlan": "plan", "plan_from": "plan"}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
