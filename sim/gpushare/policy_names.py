"""The GPU-sharing policies' names, as ``spec.scheduler.scoring`` and ``--policy`` spell them.

A module of its own so the scenario builder and the plugin registry can know the names without loading
the policies (:mod:`sim.gpushare.policies`) for a scenario that uses none of them.
"""

from __future__ import annotations

#: Policy names as ``spec.scheduler.scoring`` and ``--policy`` spell them.
POLICY_NAMES = ("Random", "DotProduct", "GpuClustering", "GpuPacking", "BestFit", "FGD")
