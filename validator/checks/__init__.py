"""Invariant checks over a timeline: the rules a correct cluster (or simulator) never breaks.

Each invariant is a pure function ``check(events) -> list[Finding]``; a :class:`Finding` names the
invariant, the objects involved (``"Kind ns/name"``), the time and what happened. Checks that share
state run as one *pass* over the events (capacity and G4; G1–G3 and G5; G6–G8), so validating a
timeline reads it a handful of times, each in O(events) with dict state.

:data:`INVARIANTS` is the registry (id, title, description) in report order; :func:`run_checks` runs
them all (or a selection) and says, per invariant, ``passed``, ``failed`` or ``not-applicable`` (the
timeline has nothing the rule speaks about, e.g. no Kueue workloads for G6).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from models.timeline import Event
from validator.checks.autoscaling import autoscaling_pass, hpa_pass, provisioning_pass
from validator.checks.capacity import capacity_pass
from validator.checks.common import Finding, PassFn, PassResult, prepare
from validator.checks.dra import dra_pass
from validator.checks.gang import gang_pass
from validator.checks.kueue import kueue_pass
from validator.checks.lifecycle import lifecycle_pass
from validator.checks.placement import placement_pass
from validator.checks.preemption import preemption_pass
from validator.checks.topology import topology_pass
from validator.checks.volcano import volcano_pass

__all__ = ["FAILED", "INVARIANTS", "NOT_APPLICABLE", "PASSED", "CheckResult", "Finding", "Invariant",
           "check", "get", "run_checks"]

PASSED, FAILED, NOT_APPLICABLE = "passed", "failed", "not-applicable"


@dataclass(frozen=True, slots=True)
class Invariant:
    """One registered invariant and the pass that evaluates it."""

    id: str
    title: str
    description: str
    run: PassFn

    def check(self, events: Sequence[Event]) -> list[Finding]:
        """This invariant's findings on ``events``."""
        return [f for f in self.run(events).findings if f.invariant == self.id]


