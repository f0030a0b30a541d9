"""Cluster-autoscaler invariants (``kubernetes/autoscaler`` cluster-autoscaler, FAQ and ``core/``).

One pass over the timeline keeps, per node group, its size (Ready nodes plus nodes provisioning), per
node its requested share as the autoscaler measures it (GPU nodes: GPU requests over GPU allocatable;
others: the larger of the CPU and memory shares) and the last instant it was *needed* (Ready, or at or
above the threshold), and the last scale-up. The autoscaler's flags and node groups come from
``RunStarted.data.autoscaler`` (the simulator writes them); without that header the upstream defaults
hold and a group's template is its latest ``NodeReady``.

* ``CA1`` — scale-ups happen only at loop ticks: a ``TriggeredScaleUp`` time is a multiple of
  ``scanInterval`` (simulated timelines only: a live loop's phase is unknown).
* ``CA2`` — a scale-up is for a pod that is pending then, and that a template node of the group fits
  (requests within allocatable, NoSchedule/NoExecute taints tolerated, nodeSelector and required node
  affinity matched).
* ``CA3`` — group sizes stay within [minCount, maxCount]: a scale-up's ``to`` and the size after it
  at most the maximum, and a scale-down never takes a group below its minimum.
* ``CA4`` — no ``ScaleDown`` within ``scaleDownDelayAfterAdd`` after a ``TriggeredScaleUp``.
* ``CA5`` — a node is scaled down only after being unneeded (below
  ``scaleDownUtilizationThreshold``) for the whole ``scaleDownUnneededTime``.

A ``TriggeredScaleUp`` on a ProvisioningRequest (its pods do not exist yet) is held to ``CA1``–``CA3``
with the request's pod sets (``ProvisioningRequestCreated``) in place of a pending pod. Two more rules
speak about ProvisioningRequests and Kueue's admission checks (:func:`provisioning_pass`):

* ``PR1`` — a Kueue workload whose quota reservation lists admission checks
  (``QuotaReserved.data.admissionChecks``) is ``Admitted`` only after every one of them went ``Ready``
  (``AdmissionCheckUpdated``) since that reservation.
* ``PR2`` — best-effort-atomic scale-ups are all or nothing: a ProvisioningRequest is scaled up for at
  most once, only if its class is ``best-effort-atomic-scale-up.autoscaling.x-k8s.io``, by exactly the
  ``to − from`` nodes of one group requested at that instant (``NodeProvisioning``; simulated timelines
  only: a recording sees nodes when they register), and the request is ``Provisioned`` at that same
  instant (within the timeline's tolerance, either side: on a cluster the condition is written just
  before the Event) — never ``NotProvisioned`` or ``ProvisioningFailed`` after a scale-up made for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from models.timeline import Event
from validator.checks.common import Finding, PassResult, fmt_t, header, milli, pod_ref, prepare, shape, tolerance
from validator.checks.placement import selector_problems, untolerated

_ACCELERATORS = ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu", "habana.ai/gaudi", "aws.amazon.com/neuron",
                 "gpu.intel.com/i915")
#: cluster-autoscaler's defaults, in seconds
DEFAULTS: dict[str, float] = {"scanInterval": 10.0, "scaleDownUnneededTime": 600.0,
                              "scaleDownDelayAfterAdd": 600.0, "scaleDownUtilizationThreshold": 0.5}
IDS = ("CA1", "CA2", "CA3", "CA4", "CA5")
PR_IDS = ("PR1", "PR2")
ATOMIC = "best-effort-atomic-scale-up.autoscaling.x-k8s.io"


def _is_accelerator(res: str) -> bool:
    return res in _ACCELERATORS or res.endswith("/gpu")


def utilization(alloc: Mapping[str, int], used: Mapping[str, int]) -> float:
    """The autoscaler's utilisation of a node: GPU share on nodes with accelerators, else max(cpu, memory)."""
    ga = sum(q for r, q in alloc.items() if _is_accelerator(r))
    if ga > 0:
        return sum(q for r, q in used.items() if _is_accelerator(r)) / ga
    rows = [r for r in ("cpu", "memory") if alloc.get(r, 0) > 0] or \
        [r for r, q in alloc.items() if q > 0 and r != "pods" and not _is_accelerator(r)]
    return max((used.get(r, 0) / alloc[r] for r in rows), default=0.0)


