"""One Volcano scheduling session: snapshot → enqueue → allocate → preempt → reclaim → backfill → close.

Volcano's scheduler does not schedule pod by pod. Every ``schedulePeriod`` (1 s) it opens a *session*
on a snapshot of the cluster (``pkg/scheduler/framework/session.go``), runs the configured *actions* in
order and closes the session, writing PodGroup status. kubetwin's session does the same on a copy of
the cluster's free capacity:

1. **enqueue** — PodGroups still ``Pending`` become ``Inqueue`` when their ``minResources`` fit both the
   queue (proportion: ``minResources + allocated + inqueue − elastic <= realCapability``) and the cluster
   (overcommit: ``inqueue + minResources <= total × overcommitFactor − used``); a Volcano Job's pods are
   created only then (they appear in the next session);
2. **allocate** — queues by lowest share first, jobs by priority, then not-ready before ready, then
   creation; each job's pending tasks are placed tentatively in a :class:`Statement` on nodes that pass
   the profile's Filter plugins (the same per-shape node masks the default scheduler uses) and have room,
   each task only while its queue stays within its deserved share. The statement is **committed** (all
   its pods bound now, at the session's instant) only when the job is ready — ready + allocated
   ≥ ``minAvailable`` and each task's ``minTaskMember`` — else **discarded** (nothing bound). A ready job
   with more pending tasks goes back in its queue and gets one more task per turn;
3. **preempt** (within a queue, by job priority) and **reclaim** (between queues, from queues above
   their deserved share that are ``reclaimable``) — for a starving job (ready < ``minAvailable``) the
   victims of one what-if are chosen node by node until every task the job needs fits; victims come
   only from jobs whose ready count stays ≥ their ``minAvailable`` (the gang plugin's filter), and the
   evictions happen only if the whole job then fits (gang-aware). The job binds in a later session's
   allocate;
4. **backfill** — pending best-effort tasks (no requests) of enqueued jobs go to the first node that passes;
5. **close** — every job with tasks gets the gang plugin's condition (``Unschedulable`` with
   ``"<n>/<m> tasks in gang unschedulable: …"`` or ``Scheduled``) and the phase upstream's
   ``getPodGroupPhase`` gives (``Running`` once ``minMember`` tasks are scheduled, ``Completed`` when
   they all finished, ``Unknown`` when running tasks coexist with an unschedulable gang).

Not modelled: pipelining onto resources being released (kubetwin frees capacity at once), hyperNode
network topology, DRA claims on Volcano pods, the drf/binpack/nodeorder plugins' scores (node choice uses
the scenario's LeastAllocated or MostAllocated), queue hierarchy and queue priority.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from sim.pods import SimPod
from sim.volcano.job import COMPLETED, INQUEUE, PENDING, RUNNING, UNKNOWN, VolcanoJob
from sim.volcano.proportion import QueueAttr, Res, acc, add, clip, deserve, less_equal

if TYPE_CHECKING:
    from models.volcano import VolcanoSection
    from sim.host import ControllerHost


class Scheduler(Protocol):
    """What a session needs from the scheduler that runs it (:class:`sim.volcano.controller.VolcanoScheduler`)."""

    section: VolcanoSection
    scoring: str
    live: dict[str, VolcanoJob]

    @property
    def host(self) -> ControllerHost: ...

    def job_of(self, pod: SimPod) -> Any: ...

    def set_phase(self, job: VolcanoJob, phase: str, message: str | None = None) -> None: ...

    def set_condition(self, job: VolcanoJob, type_: str, reason: str, message: str) -> None: ...

    def enqueue_rejected(self, job: VolcanoJob, message: str) -> None: ...

    def pod_unschedulable(self, pod: SimPod, reason: str, message: str) -> None: ...

    def create_pods(self, job: VolcanoJob) -> None: ...

    def evicted(self, action: str) -> None: ...

SCHEDULED_REASON = "tasks in gang are ready to be scheduled"
#: ``api.AllNodeUnavailableMsg``: a pending task's message when neither it nor its job has a fit error
ALL_NODES_UNAVAILABLE = "all nodes are unavailable"
NOT_ENOUGH_RESOURCES = "NotEnoughResources"
#: Volcano's evictor: the pod's Evict event and Ready condition message, then the pod is deleted
EVICT_MESSAGE = "Pod is evicted, because of "


class Statement:
    """Tentative allocations of one job's tasks on the session snapshot (``framework.Statement``)."""

    __slots__ = ("ops", "session")

    def __init__(self, session: Session) -> None:
        self.session = session
        self.ops: list[tuple[SimPod, int, QueueAttr]] = []

    def allocate(self, pod: SimPod, node: int, queue: QueueAttr) -> None:
        s = self.session
        s.free[:, node] -= s.vec(pod)
        s.version += 1
        queue.allocated = add(queue.allocated, s.res(pod))
        queue.update_share()
        self.ops.append((pod, node, queue))

    def discard(self) -> None:
        """Roll every tentative allocation back (``Statement.Discard``)."""
        s = self.session
        s.version += 1
        for pod, node, queue in reversed(self.ops):
            s.free[:, node] += s.vec(pod)
            queue.allocated = add(queue.allocated, s.res(pod), -1)
            queue.update_share()
            s.schedulable[pod.seq] = node
        self.ops = []

    def commit(self) -> None:
        """Bind every tentatively allocated pod now, in one instant (``Statement.Commit``)."""
        s = self.session
        for pod, node, _ in self.ops:
            s.bind(pod, node)
        self.ops = []

    @property
    def pods(self) -> list[SimPod]:
        return [op[0] for op in self.ops]


