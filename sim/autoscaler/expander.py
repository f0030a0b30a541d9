"""cluster-autoscaler's expanders: which node group to grow when several would help.

Each expander keeps the best options (ties stay); a chain (``priority,least-waste``) applies them in
order and a seeded random choice breaks what ties remain, as upstream does (``expander/``):

* ``least-waste`` — least idle CPU and memory after the scale-up (sum of the two idle fractions);
  a template with neither is judged on its accelerators, else on all its resources;
* ``most-pods`` — the most pending pods helped; ``least-nodes`` — the fewest new nodes;
* ``price`` — the lowest cost per pod helped (new nodes × ``pricePerHour`` ÷ pods; unpriced pools last);
* ``priority`` — the highest priority whose regular expressions match the pool name (a search, like
  Go's ``regexp.MatchString``); when none match, every option stays;
* ``random`` — no preference.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from sim.cluster import is_accelerator

Req = tuple[tuple[int, int], ...]


@dataclass
class Option:
    """Growing ``pool`` by ``nodes`` would let ``pods`` (with these summed requests) schedule."""

    pool: str
    nodes: int
    pods: list[Any]
    requested: list[int]
    alloc: list[int]
    price: float | None = None
    waste: float = field(default=0.0)


def waste_rows(resources: list[str], alloc: list[int]) -> list[int]:
    rows = [i for i, r in enumerate(resources) if r in ("cpu", "memory") and alloc[i] > 0]
    if not rows:
        rows = [i for i, r in enumerate(resources) if is_accelerator(r) and alloc[i] > 0]
    if not rows:
        rows = [i for i, r in enumerate(resources) if r != "pods" and alloc[i] > 0]
    return rows


def least_waste(options: list[Option], resources: list[str]) -> list[Option]:
    for o in options:
        w = 0.0
        for r in waste_rows(resources, o.alloc):
            avail = o.alloc[r] * o.nodes
            w += (avail - o.requested[r]) / avail
        o.waste = w
    best = min(o.waste for o in options)
    return [o for o in options if o.waste <= best + 1e-12]


def _price(o: Option) -> float:
    return float("inf") if o.price is None else o.nodes * o.price / max(1, len(o.pods))


def priority(options: list[Option], priorities: dict[int, list[str]]) -> list[Option]:
    def prio(o: Option) -> int | None:
        got = [p for p, pats in priorities.items() if any(re.search(x, o.pool) for x in pats)]
        return max(got) if got else None

    ranked = [(prio(o), o) for o in options]
    known = [p for p, _ in ranked if p is not None]
    if not known:
        return options
    top = max(known)
    return [o for p, o in ranked if p == top]


def choose(options: list[Option], chain: list[str], resources: list[str], priorities: dict[int, list[str]],
           rng: random.Random) -> Option:
    """The option the expander chain picks (options in pool-name order; ties broken by ``rng``)."""
    left = sorted(options, key=lambda o: o.pool)
    for name in chain:
        if len(left) <= 1:
            break
        if name == "least-waste":
            left = least_waste(left, resources)
        elif name == "most-pods":
            most = max(len(o.pods) for o in left)
            left = [o for o in left if len(o.pods) == most]
        elif name == "least-nodes":
            fewest = min(o.nodes for o in left)
            left = [o for o in left if o.nodes == fewest]
        elif name == "price":
            cheapest = min(_price(o) for o in left)
            left = [o for o in left if _price(o) == cheapest]
        elif name == "priority":
            left = priority(left, priorities)
    return left[0] if len(left) == 1 else left[rng.randrange(len(left))]