class _Node:
    __slots__ = ("alloc", "needed_at", "pool", "used")

    def __init__(self, pool: str, alloc: dict[str, int], t: float) -> None:
        self.pool = pool
        self.alloc = alloc
        self.used: dict[str, int] = {}
        self.needed_at = t


def autoscaling_pass(events: Sequence[Event]) -> PassResult:
    out = PassResult()
    evs = prepare(events)
    head = header(evs)
    conf: dict[str, Any] = dict(DEFAULTS)
    conf.update(head.get("autoscaler") or {})
    sim = head.get("source") == "sim" and "autoscaler" in head
    tol = tolerance(evs)
    thr = float(conf["scaleDownUtilizationThreshold"])
    groups: dict[str, dict[str, Any]] = {g["name"]: g for g in conf.get("nodeGroups") or [] if "name" in g}
    templates: dict[str, dict[str, Any]] = dict(groups)
    size: dict[str, int] = {}
    provisioning: dict[str, str] = {}       # node -> pool
    nodes: dict[str, _Node] = {}
    pods: dict[str, dict[str, Any]] = {}     # PodCreated data of live pods
    where: dict[str, str] = {}               # pod -> node, while bound
    last_up = float("-inf")
    scaled_down: set[str] = set()
    provreqs: dict[str, dict[str, Any]] = {}  # ProvisioningRequestCreated data, until Provisioned
    answered: dict[str, tuple[float, dict[str, Any] | None]] = {}  # request -> (answered at, its data)

    def find(inv: str, objs: tuple[str, ...], t: float, msg: str) -> None:
        out.findings.append(Finding(inv, objs, t, msg))

    def add_use(node: str, req: dict[str, Any], t: float, sign: int) -> None:
        n = nodes.get(node)
        if n is None:
            return
        before = utilization(n.alloc, n.used)
        for r, q in shape(req)[0]:
            n.used[r] = n.used.get(r, 0) + sign * q
        after = utilization(n.alloc, n.used)
        if before >= thr or after >= thr:
            n.needed_at = t

    for ev, k in zip(evs, evs.keys, strict=True):
        typ = ev.type
        t = ev.t
        if typ == "NodeProvisioning":
            pool = str(ev.data.get("pool") or "")
            provisioning[ev.name] = pool
            size[pool] = size.get(pool, 0) + 1
            g = groups.get(pool)
            if g is not None and size[pool] > int(g.get("maxCount", 0)):
                out.applicable.add("CA3")
                find("CA3", (f"NodeGroup {pool}",), t,
                     f"group {pool} has {size[pool]} nodes (Ready or provisioning) at t={fmt_t(t)}, above maxCount "
                     f"{g.get('maxCount')}")
        elif typ == "NodeReady":
            d = ev.data
            pool = str(d.get("pool") or "")
            alloc = {str(r): milli(q) for r, q in (d.get("allocatable") or {}).items()}
            if ev.name in provisioning:
                del provisioning[ev.name]
            elif ev.name not in nodes:
                size[pool] = size.get(pool, 0) + 1
            nodes[ev.name] = _Node(pool, alloc, t)
            if pool not in groups:
                templates[pool] = {"labels": d.get("labels") or {}, "taints": d.get("taints") or [],
                                   "allocatable": d.get("allocatable") or {}}
        elif typ == "NodeRemoved":
            n = nodes.pop(ev.name, None)
            pool = n.pool if n is not None else provisioning.pop(ev.name, "")
            if n is not None or pool:
                size[pool] = size.get(pool, 0) - 1
                g = groups.get(pool)
                if ev.name in scaled_down and g is not None and size[pool] < int(g.get("minCount", 0)):
                    out.applicable.add("CA3")
                    find("CA3", (f"Node {ev.name}",), t,
                         f"scale-down of node {ev.name} at t={fmt_t(t)} took group {pool} to {size[pool]} nodes, "
                         f"below its minCount {g.get('minCount')}")
        elif typ == "PodCreated":
            pods[k] = ev.data
        elif typ == "Scheduled":
            node = ev.node or ""
            where[k] = node
            add_use(node, (pods.get(k) or {}).get("requests") or {}, t, 1)
        elif typ in ("PodSucceeded", "PodFailed", "PodDeleted", "Preempted"):
            node = where.pop(k, "")
            if node:
                add_use(node, (pods.get(k) or {}).get("requests") or {}, t, -1)
            if typ != "Preempted":
                pods.pop(k, None)
        elif typ == "ProvisioningRequestCreated":
            provreqs[k] = ev.data
        elif typ in ("Provisioned", "ProvisioningFailed"):
            answered[k] = (t, provreqs.pop(k, None))
        elif typ == "TriggeredScaleUp":
            last_up = t
            pool = str(ev.data.get("pool") or "")
            if ev.kind == "ProvisioningRequest":
                # on a cluster the request's condition is written just before the autoscaler's Event
                when, data = answered.get(k, (float("-inf"), None))
                live_now = {k: data} if data is not None and t - when <= tol and k not in provreqs else {}
                _provreq_scale_up(ev, k, pool, conf, sim, tol, {**provreqs, **live_now} if live_now else provreqs,
                                  templates, groups, size, out)
            else:
                _scale_up(ev, k, pool, conf, sim, tol, pods, where, templates, groups, size, out)
        elif typ == "ScaleDown" and ev.kind == "Node":
            scaled_down.add(ev.name)
            out.applicable.update(("CA4", "CA5"))
            if t - last_up < float(conf["scaleDownDelayAfterAdd"]) - tol:
                delay = float(conf["scaleDownDelayAfterAdd"])
                find("CA4", (f"Node {ev.name}",), t,
                     f"node {ev.name} was scaled down at t={fmt_t(t)}, {fmt_t(t - last_up)}s after the scale-up "
                     f"at t={fmt_t(last_up)}; scaleDownDelayAfterAdd is {fmt_t(delay)}s")
            n = nodes.get(ev.name)
            if n is None:
                continue
            window = float(conf["scaleDownUnneededTime"])
            u = utilization(n.alloc, n.used)
            if u >= thr:
                find("CA5", (f"Node {ev.name}",), t,
                     f"node {ev.name} was scaled down at t={fmt_t(t)} at utilisation {u:.2f}, not below the "
                     f"threshold {thr:g}")
            elif t - n.needed_at < window - tol:
                find("CA5", (f"Node {ev.name}",), t,
                     f"node {ev.name} was scaled down at t={fmt_t(t)} after being unneeded only "
                     f"{fmt_t(t - n.needed_at)}s (since t={fmt_t(n.needed_at)}); scaleDownUnneededTime is "
                     f"{fmt_t(window)}s")
    return out