class Session:
    """One session over the controller's jobs; ``run()`` executes the actions and closes it."""

    def __init__(self, ctrl: Scheduler, now: float) -> None:
        self.ctrl = ctrl
        self.now = now
        cluster = ctrl.host.cluster
        self.cluster = cluster
        n = cluster.n
        self.n = n
        self.free: npt.NDArray[np.int64] = cluster.free[:, :n].copy()
        self.alloc: npt.NDArray[np.int64] = cluster.alloc[:, :n]
        ready = np.asarray(cluster.ready[:n], dtype=bool)
        self.nready = int(ready.sum())
        self.names = [r for r in cluster.resources if r != "pods"]
        rows = [cluster.ridx[r] for r in self.names]
        total_vec = self.alloc[:, ready].sum(axis=1) if n else np.zeros(len(cluster.resources), dtype=np.int64)
        free_vec = self.free[:, ready].sum(axis=1) if n else np.zeros(len(cluster.resources), dtype=np.int64)
        self.total: Res = {r: int(total_vec[i]) for r, i in zip(self.names, rows, strict=True)}
        self.used: Res = {r: int(total_vec[i] - free_vec[i]) for r, i in zip(self.names, rows, strict=True)}
        self._res: dict[int, Res] = {}
        #: pods allocated and then discarded in this session, with the node they had (pending reason "Schedulable")
        self.schedulable: dict[int, int] = {}
        #: the first task's fit error per job key: (task name, message)
        self.fit_errors: dict[str, tuple[str, str]] = {}
        self.progress = False
        self.bound = 0
        self._pending_of: dict[str, list[SimPod]] = {}
        self._bound_jobs: set[str] = set()
        self._refused: dict[tuple[str, tuple[tuple[str, int], ...]], str] = {}
        #: bumped whenever the snapshot's free capacity changes (fit-error messages are cached per version)
        self.version = 0
        self._fit_msgs: dict[tuple[int, int], str] = {}
        self.jobs = list(ctrl.live.values())
        #: pods that exist at session open (a Volcano Job's pods created by enqueue wait for the next session)
        #: pods created while this session runs (a Volcano Job's pods once enqueued, replacements of evicted
        #: pods): they reach the scheduler's cache later and wait for the next session
        self.new_pods: set[int] = set()
        self.queues = self._queue_attrs()

    # ------------------------------------------------------------------ resources

    def res(self, pod: SimPod) -> Res:
        key = id(pod.shape)
        r = self._res.get(key)
        if r is None:
            r = self._res[key] = {name: q for name, q in pod.shape.key[0] if name != "pods" and q > 0}
        return r

    def vec(self, pod: SimPod) -> npt.NDArray[np.int64]:
        return pod.shape.reqcol[:, 0]

    def _queue_attrs(self) -> dict[str, QueueAttr]:
        section = self.ctrl.section
        attrs: dict[str, QueueAttr] = {}
        for job in self.jobs:
            q = attrs.get(job.queue)
            if q is None:
                spec = section.queues[job.queue]
                q = attrs[job.queue] = QueueAttr(spec.name, spec.weight, dict(spec.capability) or None,
                                                 dict(spec.guarantee), spec.reclaimable)
            allocated, pending, inqueue, elastic, running = self._sums(job)
            if not running and not pending and job.phase != INQUEUE:
                continue  # a Pending PodGroup without pods yet: nothing allocated, requested or inqueue
            acc(q.allocated, allocated)
            acc(q.request, allocated)
            acc(q.request, pending)
            if inqueue is not None and elastic is not None:
                if job.phase == INQUEUE or (job.phase == RUNNING and running >= job.min_available):
                    acc(q.inqueue, inqueue)
                acc(q.elastic, elastic)
        ordered = [attrs[k] for k in sorted(attrs)]
        deserve(ordered, self.total)
        return attrs

    def _sums(self, job: VolcanoJob) -> tuple[Res, Res, Res | None, Res | None, int]:
        """The job's allocated and pending requests, its inqueue and elastic parts (with minResources) and
        its running count — kept on the job until one of its pods changes."""
        m = job.memo.get("sums")
        if m is None:
            running = job.running()
            allocated = self._sum(running)
            pending = self._sum(job.pending())
            inqueue = elastic = None
            if job.min_resources is not None:
                inqueue = clip(add(job.min_resources, allocated, -1))
                elastic = clip(add(allocated, job.min_resources, -1))
            m = job.memo["sums"] = (allocated, pending, inqueue, elastic, len(running))
        return m

    def _sum(self, pods: list[SimPod]) -> Res:
        """The pods' requests added up (by shape: pods of one pod set share one)."""
        counts: dict[int, tuple[SimPod, int]] = {}
        for p in pods:
            k = id(p.shape)
            c = counts.get(k)
            counts[k] = (p, 1) if c is None else (c[0], c[1] + 1)
        out: Res = {}
        for p, n in counts.values():
            for r, q in self.res(p).items():
                out[r] = out.get(r, 0) + q * n
        return out

    def _pending(self, job: VolcanoJob) -> list[SimPod]:
        """The job's pending tasks in task order, as of the session snapshot, minus those bound since."""
        cached = self._pending_of.get(job.key)
        if cached is None:
            new = self.new_pods
            cached = self._pending_of[job.key] = [p for p in job.pending() if p.seq not in new]
        elif job.key in self._bound_jobs:
            cached = self._pending_of[job.key] = [p for p in cached if p.node < 0 and p.phase == "Pending"]
            self._bound_jobs.discard(job.key)
        return cached

    # ------------------------------------------------------------------ predicates

    def candidates(self, pod: SimPod) -> npt.NDArray[np.intp]:
        """Nodes that pass the Filter plugins (taints, affinity, selectors, cordon, Ready) and have room."""
        shape = pod.shape
        if shape.example is None:
            shape.example = pod
        shape.node_mask(self.cluster)
        idx = shape.idx[shape.idx < self.n]
        if idx.size == 0:
            return idx
        fits = (self.free[:, idx] >= shape.reqcol).all(axis=0)
        return idx[fits]

    def best_node(self, pod: SimPod, cand: npt.NDArray[np.intp]) -> int:
        """The highest-scoring candidate (LeastAllocated or MostAllocated over requested resources)."""
        rows = [i for i, q in pod.shape.req if q > 0]
        if len(cand) == 1 or not rows:
            return int(cand[0])
        alloc = self.alloc[rows][:, cand].astype(np.float64)
        after = (self.free[rows][:, cand] - pod.shape.reqcol[rows]).astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(alloc > 0, after / alloc, 0.0)
        score = frac.sum(axis=0)
        pick = int(np.argmin(score)) if self.ctrl.scoring == "MostAllocated" else int(np.argmax(score))
        return int(cand[pick])

    def fit_error(self, pod: SimPod) -> str:
        """``FitErrors.Error()``: why every Ready node refuses ``pod``, as a sorted reason histogram."""
        key = (id(pod.shape), self.version)  # free capacity changed since: the reasons may differ
        msg = self._fit_msgs.get(key)
        if msg is None:
            msg = self._fit_msgs[key] = self._fit_error(pod)
        return msg

    def _fit_error(self, pod: SimPod) -> str:
        cluster = self.cluster
        shape = pod.shape
        reasons: dict[str, int] = {}
        mask = shape.node_mask(cluster)[: self.n]
        ready = np.asarray(cluster.ready[: self.n], dtype=bool)
        for i in np.flatnonzero(ready & ~mask).tolist():  # refused by a Filter plugin (taints, affinity, cordon)
            why = shape.reason_for(cluster, i) if shape.filters else None
            why = why or "node(s) were unschedulable"
            reasons[why] = reasons.get(why, 0) + 1
        idx = np.flatnonzero(ready & mask)
        if idx.size:
            for row, q in shape.req:
                short = int((self.free[row, idx] < q).sum())
                if short:
                    key = f"Insufficient {cluster.resources[row]}"
                    reasons[key] = reasons.get(key, 0) + short
        text = ", ".join(sorted(f"{v} {k}" for k, v in reasons.items()))
        return f"0/{self.nready} nodes are unavailable: {text}." if text else f"0/{self.nready} nodes are unavailable"

    # ------------------------------------------------------------------ ordering

    def job_order(self, job: VolcanoJob) -> tuple[int, int, float, int]:
        """priority plugin (higher first), gang plugin (not ready first), then creation."""
        return (-job.priority, 1 if job.is_ready() else 0, job.created, job.seq)

    def queue_order(self) -> list[QueueAttr]:
        return sorted(self.queues.values(), key=lambda q: (q.share, q.name))

    # ------------------------------------------------------------------ actions

    def run(self) -> None:
        actions: dict[str, Callable[[], None]] = {"enqueue": self.enqueue, "allocate": self.allocate,
                                                   "preempt": self.preempt, "reclaim": self.reclaim,
                                                   "backfill": self.backfill}
        if "enqueue" not in self.ctrl.section.actions:
            for job in self.jobs:  # without enqueue, allocate takes Pending PodGroups as Inqueue
                if job.phase == PENDING:
                    self.ctrl.set_phase(job, INQUEUE)
        for name in self.ctrl.section.actions:
            actions[name]()
        self.close()

    def enqueue(self) -> None:
        """Pending PodGroups → Inqueue when the queue and the (overcommitted) cluster have room."""
        factor = self.ctrl.section.overcommit_factor
        idle = clip(add({k: int(v * factor) for k, v in self.total.items()}, self.used, -1))
        inqueue: Res = {}
        for job in self.jobs:
            if job.min_resources is None:
                continue
            if job.phase == INQUEUE:
                acc(inqueue, job.min_resources)
            elif job.phase == RUNNING:
                _, _, rest, _, running = self._sums(job)
                if rest is not None and running >= job.min_available:
                    acc(inqueue, rest)
        by_queue: dict[str, list[VolcanoJob]] = {}
        for job in self.jobs:
            if job.phase == PENDING:
                by_queue.setdefault(job.queue, []).append(job)
        for jobs in by_queue.values():
            jobs.sort(key=self.job_order, reverse=True)  # pop() takes the first in job order
        order = [q for q in self.queue_order() if q.name in by_queue]
        while order:
            nxt = []
            for q in order:
                jobs = by_queue[q.name]
                job = jobs.pop()
                self._enqueue_one(job, q, idle, inqueue)
                if job.phase == INQUEUE and job.min_resources is not None:
                    acc(inqueue, job.min_resources)
                if jobs:
                    nxt.append(q)
            order = nxt

    def _enqueue_one(self, job: VolcanoJob, q: QueueAttr, idle: Res, inqueue: Res) -> None:
        need = job.min_resources
        if need:
            # inqueue only grows during enqueue: a need refused once (in this queue) is refused again
            key = (q.name, tuple(sorted(need.items())))
            refused = self._refused.get(key)
            if refused is not None:
                self.ctrl.enqueue_rejected(job, refused)
                return
            names = [k for k, v in need.items() if v > 0]
            over = [k for k in names if inqueue.get(k, 0) + need[k] > idle.get(k, 0)]
            if over:
                refused = "resource in cluster is overused: " + ", ".join(f"overused {k}" for k in over)
            else:
                r = add(add(add(need, q.allocated), q.inqueue), q.elastic, -1)
                short = [k for k in names if r.get(k, 0) > q.real_capability.get(k, 0)]
                if short:
                    refused = "queue resource quota insufficient: " + ", ".join(f"insufficient {k}" for k in short)
            if refused is not None:
                self._refused[key] = refused
                self.ctrl.enqueue_rejected(job, refused)
                return
            q.inqueue = add(q.inqueue, need)
        self.ctrl.set_phase(job, INQUEUE)
        self.progress = True
        if job.create_on_inqueue and not job.pods_created:
            job.pods_created = True
            self.ctrl.create_pods(job)

    def allocate(self) -> None:
        """Queues by share, jobs by order; each job's tasks in a statement, committed only when ready."""
        jobs_by_queue: dict[str, list[tuple[Any, ...]]] = {}
        for j in self.jobs:
            if j.phase not in (INQUEUE, RUNNING, UNKNOWN) or not j.valid() or not self._pending(j):
                continue
            heapq.heappush(jobs_by_queue.setdefault(j.queue, []), (*self.job_order(j), j))
        qheap = [(q.share, q.name) for q in self.queues.values() if q.name in jobs_by_queue]
        heapq.heapify(qheap)
        no_room: set[int] = set()
        while qheap:
            _, qname = heapq.heappop(qheap)
            q = self.queues[qname]
            if q.overused():
                continue
            heap = jobs_by_queue[qname]
            if not heap:
                continue
            job: VolcanoJob = heapq.heappop(heap)[-1]
            stmt = Statement(self)
            ready, best_effort = job.readiness()
            failed_shapes: set[int] = set()
            for pod in self._pending(job):
                if job.is_best_effort(pod):
                    continue  # backfill's
                sid = id(pod.shape)
                if sid in failed_shapes or sid in no_room:
                    if job.key not in self.fit_errors:
                        self.fit_errors[job.key] = (pod.name, self.fit_error(pod))
                    continue
                if not q.allocatable(self.res(pod)):
                    continue
                cand = self.candidates(pod)
                if cand.size == 0:
                    failed_shapes.add(sid)
                    if not stmt.ops:
                        no_room.add(sid)  # free capacity only shrinks during allocate: no later job fits it
                    if job.key not in self.fit_errors:
                        self.fit_errors[job.key] = (pod.name, self.fit_error(pod))
                    continue
                stmt.allocate(pod, self.best_node(pod, cand), q)
                if job.ready_with(ready, best_effort, stmt.pods):
                    break
            if stmt.ops and job.ready_with(ready, best_effort, stmt.pods):
                stmt.commit()
                self.progress = True
                if any(not job.is_best_effort(p) for p in self._pending(job)):
                    heapq.heappush(heap, (*self.job_order(job), job))
            else:
                stmt.discard()
            heapq.heappush(qheap, (q.share, qname))

    def bind(self, pod: SimPod, node: int) -> None:
        job = self.ctrl.job_of(pod)
        if job is not None:
            self._bound_jobs.add(job.key)
        self.ctrl.host.bind(pod, node)
        self.bound += 1

    def backfill(self) -> None:
        """Pending best-effort tasks of enqueued jobs: the first node that passes."""
        for job in self.jobs:
            if job.phase == PENDING:
                continue
            for pod in self._pending(job):
                if pod.node >= 0 or not job.is_best_effort(pod):
                    continue
                cand = self.candidates(pod)
                if cand.size:
                    node = int(cand[0])
                    self.free[:, node] -= self.vec(pod)
                    self.version += 1
                    self.bind(pod, node)
                    self.progress = True

    def preempt(self) -> None:
        """Within a queue: a starving job evicts tasks of lower-priority jobs (never below their minAvailable)."""
        self._evict_for_starving(same_queue=True)

    def reclaim(self) -> None:
        """Between queues: a starving job of a queue under its share takes from queues above theirs."""
        self._evict_for_starving(same_queue=False)

    def _evict_for_starving(self, *, same_queue: bool) -> None:
        pool = self._victim_pool(same_queue)
        if not pool:
            return  # nobody can give anything up: no what-if at all
        starving = [j for j in self.jobs if j.phase in (INQUEUE, RUNNING, UNKNOWN) and j.valid()
                    and len(j.ready_tasks()) < j.min_available and self._pending(j)]
        starving.sort(key=self.job_order)
        failed: set[tuple[Any, ...]] = set()
        for job in starving:
            q = self.queues[job.queue]
            if not same_queue and q.overused():
                continue
            need = self._needed(job)
            key = (job.queue, job.priority if same_queue else 0, tuple(id(p.shape) for p in need))
            if not need or key in failed:
                continue  # the same tasks of the same queue (and priority) found no room already
            victims = self._what_if(job, q, same_queue, need, pool)
            if not victims:
                failed.add(key)
                continue
            reason = f"{EVICT_MESSAGE}{'preempt' if same_queue else 'reclaim'}"
            self.version += 1
            for v, node in victims:
                self.free[:, node] += self.vec(v)
                vq = self.queues.get(self.ctrl.job_of(v).queue)
                if vq is not None:
                    vq.allocated = add(vq.allocated, self.res(v), -1)
                    vq.update_share()
                pool[node] = [x for x in pool[node] if x is not v]
                self.ctrl.host.evict(v, reason)
                self.ctrl.evicted("preempt" if same_queue else "reclaim")
            self.progress = True
            failed.clear()  # capacity came free: earlier verdicts may change

    def _needed(self, job: VolcanoJob) -> list[SimPod]:
        """The pending tasks, in task order, that would make ``job`` ready (none when they cannot)."""
        placed: list[SimPod] = []
        for pod in self._pending(job):
            if job.is_ready(placed):
                break
            if not job.is_best_effort(pod):
                placed.append(pod)
        return placed if job.is_ready(placed) else []

    def _victim_pool(self, same_queue: bool) -> dict[int, list[SimPod]]:
        """Running Volcano pods that may be evicted at all this action, by node: their job keeps more than
        minAvailable ready (gang) and, for reclaim, their queue is reclaimable and holds more than it
        deserves (proportion). Per-victim budgets are applied in the what-if."""
        pool: dict[int, list[SimPod]] = {}
        for vj in self.jobs:
            if len(vj.ready_tasks()) <= vj.min_available:
                continue
            if not same_queue:
                vq = self.queues.get(vj.queue)
                spec = self.ctrl.section.queues.get(vj.queue)
                if vq is None or spec is None or not spec.reclaimable or less_equal(vq.allocated, vq.deserved):
                    continue
            for v in vj.running():
                if 0 <= v.node < self.n:
                    pool.setdefault(v.node, []).append(v)
        return pool

    def _what_if(self, job: VolcanoJob, q: QueueAttr, same_queue: bool, need: list[SimPod],
                 pool: dict[int, list[SimPod]]) -> list[tuple[SimPod, int]]:
        """Victims (pod, node) that make room for every task in ``need``, or [] when none do."""
        total: Res = {}
        for pod in need:
            total = add(total, self.res(pod))
        if not same_queue and not less_equal(add(q.allocated, total), q.deserved,
                                             [k for k, v in total.items() if v > 0]):
            return []  # the proportion plugin would not let the job in even with room
        free = self.free.copy()
        budget: dict[str, int] = {}
        queue_alloc = {name: dict(a.allocated) for name, a in self.queues.items()}
        chosen: list[tuple[SimPod, int]] = []
        taken: set[int] = set()
        for pod in need:
            shape = pod.shape
            if shape.example is None:
                shape.example = pod
            shape.node_mask(self.cluster)
            req = shape.reqcol[:, 0]
            idx = shape.idx[shape.idx < self.n]
            fits = idx[(free[:, idx] >= shape.reqcol).all(axis=0)] if idx.size else idx
            if fits.size:
                node = int(fits[0])
            else:
                node = -1
                for cand in (int(i) for i in idx if int(i) in pool):
                    trial: list[SimPod] = []
                    col = free[:, cand].copy()
                    for v in self._victims_on(cand, job, same_queue, taken, budget, queue_alloc, pool):
                        trial.append(v)
                        col += self.vec(v)
                        if (col >= req).all():
                            break
                    if not (col >= req).all():
                        continue
                    for v in trial:
                        free[:, cand] += self.vec(v)
                        taken.add(v.seq)
                        vj = self.ctrl.job_of(v)
                        budget[vj.key] = budget.get(vj.key, len(vj.ready_tasks()) - vj.min_available) - 1
                        queue_alloc[vj.queue] = add(queue_alloc[vj.queue], self.res(v), -1)
                        chosen.append((v, cand))
                    node = cand
                    break
                if node < 0:
                    return []
            free[:, node] -= req
        return chosen

    def _victims_on(self, node: int, job: VolcanoJob, same_queue: bool, taken: set[int], budget: dict[str, int],
                    queue_alloc: dict[str, Res], pool: dict[int, list[SimPod]]) -> list[SimPod]:
        """Evictable Volcano tasks on ``node``, lowest priority / newest first, honouring the gang and
        proportion filters against the running what-if tallies."""
        out: list[tuple[tuple[int, float, int], SimPod]] = []
        left = dict(budget)
        alloc = {k: dict(v) for k, v in queue_alloc.items()}
        for v in sorted(pool.get(node, ()), key=lambda p: (p.priority, -p.created, -p.seq)):
            if v.seq in taken or v.phase != "Running":
                continue
            vj = self.ctrl.job_of(v)
            if vj is None or vj is job:
                continue
            if same_queue:
                if vj.queue != job.queue or vj.priority >= job.priority:
                    continue
            else:
                if vj.queue == job.queue or less_equal(alloc[vj.queue], self.queues[vj.queue].deserved):
                    continue  # the victim's queue holds no more than it deserves
            n = left.get(vj.key, len(vj.ready_tasks()) - vj.min_available)
            if n <= 0:
                continue  # the gang plugin: never below minAvailable
            left[vj.key] = n - 1
            if not same_queue:
                alloc[vj.queue] = add(alloc[vj.queue], self.res(v), -1)
            out.append(((vj.priority, -vj.created, -v.seq), v))
        return [v for _, v in out]

    # ------------------------------------------------------------------ close

    def close(self) -> None:
        """The gang plugin's conditions and ``getPodGroupPhase`` for every job with tasks."""
        for job in self.jobs:
            new = self.new_pods
            tasks = [p for p in job.tasks() if p.seq not in new]  # pods created in this session wait for the next
            unschedulable = False
            job_fit_errors = ""
            if tasks and job.phase != COMPLETED:
                if job.is_ready():
                    self.ctrl.set_condition(job, "Scheduled", SCHEDULED_REASON, "")
                else:
                    unschedulable = True
                    job_fit_errors = self.gang_message(job, tasks)
                    self.ctrl.set_condition(job, "Unschedulable", NOT_ENOUGH_RESOURCES, job_fit_errors)
            self.ctrl.set_phase(job, phase_of(job, unschedulable))
            self._pod_conditions(job, tasks, job_fit_errors)

    def _pod_conditions(self, job: VolcanoJob, tasks: list[SimPod], job_fit_errors: str) -> None:
        """``RecordJobStatusEvent``'s per-task part: each pending task's ``PodScheduled=False`` condition —
        ``Schedulable`` ("can possibly be assigned") for a task allocated in a discarded statement, else
        ``Unschedulable`` with its own fit error (the job's first failing task), else the gang plugin's
        job message, else ``all nodes are unavailable``."""
        fe = self.fit_errors.get(job.key)
        for p in tasks:
            if p.phase != "Pending" or p.node >= 0:
                continue
            node = self.schedulable.get(p.seq)
            if node is not None:
                self.ctrl.pod_unschedulable(p, "Schedulable", f"Pod {p.namespace}/{p.name} can possibly be assigned "
                                                              f"to {self.cluster.nodes[node].name}")
            elif fe is not None and fe[0] == p.name:
                self.ctrl.pod_unschedulable(p, "Unschedulable", fe[1])
            else:
                self.ctrl.pod_unschedulable(p, "Unschedulable", job_fit_errors or ALL_NODES_UNAVAILABLE)

    def gang_message(self, job: VolcanoJob, tasks: list[SimPod]) -> str:
        """``"<n>/<m> tasks in gang unschedulable: <JobInfo.FitError()>"`` over the session's ``tasks``."""
        pending = [p for p in tasks if p.phase == "Pending"]
        schedulable = sum(1 for p in pending if p.seq in self.schedulable) + len(job.ready_tasks())
        unready = job.min_available - schedulable
        status: dict[str, int] = {}
        for p in tasks:
            status[p.phase] = status.get(p.phase, 0) + 1
        status["minAvailable"] = job.min_available
        hist = ", ".join(sorted(f"{v} {k}" for k, v in status.items()))
        ready = "pod group is ready" if job.is_ready() else "pod group is not ready"
        msg = f"{ready}, {hist}"
        why: dict[str, int] = {}
        for p in pending:
            r = "Schedulable" if p.seq in self.schedulable else "Unschedulable"
            why[r] = why.get(r, 0) + 1
        if why:
            msg += "; Pending: " + ", ".join(sorted(f"{v} {k}" for k, v in why.items()))
        fe = self.fit_errors.get(job.key)
        if fe is not None:
            msg += f". Origin reason is {fe[0]}: {fe[1]}"
        return f"{unready}/{len(tasks)} tasks in gang unschedulable: {msg}"


def phase_of(job: VolcanoJob, unschedulable: bool) -> str:
    """Upstream ``getPodGroupPhase``."""
    if unschedulable and job.running():
        return UNKNOWN
    scheduled = [p for p in job.tasks() if p.phase in ("Running", "Succeeded", "Failed")]
    completed = [p for p in scheduled if p.phase in ("Succeeded", "Failed")]
    if job.tasks() and len(scheduled) >= job.min_available:
        return COMPLETED if len(scheduled) == len(completed) else RUNNING
    if job.phase != INQUEUE:
        return PENDING
    return job.phase
