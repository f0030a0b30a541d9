"""kube-scheduler's ``DefaultPreemption`` PostFilter plugin: evict lower-priority pods so a pod can run.

The victim search lives in :mod:`sim.preemption`; this plugin runs it when no node passed Filter and
asks the engine to carry out the evictions (``Preempted`` events, replacement pods) and bind the
preemptor. Gang members do not preempt; pods whose claims need a state-dependent plugin (DRA) do not
either (their dry run would have to re-run that plugin without the victims — not modelled).
"""

from __future__ import annotations

from typing import Any

from sim.framework import CycleState, register
from sim.pods import SimPod
from sim.preemption import Preemption


class DefaultPreemption:
    name = "DefaultPreemption"
    depends = frozenset({"pool", "node", "free"})

    def __init__(self, context: Any) -> None:
        self.host = context.host
        self.preemption = Preemption(context.cluster)

    def post_filter(self, pod: SimPod, state: CycleState) -> bool:
        if pod.gang is not None or state.get("stateful"):
            return False
        found = self.preemption.find(pod)
        if found is None:
            return False
        node, victims = found
        self.host.preempt(pod, node, victims)
        return True


register("DefaultPreemption")(DefaultPreemption)