def _scale_up(ev: Event, k: str, pool: str, conf: Mapping[str, Any], sim: bool, tol: float,
              pods: Mapping[str, dict[str, Any]], where: Mapping[str, str], templates: Mapping[str, dict[str, Any]],
              groups: Mapping[str, dict[str, Any]], size: dict[str, int], out: PassResult) -> None:
    t = ev.t
    out.applicable.update(("CA2", "CA3"))
    if sim:
        out.applicable.add("CA1")
        step = float(conf["scanInterval"])
        off = t % step
        if min(off, step - off) > tol:
            out.findings.append(Finding("CA1", (pod_ref(k),), t,
                                        f"scale-up at t={fmt_t(t)} is not at a loop tick (every {fmt_t(step)}s)"))
    data = pods.get(k)
    if data is None or k in where:
        out.findings.append(Finding("CA2", (pod_ref(k),), t,
                                    f"scale-up at t={fmt_t(t)} for pod {k}, which is not pending then"))
    else:
        problems = _template_problems(data, templates.get(pool))
        if problems:
            out.findings.append(Finding(
                "CA2", (pod_ref(k), f"NodeGroup {pool}"), t,
                f"scale-up of {pool} at t={fmt_t(t)} for pod {k}, which its template does not fit: "
                + "; ".join(problems)))
    _within_max(ev, pool, groups, size, out)


