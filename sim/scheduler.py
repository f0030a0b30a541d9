"""The scheduler: kube-scheduler's framework core — the queue and one scheduling cycle per pod.

The core runs the plugins of a :class:`sim.framework.Profile` at their extension points:

1. **queue sort** — ``PrioritySort``: higher ``priority`` first, then earlier creation (gang members
   share their group's creation time, so they sit next to each other, as coscheduling's QueueSort
   does);
2. **pre-enqueue** — a pod enters the active queue only when every PreEnqueue plugin lets it (the gang
   gate: ``minCount`` members must exist);
3. **pre-filter** — plugins look at the pod once and may *Skip* (their Filter and Score then ignore it);
4. **filter** — the Filter plugins; those that look only at a node's pool, identity and free capacity
   (TaintToleration, NodeAffinity, NodeResourcesFit) run through the fast paths of
   :class:`sim.plugins.noderesources.NodeResourcesFit` and :class:`sim.pods.PodShape`; plugins that
   read other state (``depends`` has ``"state"``: DRA) are asked node by node;
5. **post-filter** — when no node passes (DefaultPreemption; Coscheduling's optimistic rejection);
6. **score** — each Score plugin's scores normalized to 0–100, weighted and summed; ties go to the
   lowest node index (kubetwin scores every feasible node by default: ``percentageOfNodesToScore:
   100``, see docs/decisions.md);
7. **reserve** — the pod's requests are taken from the node (and Reserve plugins take theirs);
8. **permit** — a Permit plugin may make the pod wait, holding its reservation (gangs);
9. **pre-bind** and **bind** — ``Scheduled`` with the node.

A pod that fails is parked by shape (its requests and constraints). It is retried only when a
cluster event can make it fit — capacity freed on a node its shape fits, or a node added — never by
polling; on retry it honours kube-scheduler's backoff (1 s doubling to 10 s). ``FailedScheduling``
is emitted on a pod's first failure and whenever the message changes: the Kubernetes event recorder
aggregates identical repeats into one Event with a count, and so does the timeline.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from sim.cluster import ClusterState
from sim.framework import FAST, REGISTRY, SKIP, CycleState, PluginContext, ScoreEntry, build_profile
from sim.plugins import DEFAULT_PLUGINS
from sim.plugins.noderesources import NodeResourcesFit
from sim.pods import GangGroup, PodShape, SimPod

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 10.0


class Cancellable(Protocol):
    def cancel(self) -> bool: ...


class Host(Protocol):
    """What the scheduler and its plugins need from the engine around it."""

    @property
    def now(self) -> float: ...

    def on_bind(self, pod: SimPod, node: int) -> None: ...

    def on_failed_scheduling(self, pod: SimPod, message: str) -> None: ...

    def on_gang_timeout(self, group: GangGroup, waiting: list[SimPod]) -> None: ...

    def call_at(self, t: float, fn: Callable[[], None]) -> Cancellable: ...

    def kick(self) -> None: ...

    def preempt(self, pod: SimPod, node: int, victims: list[SimPod]) -> None: ...


class Scheduler:
    """The queue and the cycle; the plugins of ``profile`` decide (see :mod:`sim.framework`)."""

    def __init__(self, host: Host, cluster: ClusterState, *, scoring: str = "LeastAllocated",
                 score_resources: list[tuple[str, int]] | None = None,
                 percentage_of_nodes_to_score: int | None = None, plugins: list[str] | None = None,
                 weights: dict[str, int] | None = None, extra_plugins: list[Any] | None = None) -> None:
        """Build the profile: the named in-tree plugins (default: :data:`sim.plugins.DEFAULT_PLUGINS`)
        from the registry, plus ``extra_plugins`` instances (e.g. DRA's, made by its controller)."""
        self.host = host
        self.cluster = cluster
        self.context = PluginContext(cluster, host, self, scoring, list(score_resources or []),
                                     percentage_of_nodes_to_score)
        names = [n for n in (plugins if plugins is not None else DEFAULT_PLUGINS) if n != "PrioritySort"]
        unknown = [n for n in names if n not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown scheduler plugin {unknown[0]!r}; known: {', '.join(sorted(REGISTRY))}")
        instances = [REGISTRY[n](self.context) for n in names] + list(extra_plugins or [])
        profile = build_profile("default-scheduler", instances, weights)
        self.profile = profile
        fits = [p for p in profile.filter if isinstance(p, NodeResourcesFit)]
        if len(fits) != 1:
            raise ValueError("a profile needs the NodeResourcesFit filter exactly once")
        self.fit: NodeResourcesFit = fits[0]
        #: Filter plugins decided per pool/node (cached on the shape), and the rest (asked per node)
        self.static_filters = [p for p in profile.filter if p is not self.fit and p.depends <= {"pool", "node"}]
        self.dynamic_filters = [p for p in profile.filter if p is not self.fit and not p.depends <= {"pool", "node"}]
        fit_scores = [e for e in profile.score if e.plugin is self.fit]
        self.fit_score: ScoreEntry | None = fit_scores[0] if fit_scores else None
        self.extra_scores = [e for e in profile.score if e.plugin is not self.fit]
        #: the fused cycle (:meth:`schedule_one`) applies: no PreFilter, Reserve, Permit or PreBind plugin runs,
        #: so a pod whose shape has no node-by-node Filter and no extra Score plugin is decided by
        #: NodeResourcesFit's fast path alone, with nothing to call around it
        self.fused = not (profile.pre_filter or profile.reserve or profile.permit or profile.pre_bind)
        self.active: list[tuple[int, float, int, SimPod]] = []
        self.backoff: list[tuple[float, int, SimPod]] = []
        #: shapes with parked pods, in the order they started waiting (a shape leaves once its heap is
        #: empty at the start of a :meth:`capacity_changed`)
        self.shapes_waiting: dict[object, PodShape] = {}
        #: bumped whenever a shape starts or stops waiting; with the node set it keys ``_by_pool``
        self._waiting_changed = 0
        self._by_pool: dict[str, list[PodShape]] = {}
        self._by_pool_at: tuple[int, int] = (-1, -1)
        #: shapes whose heap emptied during the last :meth:`capacity_changed`
        self._emptied: list[object] = []
        #: priority -> its negation, one int object each (see :meth:`_unschedulable`)
        self._neg: dict[int, int] = {}

    # ------------------------------------------------------------------ queue

    def enqueue(self, pod: SimPod) -> None:
        if pod.shape.example is None:
            pod.shape.example = pod
        if self.profile.pre_enqueue:
            for p in self.profile.pre_enqueue:
                if not p.pre_enqueue(pod):
                    return  # gated (e.g. the group has fewer than minCount members yet)
        self._push_active(pod)

    def _push_active(self, pod: SimPod) -> None:
        if not pod.queued:
            pod.queued = True
            heapq.heappush(self.active, (-pod.priority, pod.sort_time, pod.seq, pod))

    def release_gate(self, group: GangGroup) -> None:
        """All members exist now: let the gated ones in."""
        for p in group.members:
            if p.phase == "Pending" and p.node < 0:
                self._push_active(p)

    def next_backoff(self) -> float | None:
        return self.backoff[0][0] if self.backoff else None

    def flush_backoff(self, now: float) -> None:
        while self.backoff and self.backoff[0][0] <= now:
            _, _, pod = heapq.heappop(self.backoff)
            pod.queued = False
            if pod.phase == "Pending" and pod.node < 0:
                self._push_active(pod)

    def run_cycle(self) -> None:
        """Schedule every pod in the active queue, in queue order."""
        active = self.active
        pop = heapq.heappop
        schedule_one = self.schedule_one
        while active:
            pod = pop(active)[3]
            pod.queued = False
            if pod.phase != "Pending" or pod.node >= 0:
                continue
            schedule_one(pod)

    # ------------------------------------------------------------------ one cycle

    def schedule_one(self, pod: SimPod) -> None:
        """One scheduling cycle for ``pod``.

        The fused cycle comes first: with a profile that has no PreFilter, Reserve, Permit or PreBind
        plugin (the default profile), a pod whose shape's plan asks no plugin node by node is decided by
        NodeResourcesFit's fast path alone — Filter and Score, Reserve, Bind — without a CycleState or a
        look at the empty extension points; what it does is exactly what the general cycle below does for
        such a pod (``tests/test_fused_cycle.py`` checks byte-identical timelines with it switched off).
        """
        shape = pod.shape
        if self.fused:
            cluster = self.cluster
            if shape.plan_version != cluster.version:
                shape.plan = self._plan(shape, set())
                shape.plan_version = cluster.version
            dynamic, extra = shape.plan
            if not dynamic and not extra:
                node = self.find_node(shape)
                if node < 0:
                    self._no_node(pod, {}, dynamic)
                    return
                cluster.reserve(node, shape.req)           # Reserve
                pod.node = node
                self.host.on_bind(pod, node)               # Bind
                return
        state: CycleState = {}
        profile = self.profile
        if profile.pre_filter:
            skipped: set[str] = set()
            for p in profile.pre_filter:
                verdict = p.pre_filter(pod, state)
                if verdict is SKIP:
                    skipped.add(p.name)
                elif isinstance(verdict, str):
                    self._unschedulable(pod, f"0/{self.cluster.nready} nodes are available: {verdict}.")
                    return
            dynamic, extra = self._plan(shape, skipped)
        else:  # nothing can Skip per pod: the plan is the shape's (cached until nodes change)
            if shape.plan_version != self.cluster.version:
                shape.plan = self._plan(shape, set())
                shape.plan_version = self.cluster.version
            dynamic, extra = shape.plan
        node = self._find_node_general(pod, state, dynamic, extra) if dynamic or extra else self.find_node(shape)
        if node < 0:
            self._no_node(pod, state, dynamic)
            return
        self.cluster.reserve(node, shape.req)              # Reserve
        pod.node = node
        if profile.reserve:
            done: list[Any] = []
            for p in profile.reserve:
                reason = p.reserve(pod, node, state)
                if reason is not None:
                    for q in done[::-1]:  # (not reversed(): mypyc 2.4 fails on it over list[Any])
                        q.unreserve(pod, node, state)
                    self.cluster.release(node, shape.req)
                    pod.node = -1
                    self._unschedulable(pod, reason)
                    return
                done.append(p)
        if profile.permit:
            pod.cycle = state
            for p in profile.permit:                       # Permit
                if not p.permit(pod, node, state):
                    return  # waiting; the plugin binds or rejects it later
        elif profile.pre_bind:
            pod.cycle = state
        else:
            self.host.on_bind(pod, node)                   # Bind (no PreBind plugin)
            return
        self.bind(pod)

    def _no_node(self, pod: SimPod, state: CycleState, dynamic: list[Any]) -> None:
        """No node passed Filter: PostFilter (DefaultPreemption), else the pod is unschedulable."""
        state["stateful"] = bool(dynamic) and any(not p.depends <= FAST for p in dynamic)
        for p in self.profile.post_filter:
            if p.post_filter(pod, state):
                return  # it made room and placed the pod
        self._unschedulable(pod, self.fit_error(pod, state, bool(dynamic)))
        for fn in state.get("after_failure", ()):
            fn()

    def _plan(self, shape: PodShape, skipped: set[str]) -> tuple[list[Any], list[ScoreEntry]]:
        """The Filter plugins asked node by node and the Score plugins beyond NodeResourcesFit that take
        part for this pod (a Score plugin that cannot tell nodes apart for the shape stays out)."""
        dynamic = [p for p in self.dynamic_filters if p.name not in skipped]
        extra = [e for e in self.extra_scores if e.plugin.name not in skipped
                 and (not hasattr(e.plugin, "scores_pod") or e.plugin.scores_pod(shape))]
        return dynamic, extra

    def bind(self, pod: SimPod) -> None:
        """PreBind, then Bind: the pod is on ``pod.node`` for good."""
        if self.profile.pre_bind:
            state = pod.cycle if pod.cycle is not None else {}
            for p in self.profile.pre_bind:
                p.pre_bind(pod, pod.node, state)
        pod.cycle = None
        self.host.on_bind(pod, pod.node)

    def reject(self, pods: list[SimPod], message: str) -> None:
        """Unreserve pods waiting at Permit; they go back to the queue with backoff."""
        freed: set[int] = set()
        for p in pods:
            state = p.cycle if p.cycle is not None else {}
            for plugin in self.profile.reserve[::-1]:
                plugin.unreserve(p, p.node, state)
            p.cycle = None
            freed.add(p.node)
            self.cluster.release(p.node, p.shape.req)
            p.node = -1
            p.phase = "Pending"
            self._unschedulable(p, message)
        for node in sorted(freed):
            self.capacity_changed(node)

    def _unschedulable(self, pod: SimPod, message: str) -> None:
        pod.attempts += 1
        pod.backoff_until = self.host.now + min(INITIAL_BACKOFF * 2 ** min(pod.attempts - 1, 16), MAX_BACKOFF)
        if message != pod.last_msg:  # the event recorder aggregates repeats of the same message
            pod.last_msg = message
            self.host.on_failed_scheduling(pod, message)
        shape = pod.shape
        if not pod.parked:  # once in its shape's heap is enough: its place there never changes
            pod.parked = True
            # one int object per priority as the entries' first item: equal entries then compare by identity
            # (thousands of pods of one priority wait under pressure, and entries are compared on every push)
            neg = self._neg.get(pod.priority)
            if neg is None:
                neg = self._neg[pod.priority] = -pod.priority
            shape.waiting.push((neg, pod.sort_time, pod.seq, pod))
        if shape.key not in self.shapes_waiting:
            self.shapes_waiting[shape.key] = shape
            self._waiting_changed += 1

    # ------------------------------------------------------------------ wake-ups

    def capacity_changed(self, node: int) -> None:
        """Capacity was freed on ``node`` (or it was added): move parked pods that may now fit there.

        Per shape, as many parked pods as the freed room can hold are moved, highest priority first (the
        queue order PrioritySort would pop them in); the rest stay parked, which is what trying them
        and failing again would amount to.
        """
        waiting_shapes = self.shapes_waiting
        if not waiting_shapes:
            return
        cluster = self.cluster
        if self._emptied:  # shapes whose last parked pod left in an earlier call, still with none
            for key in self._emptied:
                if not waiting_shapes[key].waiting:
                    del waiting_shapes[key]
                    self._waiting_changed += 1
            self._emptied = []
            if not waiting_shapes:
                return
        version = cluster.version
        if self._by_pool_at != (version, self._waiting_changed):
            self._index_waiting()
        shapes = self._by_pool.get(cluster.nodes[node].pool.name)
        if not shapes:
            return
        now = self.host.now
        row = cluster.pyfree[node]
        moved = False
        for shape in shapes:
            waiting = shape.waiting
            if not waiting:
                continue
            if shape.mask_version != version:
                shape.node_mask(cluster)
            mask = shape.mask_bytes
            if node >= len(mask) or not mask[node]:
                continue
            k = len(waiting)
            for r, q in shape.req:
                have = row[r]
                if have < q:
                    k = 0
                    break
                if have // q < k:
                    k = have // q
            if k <= 0:
                continue
            while k > 0 and waiting:
                pod = waiting.pop()
                pod.parked = False
                if pod.queued or pod.phase != "Pending" or pod.node >= 0:
                    continue
                k -= 1
                self._requeue(pod, now)
                if pod.gang is not None:
                    for sib in pod.gang.members:
                        if sib is not pod and sib.phase == "Pending" and sib.node < 0:
                            self._requeue(sib, now)
            if not waiting:
                self._emptied.append(shape.key)
            moved = True
        if moved:
            self.host.kick()

    def _index_waiting(self) -> None:
        """Per node pool, the shapes with parked pods that may use its nodes, in the order they started
        waiting (the order :meth:`capacity_changed` visits them in: a gang's pods of several shapes are
        requeued by the first shape visited)."""
        cluster = self.cluster
        by_pool: dict[str, list[PodShape]] = {name: [] for name in cluster.pools}
        for shape in self.shapes_waiting.values():
            shape.node_mask(cluster)
            for name in (cluster.pools if shape.per_node else shape.pools):
                by_pool[name].append(shape)
        self._by_pool = by_pool
        self._by_pool_at = (cluster.version, self._waiting_changed)

    def _requeue(self, pod: SimPod, now: float) -> None:
        if pod.queued:
            return
        if pod.backoff_until > now:
            pod.queued = True
            heapq.heappush(self.backoff, (pod.backoff_until, pod.seq, pod))
        else:
            self._push_active(pod)

    # ------------------------------------------------------------------ filter and score

    def find_node(self, shape: PodShape) -> int:
        """The fast path (only pool/node/free plugins apply): the best feasible node, or -1.

        "No node fits" is remembered: binds only take capacity away, so it stays true until a node the
        shape may use gains free capacity (a release: :attr:`sim.cluster.Pool.grown`) and can
        take the pod, or the node set changes. With ``percentageOfNodesToScore`` a search moves the
        shape's sampling cursor even when it finds nothing, so there it is remembered only while nothing
        at all changed.
        """
        cluster = self.cluster
        if not cluster.nodes or shape.failed_at == cluster.mutations:
            return -1  # nothing changed since this shape last found no node
        mark = shape.failed_mark
        if mark is not None:
            if self._fits_nowhere_still(shape, mark):
                shape.failed_mark = shape.fit_mark(cluster)
                shape.failed_at = cluster.mutations
                return -1
            shape.failed_mark = None
        segs = shape.segs if shape.mask_version == cluster.version else shape.segments(cluster)
        if not segs:
            return -1
        node = self.fit.best_node(shape, segs)
        if node < 0:
            shape.failed_at = cluster.mutations
            if self.fit.pct is None:
                shape.failed_mark = shape.fit_mark(cluster)
        return node

    def _fits_nowhere_still(self, shape: PodShape, mark: tuple[int, ...]) -> bool:
        """Does no node fit ``shape`` yet, given that none did at ``mark``? Only the nodes that gained
        free capacity since can have changed that verdict."""
        grown = shape.grown_since(self.cluster, mark)
        if grown is None:
            return False
        pyfree = self.cluster.pyfree
        req = shape.req
        for node in grown:
            row = pyfree[node]
            for r, q in req:
                if row[r] < q:
                    break
            else:
                return False
        return True

    def _find_node_general(self, pod: SimPod, state: CycleState, dynamic: list[Any],
                           extra: list[ScoreEntry]) -> int:
        """Filter with every plugin and score with every Score plugin (no caches, no bucket index).

        Nodes that pass the pool/node/free plugins are vector-filtered first; the other Filter
        plugins are asked node by node. With no other Score plugin and no sampling, nodes are asked in
        NodeResourcesFit score order and the first that passes wins (the same node a full pass would
        pick); otherwise every candidate is filtered, then all scores are normalized over the feasible
        nodes, weighted and summed.
        """
        cluster = self.cluster
        shape = pod.shape
        if cluster.n == 0:
            return -1
        mask = shape.node_mask(cluster)
        candidates = np.flatnonzero(mask[:cluster.n])
        candidates = candidates[self.fit.fits(shape, candidates)]
        reasons: dict[str, int] = {}
        state["dynamic_reasons"] = reasons

        def passes(node: int) -> bool:
            for p in dynamic:
                reason = p.filter(pod, node, state)
                if reason is not None:
                    reasons[reason] = reasons.get(reason, 0) + 1
                    return False
            return True

        if not extra and self.fit.pct is None:
            # nodes a plugin already knows cannot take this pod are skipped (their reasons still count)
            skipped: list[tuple[Any, list[int]]] = []
            for p in dynamic:
                known = p.known_misfits(pod, candidates, state) if hasattr(p, "known_misfits") else None
                if known is not None and known.any():
                    skipped.append((p, candidates[known].tolist()))
                    candidates = candidates[~known]
            scores = self.fit.score(pod, candidates, state)
            for i in np.lexsort((candidates, -scores)).tolist():
                node = int(candidates[i])
                if passes(node):
                    return node
            for p, nodes in skipped:  # no node: the skipped ones count under the reason they failed with
                for reason, count in p.misfit_reasons(nodes, state).items():
                    reasons[reason] = reasons.get(reason, 0) + count
            return -1
        feasible = np.array([c for c in candidates.tolist() if passes(c)], dtype=np.intp)
        feasible = self.fit.sample(shape, feasible)
        if feasible.size == 0:
            return -1
        total = np.zeros(feasible.size, dtype=np.int64)
        for entry in ([self.fit_score] if self.fit_score is not None else []) + extra:
            plugin = entry.plugin
            total += entry.weight * plugin.normalize(plugin.score(pod, feasible, state))
        return int(feasible[int(np.argmax(total))])

    def fit_error(self, pod: SimPod, state: CycleState, dynamic: bool) -> str:
        """kube-scheduler's FitError text: ``0/N nodes are available: <count> <reason>, ….``"""
        shape = pod.shape
        cluster = self.cluster
        if dynamic:
            return self._fit_error(shape, state.get("dynamic_reasons") or {})
        # the text reads the node set and, per requested resource, how many of the shape's nodes are short
        if shape.per_node or shape.mask_version != cluster.version:
            at: object = cluster.mutations
        else:
            at = (cluster.version, *self.fit.short_counts(shape))
        if shape.msg_at == at:
            return shape.msg
        shape.msg = self._fit_error(shape, {})
        shape.msg_at = at
        return shape.msg

    def _fit_error(self, shape: PodShape, extra: dict[str, int]) -> str:
        cluster = self.cluster
        n = cluster.n
        ready = cluster.ready[:n]
        counts: dict[str, int] = {}
        for pool in cluster.pools.values():
            if not pool.nodes:
                continue
            if shape.per_node:
                for i in pool.nodes:
                    if ready[i]:
                        reason = shape.reason_for(cluster, i)
                        if reason is not None:
                            counts[reason] = counts.get(reason, 0) + 1
                continue
            reason = shape.reason_for(cluster, pool.nodes[0])
            if reason is not None and pool.ready:
                counts[reason] = counts.get(reason, 0) + pool.ready
        self.fit.reason_counts(shape, counts)
        for reason, c in extra.items():
            counts[reason] = counts.get(reason, 0) + c
        parts = sorted(f"{c} {reason}" for reason, c in counts.items())
        msg = f"0/{cluster.nready} nodes are available"
        return msg + (": " + ", ".join(parts) + "." if parts else ".")
