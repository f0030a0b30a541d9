"""cluster-autoscaler's binpacking estimator: how many template nodes would the pending pods need?

Upstream (``estimator/binpacking_estimator.go``) asks, per node group, on a forked cluster snapshot:
add a template node, put pending pods on the new nodes with the scheduler's predicates, add another
node when a pod fits none of them, stop at the group's maximum. Pods are taken largest first. Here the
Filter verdicts (taints, nodeSelector, node affinity — the scheduler's own plugins) are asked once per
pod shape on a template node added to a fork of the :class:`sim.cluster.ClusterState` (reverted on
exit); the packing itself is integer arithmetic on free-capacity vectors, since template nodes are
identical and pods of one shape are interchangeable.
"""

from __future__ import annotations

from collections.abc import Sequence

from sim.cluster import ClusterState, Pool
from sim.pods import PodShape

Req = tuple[tuple[int, int], ...]
#: more pods than any node holds (a pod that requests nothing fits without limit)
UNBOUNDED = 1 << 40


def fit_count(free: Sequence[int], req: Req) -> int:
    """How many pods requesting ``req`` fit in ``free`` (NodeResourcesFit, repeated)."""
    n = UNBOUNDED
    for r, q in req:
        k = free[r] // q
        if k < n:
            n = k
    return max(n, 0)


def take(free: list[int], req: Req, k: int) -> None:
    for r, q in req:
        free[r] -= q * k


def pack(req: Req, count: int, nodes: list[list[int]], alloc: Sequence[int] | None, room: int) -> tuple[int, int]:
    """Place up to ``count`` pods of ``req`` first-fit on ``nodes`` (free vectors, changed in place), then
    on up to ``room`` new nodes of ``alloc`` (appended). Returns (pods placed, nodes opened)."""
    placed = 0
    for free in nodes:
        if placed == count:
            break
        k = min(count - placed, fit_count(free, req))
        if k > 0:
            take(free, req, k)
            placed += k
    opened = 0
    if alloc is not None:
        per_node = fit_count(alloc, req)
        while placed < count and opened < room and per_node > 0:
            free = list(alloc)
            k = min(count - placed, per_node)
            take(free, req, k)
            nodes.append(free)
            placed += k
            opened += 1
    return placed, opened


def template_verdicts(cluster: ClusterState, pools: Sequence[Pool], shapes: Sequence[PodShape],
                      now: float) -> dict[tuple[int, str], str | None]:
    """Per (shape id, pool name): why a template node of the pool refuses a pod of the shape (the first
    Filter plugin's reason, or ``Insufficient <resource>`` when the empty node is too small), or None."""
    out: dict[tuple[int, str], str | None] = {}
    with cluster.forked():
        for pool in pools:
            node = cluster.add_node(f"template-node-for-{pool.name}", pool, now)
            alloc = cluster.pyfree[node.idx]
            for shape in shapes:
                reason = shape.reason_for(cluster, node.idx) if shape.example is not None else None
                if reason is None:
                    short = [cluster.resources[r] for r, q in shape.req if alloc[r] < q]
                    if short:
                        reason = f"Insufficient {short[0]}"
                out[(id(shape), pool.name)] = reason
    return out


def size_score(req: Req, alloc: Sequence[int]) -> float:
    """Upstream's pod order for binpacking: the pod's share of the template node, largest first."""
    return sum(q / alloc[r] for r, q in req if alloc[r] > 0)