def _template_problems(data: Mapping[str, Any], tpl: Mapping[str, Any] | None) -> list[str]:
    """Why a template node does not fit a pod (``PodCreated`` data or a ProvisioningRequest pod set)."""
    if tpl is None:
        return []
    alloc = {str(r): milli(q) for r, q in (tpl.get("allocatable") or {}).items()}
    problems = [f"requests {r} beyond the template's {tpl['allocatable'].get(r, 0)}"
                for r, q in shape(data.get("requests") or {})[0] if r != "pods" and q > alloc.get(r, 0)]
    tols = [x for x in data.get("tolerations") or [] if isinstance(x, dict)]
    problems += [f"does not tolerate taint {x}" for x in untolerated(tols, tpl.get("taints") or [])]
    labels = {str(a): str(b) for a, b in (tpl.get("labels") or {}).items()}
    problems += [f"does not match its {p}" for p in selector_problems(dict(data), labels, "")
                 if "kubernetes.io/hostname" not in p]
    return problems


def _provreq_scale_up(ev: Event, k: str, pool: str, conf: Mapping[str, Any], sim: bool, tol: float,
                      provreqs: Mapping[str, dict[str, Any]], templates: Mapping[str, dict[str, Any]],
                      groups: Mapping[str, dict[str, Any]], size: dict[str, int], out: PassResult) -> None:
    """CA1–CA3 for a scale-up made for a ProvisioningRequest: at a tick, for a request not answered yet
    whose every pod set the group's template fits, within maxCount."""
    t = ev.t
    ref = f"ProvisioningRequest {k}"
    out.applicable.update(("CA2", "CA3"))
    if sim:
        out.applicable.add("CA1")
        step = float(conf["scanInterval"])
        off = t % step
        if min(off, step - off) > tol:
            out.findings.append(Finding("CA1", (ref,), t,
                                        f"scale-up at t={fmt_t(t)} is not at a loop tick (every {fmt_t(step)}s)"))
    data = provreqs.get(k)
    if data is None:
        out.findings.append(Finding("CA2", (ref,), t, f"scale-up at t={fmt_t(t)} for ProvisioningRequest {k}, "
                                                      "which does not exist or was already answered then"))
    else:
        for ps in data.get("podSets") or []:
            problems = _template_problems(ps, templates.get(pool))
            if problems:
                out.findings.append(Finding(
                    "CA2", (ref, f"NodeGroup {pool}"), t,
                    f"scale-up of {pool} at t={fmt_t(t)} for ProvisioningRequest {k}, whose pod set "
                    f"{ps.get('name')} its template does not fit: " + "; ".join(problems)))
    _within_max(ev, pool, groups, size, out)


def _within_max(ev: Event, pool: str, groups: Mapping[str, dict[str, Any]], size: dict[str, int],
                out: PassResult) -> None:
    t = ev.t
    g = groups.get(pool)
    to = ev.data.get("to")
    if g is not None:
        hi = int(g.get("maxCount", 0))
        if isinstance(to, int) and to > hi:
            out.findings.append(Finding("CA3", (f"NodeGroup {pool}",), t,
                                        f"scale-up of {pool} at t={fmt_t(t)} to {to} nodes, above maxCount {hi}"))
        if size.get(pool, 0) > hi:
            out.findings.append(Finding("CA3", (f"NodeGroup {pool}",), t,
                                        f"group {pool} has {size[pool]} nodes at t={fmt_t(t)}, above maxCount {hi}"))




# ------------------------------------------------------------------------------- ProvisioningRequests


