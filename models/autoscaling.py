"""Scenario fields of the cluster autoscaler (``kubernetes/autoscaler`` cluster-autoscaler).

A node pool opts in with ``autoscaling: {minCount, maxCount}`` (a cloud node group's size bounds; the
pool's ``count`` is its initial size) and says how long a new node takes with ``provisioningDelay``
(request → node registered) and ``driverStartupDelay`` (registered → accelerators allocatable).
``spec.autoscaler`` holds the flags of the cluster-autoscaler binary we model, with upstream's
defaults: ``--scan-interval``, ``--expander``, ``--scale-down-unneeded-time``,
``--scale-down-delay-after-add``, ``--scale-down-utilization-threshold`` (the GPU threshold is the same
value here) and ``--max-node-provision-time``; ``priorities`` is the priority expander's ConfigMap.
"""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from models.distributions import Duration, NonNegDuration
from models.duration import parse_duration
from models.k8s import K8sModel

#: the expanders cluster-autoscaler ships (``grpc`` aside); a comma list chains them
EXPANDERS = ("least-waste", "most-pods", "least-nodes", "price", "priority", "random")


class PoolAutoscaling(K8sModel):
    """A node group's size bounds (``--nodes=min:max:name``)."""

    minCount: int = Field(ge=0, le=100_000)
    maxCount: int = Field(ge=0, le=100_000)

    @model_validator(mode="after")
    def _ordered(self) -> PoolAutoscaling:
        if self.minCount > self.maxCount:
            raise ValueError(f"minCount {self.minCount} is above maxCount {self.maxCount}; make minCount <= maxCount")
        return self


class AutoscalerSpec(K8sModel):
    """``spec.autoscaler``: the cluster-autoscaler flags kubetwin models, upstream defaults."""

    scanInterval: Duration = Field(default="10s", description="--scan-interval: how often the loop runs")
    expander: str = Field(default="least-waste",
                          description="--expander: least-waste, most-pods, least-nodes, price, priority, random, "
                                      "or a comma chain such as priority,least-waste")
    scaleDownUnneededTime: NonNegDuration = Field(
        default="10m", description="--scale-down-unneeded-time: how long a node stays unneeded before removal")
    scaleDownDelayAfterAdd: NonNegDuration = Field(
        default="10m", description="--scale-down-delay-after-add: no scale-down this long after a scale-up")
    scaleDownUtilizationThreshold: float = Field(
        default=0.5, ge=0, le=1,
        description="--scale-down-utilization-threshold (GPU nodes: GPU requests / GPU allocatable)")
    maxNodeProvisionTime: Duration = Field(
        default="15m", description="--max-node-provision-time: a node not registered by then is given up")
    scaleDownEnabled: bool = Field(default=True, description="--scale-down-enabled")
    priorities: dict[int, list[str]] = Field(
        default_factory=dict,
        description="the priority expander's ConfigMap: priority -> regular expressions of pool names")

    @model_validator(mode="after")
    def _check(self) -> AutoscalerSpec:
        if parse_duration(self.scanInterval) <= 0:
            raise ValueError("scanInterval must be > 0 (e.g. 10s)")
        if parse_duration(self.maxNodeProvisionTime) <= 0:
            raise ValueError("maxNodeProvisionTime must be > 0 (e.g. 15m)")
        for name in self.expander.split(","):
            if name.strip() not in EXPANDERS:
                raise ValueError(f"unknown expander {name.strip()!r}; use one of {', '.join(EXPANDERS)} "
                                 "(or a comma chain such as priority,least-waste)")
        if "priority" in self.expander and not self.priorities:
            raise ValueError("the priority expander needs priorities: {10: [\"h100-.*\"], 1: [\".*\"]}")
        for prio, patterns in self.priorities.items():
            for p in patterns:
                try:
                    re.compile(p)
                except re.error as e:
                    raise ValueError(f"priorities[{prio}]: {p!r} is not a regular expression ({e})") from None
        return self
