"""The cluster autoscaler (``kubernetes/autoscaler`` cluster-autoscaler) as a kubetwin controller.

The names below load on first use (:mod:`sim.lazy`): the builder reads :mod:`sim.autoscaler.settings` for every
scenario, and a scenario that does not autoscale should not pay for importing the controller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.lazy import lazy_names

if TYPE_CHECKING:
    from sim.autoscaler.controller import ClusterAutoscaler
    from sim.autoscaler.settings import AutoscalerSettings, NodeGroup, settings_from

__all__ = ["AutoscalerSettings", "ClusterAutoscaler", "NodeGroup", "settings_from"]

__getattr__ = lazy_names(__name__, {"ClusterAutoscaler": "controller", "AutoscalerSettings": "settings",
                                    "NodeGroup": "settings", "settings_from": "settings"})