def provisioning_pass(events: Sequence[Event]) -> PassResult:
    """``PR1`` (admission checks Ready before admission) and ``PR2`` (atomic scale-ups all or nothing)."""
    out = PassResult()
    evs = prepare(events)
    tol = tolerance(evs)
    live = header(evs).get("source") == "live"
    provisioned: dict[str, float] = {}       # ProvisioningRequest -> when it went Provisioned
    required: dict[str, list[str]] = {}     # workload -> checks of its current reservation
    ready: dict[str, set[str]] = {}          # workload -> checks Ready since that reservation
    classes: dict[str, str] = {}             # ProvisioningRequest -> class
    scaled: dict[str, float] = {}            # ProvisioningRequest -> its scale-up time
    awaiting: dict[str, float] = {}          # scaled-up request -> when it must be Provisioned
    burst: list[Any] = []                    # [request, pool, nodes expected, nodes seen, t] of the open scale-up

    def find(inv: str, objs: tuple[str, ...], t: float, msg: str) -> None:
        out.findings.append(Finding(inv, objs, t, msg))

    def close_burst() -> None:
        if burst:
            key, pool, want, got, t0 = burst
            if got != want:
                find("PR2", (f"ProvisioningRequest {key}", f"NodeGroup {pool}"), t0,
                     f"the scale-up of {pool} at t={fmt_t(t0)} for ProvisioningRequest {key} said {want} nodes "
                     f"but requested {got}")
            burst.clear()

    def overdue(now: float) -> None:
        for key, t0 in sorted(awaiting.items()):
            if now > t0 + tol:
                del awaiting[key]
                find("PR2", (f"ProvisioningRequest {key}",), t0,
                     f"ProvisioningRequest {key} was scaled up for at t={fmt_t(t0)} but not Provisioned then")

    for ev, k in zip(evs, evs.keys, strict=True):
        typ = ev.type
        t = ev.t
        if awaiting:
            overdue(t)
        if burst and not (typ == "NodeProvisioning" and t <= burst[4] + tol):
            close_burst()
        group = ev.group or k
        if typ == "QuotaReserved":
            required[group] = [str(c) for c in ev.data.get("admissionChecks") or []]
            ready[group] = set()
        elif typ == "AdmissionCheckUpdated":
            check = str(ev.data.get("admissionCheck") or "")
            if ev.data.get("to") == "Ready":
                ready.setdefault(group, set()).add(check)
            else:
                ready.setdefault(group, set()).discard(check)
        elif typ in ("Evicted", "WorkloadFinished"):
            required.pop(group, None)
            ready.pop(group, None)
        elif typ == "Admitted":
            out.applicable.add("PR1")
            missing = [c for c in required.get(group, []) if c not in ready.get(group, set())]
            if missing:
                find("PR1", (f"Workload {group}",), t,
                     f"workload {group} was admitted at t={fmt_t(t)} before its admission check(s) "
                     f"{', '.join(missing)} went Ready")
        elif typ == "ProvisioningRequestCreated":
            classes[k] = str(ev.data.get("provisioningClassName") or "")
        elif typ == "TriggeredScaleUp":
            out.applicable.add("PR2")
            if ev.kind != "ProvisioningRequest":
                continue
            ref = f"ProvisioningRequest {k}"
            if classes.get(k) != ATOMIC:
                find("PR2", (ref,), t, f"ProvisioningRequest {k} of class {classes.get(k) or 'unknown'} triggered a "
                                       f"scale-up at t={fmt_t(t)}; only {ATOMIC} scales up")
            if k in scaled:
                find("PR2", (ref,), t, f"ProvisioningRequest {k} was scaled up for again at t={fmt_t(t)} (first at "
                                       f"t={fmt_t(scaled[k])}): its nodes must come in one scale-up")
            scaled.setdefault(k, t)
            frm, to = ev.data.get("from"), ev.data.get("to")
            if isinstance(frm, int) and isinstance(to, int) and not live:
                burst[:] = [k, str(ev.data.get("pool") or ""), to - frm, 0, t]
            if not (k in provisioned and t - provisioned[k] <= tol):
                awaiting[k] = t
        elif typ == "NodeProvisioning" and burst and ev.data.get("pool") == burst[1]:
            burst[3] += 1
        elif typ == "Provisioned":
            awaiting.pop(k, None)
            provisioned[k] = t
        elif typ in ("NotProvisioned", "ProvisioningFailed") and k in scaled:
            awaiting.pop(k, None)
            find("PR2", (f"ProvisioningRequest {k}",), t,
                 f"ProvisioningRequest {k} was scaled up for at t={fmt_t(scaled[k])} but reported {typ} at "
                 f"t={fmt_t(t)}: a partial scale-up")
    close_burst()
    overdue(float("inf"))
    out.findings.sort(key=lambda f: f.t)
    return out


