"""cluster-autoscaler's flags and node groups, resolved to seconds and samplers before the clock starts.

A *node group* is a cloud instance group the autoscaler may resize (``--nodes=min:max:name``): here a
node pool with ``autoscaling: {minCount, maxCount}``. Its template node is the pool itself (labels,
taints, allocatable), and ``provisioningDelay`` / ``driverStartupDelay`` say how long a new node takes
to register and then to show its accelerators.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.autoscaling import AutoscalerSpec
from models.distributions import Sampler
from models.duration import parse_duration
from models.quantity import parse_quantity
from models.scenario import NodePool


def _zero(rng: random.Random) -> float:
    return 0.0


@dataclass
class NodeGroup:
    """One autoscaled node pool."""

    name: str
    min_count: int
    max_count: int
    provisioning: Sampler = _zero
    driver_startup: Sampler = _zero


@dataclass
class AutoscalerSettings:
    """``spec.autoscaler`` in seconds, plus the node groups."""

    scan_interval: float = 10.0
    expander: list[str] = field(default_factory=lambda: ["least-waste"])
    unneeded_time: float = 600.0
    delay_after_add: float = 600.0
    threshold: float = 0.5
    max_provision_time: float = 900.0
    scale_down: bool = True
    priorities: dict[int, list[str]] = field(default_factory=dict)
    groups: dict[str, NodeGroup] = field(default_factory=dict)
    #: the pools' templates as the header records them (for the validator)
    templates: list[dict[str, Any]] = field(default_factory=list)

    def header(self) -> dict[str, Any]:
        """What ``RunStarted.data.autoscaler`` records: the flags and each node group's bounds and template."""
        return {"scanInterval": self.scan_interval, "expander": ",".join(self.expander),
                "scaleDownUnneededTime": self.unneeded_time, "scaleDownDelayAfterAdd": self.delay_after_add,
                "scaleDownUtilizationThreshold": self.threshold, "maxNodeProvisionTime": self.max_provision_time,
                "scaleDownEnabled": self.scale_down, "nodeGroups": self.templates,
                **({"priorities": {str(k): v for k, v in self.priorities.items()}} if self.priorities else {})}


def settings_from(spec: AutoscalerSpec | None, pools: list[NodePool], base_dir: Path | None) -> AutoscalerSettings:
    """Resolve the scenario's autoscaler fields (defaults when ``spec`` is None)."""
    spec = spec or AutoscalerSpec()
    out = AutoscalerSettings(
        scan_interval=parse_duration(spec.scanInterval),
        expander=[e.strip() for e in spec.expander.split(",")],
        unneeded_time=parse_duration(spec.scaleDownUnneededTime),
        delay_after_add=parse_duration(spec.scaleDownDelayAfterAdd),
        threshold=spec.scaleDownUtilizationThreshold,
        max_provision_time=parse_duration(spec.maxNodeProvisionTime),
        scale_down=spec.scaleDownEnabled,
        priorities={k: list(v) for k, v in sorted(spec.priorities.items())})
    for p in pools:
        if p.autoscaling is None:
            continue
        g = NodeGroup(p.name, p.autoscaling.minCount, p.autoscaling.maxCount)
        if p.provisioningDelay is not None:
            g.provisioning = p.provisioningDelay.compile(base_dir)
        if p.driverStartupDelay is not None:
            g.driver_startup = p.driverStartupDelay.compile(base_dir)
        out.groups[p.name] = g
        out.templates.append({
            "name": p.name, "minCount": g.min_count, "maxCount": g.max_count,
            "labels": dict(sorted(p.labels.items())),
            "taints": [t.model_dump(exclude_none=True) for t in p.taints],
            "allocatable": {k: str(parse_quantity(v)) for k, v in sorted(p.allocatable.items())},
            # what a replay needs to let the group grow again as it did (kubetwin replay)
            **{k: d.model_dump(mode="json", exclude_none=True) for k, d in
               (("provisioningDelay", p.provisioningDelay), ("driverStartupDelay", p.driverStartupDelay))
               if d is not None}})
    return out
