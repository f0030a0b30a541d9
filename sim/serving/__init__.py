"""Inference serving: Deployments, the HorizontalPodAutoscaler and Gateway API traffic as controllers."""

from sim.serving.controller import ServingController
from sim.serving.plan import ServingPlan, plan_from

__all__ = ["ServingController", "ServingPlan", "plan_from"]
