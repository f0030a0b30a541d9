"""The cluster autoscaler (``kubernetes/autoscaler`` cluster-autoscaler) as a kubetwin controller."""

from sim.autoscaler.controller import ClusterAutoscaler
from sim.autoscaler.settings import AutoscalerSettings, NodeGroup, settings_from

__all__ = ["AutoscalerSettings", "ClusterAutoscaler", "NodeGroup", "settings_from"]
