"""Inference serving: Deployments, the HorizontalPodAutoscaler and Gateway API traffic as controllers.

The names below load on first use (:mod:`sim.lazy`): the builder reads :mod:`sim.serving.plan` for every
scenario, and a scenario that serves nothing should not pay for importing the controller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.lazy import lazy_names

if TYPE_CHECKING:
    from sim.serving.controller import ServingController
    from sim.serving.plan import ServingPlan, plan_from

__all__ = ["ServingController", "ServingPlan", "plan_from"]

__getattr__ = lazy_names(__name__, {"ServingController": "controller", "ServingPlan": "plan", "plan_from": "plan"})