# ------------------------------------------------------------------------------------------------ HPA

HPA_IDS = ("H1", "H2", "H3")


def hpa_pass(events: Sequence[Event]) -> PassResult:
    """HorizontalPodAutoscaler invariants over ``SuccessfulRescale`` events, with each HPA's bounds,
    tolerance and windows from ``RunStarted.data.serving.horizontalPodAutoscalers``:

    * ``H1`` — a rescale's ``to`` lies within [minReplicas, maxReplicas];
    * ``H2`` — no rescale while the deciding metric is inside the tolerance (``|value/target − 1| ≤ 0.1``);
    * ``H3`` — a scale-down never goes below a size the HPA scaled up to within the scale-down
      stabilisation window (300 s): that scale-up's recommendation is still in the window.
    """
    out = PassResult()
    evs = prepare(events)
    head = header(evs)
    hpas = {str(h.get("name")): h for h in (head.get("serving") or {}).get("horizontalPodAutoscalers") or []}
    ups: dict[str, list[tuple[float, int]]] = {}
    tol = tolerance(evs)
    for ev, k in zip(evs, evs.keys, strict=True):
        if ev.type != "SuccessfulRescale":
            continue
        d = ev.data
        to = d.get("to")
        frm = d.get("from")
        conf = hpas.get(k)
        if conf is not None and isinstance(to, int):
            out.applicable.add("H1")
            lo, hi = int(conf.get("minReplicas", 1)), int(conf.get("maxReplicas", 1))
            if not lo <= to <= hi:
                out.findings.append(Finding("H1", (f"HorizontalPodAutoscaler {k}",), ev.t,
                                            f"HPA {k} rescaled to {to} at t={fmt_t(ev.t)}, outside [{lo}, {hi}]"))
        value, target = d.get("value"), d.get("target")
        if isinstance(value, int | float) and isinstance(target, int | float) and target > 0:
            out.applicable.add("H2")
            band = float((conf or {}).get("tolerance", 0.1))
            if abs(value / target - 1) <= band - 1e-9:
                out.findings.append(Finding(
                    "H2", (f"HorizontalPodAutoscaler {k}",), ev.t,
                    f"HPA {k} rescaled {frm}->{to} at t={fmt_t(ev.t)} with {d.get('metric')} at {value:g} for a "
                    f"target of {target:g}: inside the tolerance {band:g}"))
        if not isinstance(to, int) or not isinstance(frm, int):
            continue
        window = float((conf or {}).get("scaleDownStabilizationSeconds", 300.0) or 0.0)
        if to > frm:
            ups.setdefault(k, []).append((ev.t, to))
        elif to < frm:
            out.applicable.add("H3")
            recent = [(t, s) for t, s in ups.get(k, []) if ev.t - t < window - tol and s > to]
            if recent:
                t_up, s_up = recent[-1]
                out.findings.append(Finding(
                    "H3", (f"HorizontalPodAutoscaler {k}",), ev.t,
                    f"HPA {k} scaled down to {to} at t={fmt_t(ev.t)}, {fmt_t(ev.t - t_up)}s after scaling up to "
                    f"{s_up}; the scale-down stabilisation window is {fmt_t(window)}s"))
    return out
__all__ = ["DEFAULTS", "HPA_IDS", "IDS", "PR_IDS", "autoscaling_pass", "hpa_pass", "provisioning_pass",
           "utilization"]