INVARIANTS: tuple[Invariant, ...] = (
    Invariant("capacity", "Node capacity",
              "On every node, for every resource, the requests of bound, unfinished pods never exceed "
              "the node's allocatable.", capacity_pass),
    Invariant("lifecycle", "Pod lifecycle",
              "Pods are created before they are bound, bound once per life to a Ready node, run and end "
              "after binding, end once, and nothing follows the end but deletion.", lifecycle_pass),
    Invariant("G1", "Gang quorum at bind",
              "The binds of a gang attempt, with members already bound, reach minCount in one instant.",
              gang_pass),
    Invariant("G2", "Gang: no early enqueue",
              "No gang pod is scheduled before its group exists or while fewer than minCount members "
              "exist.", gang_pass),
    Invariant("G3", "Gang timeout releases",
              "Pods waiting when a gang times out are not bound; no gang stays partly bound past its "
              "timeout without timing out.", gang_pass),
    Invariant("G4", "Capacity including gang pods",
              "Node capacity holds for binds of gang members.", capacity_pass),
    Invariant("G5", "Coscheduling group reject",
              "When a coscheduling gang times out, every waiting member is rejected at that instant.",
              gang_pass),
    Invariant("G6", "Kueue quota all-or-nothing",
              "Kueue workload pods exist only while admitted; ClusterQueue usage stays within nominal "
              "quota plus borrowing limit and cohort usage within the quota lent to it.", kueue_pass),
    Invariant("G7", "Kueue PodsReady timeout",
              "With waitForPodsReady, a workload not ready by admission + timeout is evicted then, and "
              "is readmitted only after its backoff; blockAdmission holds other admissions.", kueue_pass),
    Invariant("G8", "Kueue whole-workload eviction",
              "An evicted workload loses all its pods at the eviction instant; no pod runs while its "
              "workload is not admitted.", kueue_pass),
    Invariant("G8-volcano", "Volcano gang-safe eviction",
              "Volcano's preempt and reclaim never take a job below its PodGroup's minMember (minAvailable).",
              volcano_pass),
    Invariant("G9", "Topology-required placement",
              "All pods of a pod set with a required topology level sit in one domain of that level.",
              topology_pass),
    Invariant("G10", "Volcano session atomicity",
              "A Volcano job's binds come in one session instant (on the schedulePeriod grid) and only when "
              "ready plus newly bound pods reach minMember and each task's minTaskMember.", volcano_pass),
    Invariant("P1", "Preemption of lower priority only",
              "kube-scheduler preempts only bound pods of lower priority than the preemptor.",
              preemption_pass),
    Invariant("placement", "Taints and node selection at bind",
              "Every bound pod tolerates its node's NoSchedule and NoExecute taints and matches the node's "
              "labels with its nodeSelector and required node affinity.", placement_pass),
    Invariant("CA1", "Autoscaler: scale-ups at loop ticks",
              "Every TriggeredScaleUp of a simulated run falls on a multiple of the autoscaler's scanInterval.",
              autoscaling_pass),
    Invariant("CA2", "Autoscaler: scale-up for a pending pod the template fits",
              "A scale-up names a pod that is pending then and that a template node of the group fits "
              "(requests, taints, nodeSelector and required node affinity).", autoscaling_pass),
    Invariant("CA3", "Autoscaler: group sizes within bounds",
              "A node group's size (Ready plus provisioning nodes) never exceeds maxCount, and a scale-down "
              "never takes it below minCount.", autoscaling_pass),
    Invariant("CA4", "Autoscaler: no scale-down right after a scale-up",
              "No ScaleDown within scaleDownDelayAfterAdd after a TriggeredScaleUp.", autoscaling_pass),
    Invariant("CA5", "Autoscaler: scale-down after the unneeded window",
              "A node is scaled down only below scaleDownUtilizationThreshold (GPU nodes: GPU requests) and after "
              "staying below it for the whole scaleDownUnneededTime.", autoscaling_pass),
    Invariant("PR1", "Kueue: admission checks Ready before admission",
              "A workload whose quota reservation lists admission checks is Admitted only after each went Ready "
              "since that reservation.", provisioning_pass),
    Invariant("PR2", "ProvisioningRequest: atomic scale-up all or nothing",
              "A ProvisioningRequest is scaled up for at most once, only with the best-effort-atomic class, by "
              "exactly the nodes its TriggeredScaleUp names (simulated timelines), and is Provisioned at that "
              "instant.",
              provisioning_pass),
    Invariant("H1", "HPA: replicas within bounds",
              "Every SuccessfulRescale sets a size within the HPA's [minReplicas, maxReplicas].", hpa_pass),
    Invariant("H2", "HPA: no change inside the tolerance",
              "No rescale while the deciding metric is within the tolerance (0.1) of its target.", hpa_pass),
    Invariant("H3", "HPA: scale-down stabilisation",
              "A scale-down never goes below a size the HPA scaled up to within the scale-down stabilisation "
              "window (300 s).", hpa_pass),
    Invariant("D1", "DRA: devices not double-allocated",
              "A device is in at most one live claim allocation unless shared (shareID) or adminAccess; shared "
              "devices' consumed capacity stays within their capacity.", dra_pass),
    Invariant("D2", "DRA: pods bound with their claims",
              "A pod is bound to a node only with every claim it names allocated on that node and reserved for "
              "it.", dra_pass),
    Invariant("D3", "DRA: no deallocation while in use",
              "A claim's allocation is never released while a pod in its reservedFor is still running, and is "
              "released within 60 s after its last consumer ends.", dra_pass),
    Invariant("D4", "DRA: All takes every matching device",
              "An allocationMode All request holds every device of the node whose selectors match.", dra_pass),
    Invariant("D5", "DRA: shared counters",
              "The consumesCounters of a pool's allocated devices never exceed its sharedCounters.", dra_pass),
    Invariant("D6", "DRA: result limits",
              "At most 32 allocation results per claim and 256 pods in reservedFor.", dra_pass),
    Invariant("D7", "DRA: selectors and constraints",
              "Every DeviceClass and request CEL selector is true for each allocated device; matchAttribute "
              "values are equal and distinctAttribute values distinct across the constrained devices.", dra_pass),
)
_BY_ID = {inv.id: inv for inv in INVARIANTS}


def get(invariant_id: str) -> Invariant:
    """The registered invariant with this id (``KeyError`` if unknown)."""
    return _BY_ID[invariant_id]


def check(invariant_id: str, events: Sequence[Event]) -> list[Finding]:
    """Findings of one invariant on ``events``."""
    return get(invariant_id).check(events)


@dataclass(slots=True)
class CheckResult:
    """An invariant's outcome on one timeline."""

    invariant: Invariant
    status: str
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return self.status != FAILED


def run_checks(events: Sequence[Event], only: Iterable[str] | None = None,
               on_pass: Callable[[str, float], None] | None = None) -> list[CheckResult]:
    """Run the registered invariants (or those in ``only``), each shared pass once."""
    wanted = list(INVARIANTS) if only is None else [get(i) for i in only]
    evs = prepare(events)
    results: dict[PassFn, PassResult] = {}
    out: list[CheckResult] = []
    for inv in wanted:
        res = results.get(inv.run)
        if res is None:
            t0 = time.perf_counter()
            res = results[inv.run] = inv.run(evs)
            if on_pass is not None:
                on_pass(getattr(inv.run, "__name__", "pass"), time.perf_counter() - t0)
        found = [f for f in res.findings if f.invariant == inv.id]
        status = FAILED if found else PASSED if inv.id in res.applicable else NOT_APPLICABLE
        out.append(CheckResult(inv, status, found))
    return out
