"""Hand-built timelines for tests: a tiny fluent builder over :class:`models.timeline.Event`.

Pods and workloads are named ``ns/name`` (a bare name lives in ``default``). Every method appends one
event at time ``t`` with the next ``seq`` and returns the builder, so a test reads like the timeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from models.timeline import Event, TimelineWriter


def _split(key: str) -> tuple[str, str]:
    ns, _, name = key.rpartition("/")
    return ns or "default", name


class TL:
    """A timeline under construction."""

    def __init__(self, source: str = "sim", **header: Any) -> None:
        self.events: list[Event] = []
        self.emit(0.0, "RunStarted", "Run", "test", data={"schemaVersion": 1, "source": source, **header})

    # -- plumbing ------------------------------------------------------------------------------------
    def emit(self, t: float, type_: str, kind: str, name: str, namespace: str | None = None, *,
             node: str | None = None, group: str | None = None, reason: str | None = None,
             data: dict[str, Any] | None = None) -> TL:
        self.events.append(Event(len(self.events), float(t), type_, kind, name, namespace, None, node,
                                 group, reason, dict(data or {})))
        return self

    def _pod(self, t: float, type_: str, pod: str, **kw: Any) -> TL:
        ns, name = _split(pod)
        return self.emit(t, type_, "Pod", name, ns, **kw)

    def _wl(self, t: float, type_: str, wl: str, **kw: Any) -> TL:
        ns, name = _split(wl)
        kind = kw.pop("kind", "Workload")
        return self.emit(t, type_, kind, name, ns, group=f"{ns}/{name}", **kw)

    def write(self, path: str | Path) -> Path:
        with TimelineWriter(str(path)) as w:
            for ev in self.events:
                w.write_event(ev)
        return Path(path)

    # -- nodes ---------------------------------------------------------------------------------------
    def node(self, name: str, t: float = 0.0, pool: str = "pool", labels: dict[str, str] | None = None,
             **alloc: str) -> TL:
        allocatable = {k.replace("__", ".").replace("_", "/"): v for k, v in alloc.items()}
        return self.emit(t, "NodeReady", "Node", name,
                         data={"pool": pool, "labels": labels or {}, "taints": [],
                               "allocatable": allocatable or {"cpu": "8", "memory": "32Gi"}})

    def node_removed(self, name: str, t: float) -> TL:
        return self.emit(t, "NodeRemoved", "Node", name, reason="ScaleDown", data={"pool": "pool"})

    # -- pods ----------------------------------------------------------------------------------------
    def pod(self, pod: str, t: float = 0.0, group: str | None = None, pod_set: str | None = None,
            priority: int = 0, **requests: str) -> TL:
        reqs = {k.replace("__", ".").replace("_", "/"): v for k, v in requests.items()}
        data: dict[str, Any] = {"requests": reqs or {"cpu": "1"}, "priority": priority, "workload": "w"}
        if pod_set:
            data["podSet"] = pod_set
        return self._pod(t, "PodCreated", pod, group=group, data=data)

    def bind(self, pod: str, node: str, t: float, group: str | None = None) -> TL:
        ns, name = _split(pod)
        return self._pod(t, "Scheduled", pod, node=node, group=group,
                         reason=f"Successfully assigned {ns}/{name} to {node}")

    def failed(self, pod: str, t: float, group: str | None = None) -> TL:
        return self._pod(t, "FailedScheduling", pod, group=group,
                         reason="0/1 nodes are available: 1 Insufficient cpu.")

    def running(self, pod: str, t: float, node: str | None = None, group: str | None = None) -> TL:
        return self._pod(t, "PodRunning", pod, node=node, group=group)

    def succeeded(self, pod: str, t: float, group: str | None = None) -> TL:
        return self._pod(t, "PodSucceeded", pod, group=group)

    def pod_failed(self, pod: str, t: float, group: str | None = None) -> TL:
        return self._pod(t, "PodFailed", pod, group=group)

    def deleted(self, pod: str, t: float, group: str | None = None, reason: str = "deleted") -> TL:
        return self._pod(t, "PodDeleted", pod, group=group, reason=reason)

    def preempted(self, pod: str, t: float, group: str | None = None, by: str | None = None) -> TL:
        if by is None:
            return self._pod(t, "Preempted", pod, group=group, reason="Preempted by other")
        return self._pod(t, "Preempted", pod, group=group, reason=f"Preempted by {by} on node n",
                         data={"preemptor": by})

    # -- gangs and queues ----------------------------------------------------------------------------
    def workload(self, wl: str, t: float = 0.0, policy: str = "coscheduling", min_count: int = 2,
                 pods: int | None = None, timeout: float | None = None, **extra: Any) -> TL:
        data: dict[str, Any] = {"policy": policy, "minCount": min_count, "pods": pods or min_count,
                                "priority": 0, "podSets": [{"name": "main", "count": pods or min_count}]}
        if timeout is not None:
            data["timeoutSeconds"] = timeout
        data.update(extra)
        kind = "PodGroup" if policy == "coscheduling" else "Workload"
        return self._wl(t, "WorkloadCreated", wl, kind=kind, data=data)

    def gang_timed_out(self, wl: str, t: float, waiting: list[str], bound: int = 0,
                       since: float = 0.0, timeout: float = 60.0) -> TL:
        return self._wl(t, "GangTimedOut", wl, kind="PodGroup", reason="timeout",
                        data={"waitingSince": since, "timeoutSeconds": timeout, "waiting": waiting,
                              "bound": bound})

    def cluster_queue(self, name: str, t: float = 0.0, cohort: str | None = None,
                      quotas: dict[str, dict[str, Any]] | None = None) -> TL:
        """``quotas`` is ``{flavor: {resource: nominal | (nominal, borrowingLimit, lendingLimit)}}``."""
        flavors = []
        covered: set[str] = set()
        for fl, rs in (quotas or {}).items():
            resources = []
            for r, q in rs.items():
                nominal, borrow, lend = q if isinstance(q, tuple) else (q, None, None)
                d = {"name": r, "nominalQuota": nominal}
                if borrow is not None:
                    d["borrowingLimit"] = borrow
                if lend is not None:
                    d["lendingLimit"] = lend
                resources.append(d)
                covered.add(r)
            flavors.append({"name": fl, "resources": resources})
        data: dict[str, Any] = {"queueingStrategy": "BestEffortFIFO",
                                "resourceGroups": [{"coveredResources": sorted(covered), "flavors": flavors}]}
        if cohort:
            data["cohort"] = cohort
        return self.emit(t, "QueueConfigured", "ClusterQueue", name, data=data)

    def local_queue(self, lq: str, cq: str, t: float = 0.0) -> TL:
        ns, name = _split(lq)
        return self.emit(t, "QueueConfigured", "LocalQueue", name, ns, data={"clusterQueue": cq})

    def kueue_workload(self, wl: str, t: float = 0.0, pods: int = 2, queue: str = "lq", cq: str = "cq",
                       **extra: Any) -> TL:
        return self.workload(wl, t, policy="kueue", min_count=pods, pods=pods, queue=queue,
                             clusterQueue=cq, **extra)

    def reserve(self, wl: str, t: float, cq: str = "cq", **usage: dict[str, str]) -> TL:
        """``usage`` is ``flavor={resource: qty}``."""
        return self._wl(t, "QuotaReserved", wl, data={"clusterQueue": cq, "usage": usage})

    def admitted(self, wl: str, t: float, cq: str = "cq") -> TL:
        return self._wl(t, "Admitted", wl, data={"clusterQueue": cq})

    def pods_ready(self, wl: str, t: float) -> TL:
        return self._wl(t, "PodsReady", wl)

    def evicted(self, wl: str, t: float, reason: str = "Preempted", cq: str = "cq") -> TL:
        return self._wl(t, "Evicted", wl, reason=reason, data={"clusterQueue": cq})

    def requeued(self, wl: str, t: float, backoff: float) -> TL:
        return self._wl(t, "Requeued", wl, data={"backoffSeconds": backoff, "requeueAt": t + backoff})

    def finished(self, wl: str, t: float, reason: str = "Succeeded") -> TL:
        return self._wl(t, "WorkloadFinished", wl, reason=reason)

    def run_finished(self, t: float) -> TL:
        return self.emit(t, "RunFinished", "Run", "test", reason="duration", data={"pending": 0})


def valid_timeline() -> TL:
    """A small run that exercises every invariant and breaks none."""
    tl = TL(waitForPodsReady={"enabled": True, "timeoutSeconds": 600, "backoffBaseSeconds": 60,
                              "backoffMaxSeconds": 3600, "blockAdmission": False},
            autoscaler={"scanInterval": 10.0, "scaleDownUnneededTime": 60.0, "scaleDownDelayAfterAdd": 60.0,
                        "scaleDownUtilizationThreshold": 0.5,
                        "nodeGroups": [{"name": "ca", "minCount": 0, "maxCount": 2, "labels": {}, "taints": [],
                                        "allocatable": {"cpu": "8", "memory": "32Gi"}}]},
            serving={"horizontalPodAutoscalers": [{"name": "c/h", "minReplicas": 1, "maxReplicas": 4,
                                                   "tolerance": 0.1, "scaleDownStabilizationSeconds": 300}]})
    tl.node("n1", cpu="8", memory="32Gi", nvidia__com_gpu="8", labels={"rack": "r1"})
    tl.node("n2", cpu="8", memory="32Gi", nvidia__com_gpu="8", labels={"rack": "r1"})
    tl.node("n3", cpu="8", memory="32Gi", nvidia__com_gpu="8", labels={"rack": "r2"})
    tl.cluster_queue("cq", cohort="all", quotas={"gpu": {"nvidia.com/gpu": "16"}})
    tl.cluster_queue("cq2", cohort="all", quotas={"gpu": {"nvidia.com/gpu": "8"}})
    tl.local_queue("team/lq", "cq")
    # plain pods: fill n1 exactly, release, reuse at the same instant
    tl.pod("a/p1", 1, cpu="4").pod("a/p2", 1, cpu="4").pod("a/p3", 1, cpu="4")
    tl.bind("a/p1", "n1", 2).bind("a/p2", "n1", 2).running("a/p1", 3, "n1").running("a/p2", 3, "n1")
    tl.succeeded("a/p1", 10).bind("a/p3", "n1", 10).deleted("a/p1", 11)
    # a coscheduling gang of 2, bound together
    tl.workload("a/g", 12, policy="coscheduling", min_count=2, timeout=60)
    tl.pod("a/g-0", 12, group="a/g", cpu="1").pod("a/g-1", 12, group="a/g", cpu="1")
    tl.bind("a/g-0", "n2", 13, group="a/g").bind("a/g-1", "n2", 13, group="a/g")
    # a coscheduling gang that times out and is rejected as a whole
    tl.workload("a/h", 14, policy="coscheduling", min_count=2, timeout=60)
    tl.pod("a/h-0", 14, group="a/h", cpu="1").pod("a/h-1", 14, group="a/h", cpu="1")
    tl.gang_timed_out("a/h", 74, ["h-0", "h-1"], since=14)
    tl.failed("a/h-0", 74, group="a/h").failed("a/h-1", 74, group="a/h")
    # a Kueue workload with required topology, admitted, ready, finished
    tl.kueue_workload("team/k", 20, pods=2, queue="lq", cq="cq",
                      topology={"level": "rack", "mode": "required"})
    tl.reserve("team/k", 21, cq="cq", gpu={"nvidia.com/gpu": "16"}).admitted("team/k", 21)
    tl.pod("team/k-0", 21, group="team/k", nvidia__com_gpu="8")
    tl.pod("team/k-1", 21, group="team/k", nvidia__com_gpu="8")
    tl.bind("team/k-0", "n2", 22, group="team/k").bind("team/k-1", "n1", 22, group="team/k")
    tl.running("team/k-0", 23, "n2").running("team/k-1", 23, "n1").pods_ready("team/k", 23)
    tl.succeeded("team/k-0", 100).succeeded("team/k-1", 100).finished("team/k", 100)
    # a Kueue workload that misses PodsReady, is evicted on time, and comes back after the backoff
    tl.kueue_workload("team/s", 101, pods=1, queue="lq", cq="cq")
    tl.reserve("team/s", 101, cq="cq", gpu={"nvidia.com/gpu": "8"}).admitted("team/s", 101)
    tl.pod("team/s-0", 101, group="team/s", nvidia__com_gpu="8")
    tl.evicted("team/s", 701, reason="PodsReadyTimeout").deleted("team/s-0", 701, group="team/s")
    tl.requeued("team/s", 701, 60)
    tl.reserve("team/s", 761, cq="cq", gpu={"nvidia.com/gpu": "8"}).admitted("team/s", 761)
    tl.pod("team/s-0", 761, group="team/s", nvidia__com_gpu="8")
    tl.bind("team/s-0", "n3", 762, group="team/s").running("team/s-0", 763, "n3").pods_ready("team/s", 763)
    # kube-scheduler preempts a lower-priority pod for a higher-priority one
    tl.pod("b/low", 770, priority=1, cpu="7").bind("b/low", "n3", 771).running("b/low", 771, "n3")
    tl.pod("b/high", 780, priority=100, cpu="7").preempted("b/low", 780, by="b/high").bind("b/high", "n3", 780)
    # the cluster autoscaler adds a node for a pending pod at a loop tick and removes it once unneeded
    tl.pod("c/w", 200, cpu="8").failed("c/w", 200)
    tl.emit(210, "TriggeredScaleUp", "Pod", "w", "c", reason="pod triggered scale-up: [{ca 0->1 (max: 2)}]",
            data={"pool": "ca", "from": 0, "to": 1})
    tl.emit(210, "NodeProvisioning", "Node", "ca-0", data={"pool": "ca"})
    tl.node("ca-0", 300, pool="ca", cpu="8", memory="32Gi")
    tl.bind("c/w", "ca-0", 300).running("c/w", 300, "ca-0").succeeded("c/w", 310)
    tl.emit(380, "ScaleDown", "Node", "ca-0", data={"pool": "ca"})
    tl.emit(380, "NodeRemoved", "Node", "ca-0", reason="empty node removed by cluster autoscaler", data={"pool": "ca"})
    # an HPA scales up, then down after its stabilisation window
    tl.emit(400, "SuccessfulRescale", "HorizontalPodAutoscaler", "h", "c",
            reason="New size: 2; reason: cpu above target",
            data={"from": 1, "to": 2, "metric": "cpu", "value": 90.0, "target": 60.0})
    tl.emit(750, "SuccessfulRescale", "HorizontalPodAutoscaler", "h", "c", reason="New size: 1; reason: All metrics "
            "below target", data={"from": 2, "to": 1, "metric": "cpu", "value": 20.0, "target": 60.0})
    # a DRA claim made from a template with its pod, allocated on the pod's node at the bind, released after
    gpu = {"driver": "gpu.example.com", "pool": "d1", "device": "gpu-0",
           "attributes": {"gpu.example.com/model": {"string": "h100"}}}
    tl.emit(785, "NodeReady", "Node", "d1", data={"pool": "dra", "labels": {}, "taints": [],
                                                  "allocatable": {"cpu": "8", "memory": "32Gi"}, "devices": [gpu]})
    tl.emit(786, "PodCreated", "Pod", "infer", "d", data={"requests": {"cpu": "1"}, "priority": 0,
                                                          "claims": ["infer-gpu"]})
    tl.emit(786, "ClaimCreated", "ResourceClaim", "infer-gpu", "d", data={"pod": "infer"})
    tl.emit(787, "ClaimAllocated", "ResourceClaim", "infer-gpu", "d", node="d1", data={
        "devices": [{"request": "gpu", "driver": "gpu.example.com", "pool": "d1", "device": "gpu-0"}],
        "reservedFor": ["infer"]})
    tl.bind("d/infer", "d1", 787).running("d/infer", 787, "d1").succeeded("d/infer", 790)
    tl.emit(790, "ClaimReleased", "ResourceClaim", "infer-gpu", "d", node="d1", data={"pod": "infer"})
    # a Volcano job (minMember 2) bound in one session, its elastic third pod in the next
    tl.workload("v/vj", 791, policy="volcano", min_count=2, pods=3)
    for i in range(3):
        tl.pod(f"v/vj-{i}", 791, group="v/vj", cpu="1")
    tl.bind("v/vj-0", "n2", 792, group="v/vj").bind("v/vj-1", "n2", 792, group="v/vj")
    tl.bind("v/vj-2", "n2", 793, group="v/vj")
    tl.run_finished(800)
    return tl
