"""kube-scheduler's scheduling framework: plugins at extension points, a registry, and profiles.

kube-scheduler is a small core that runs *plugins* at fixed extension points of each scheduling
cycle (``pkg/scheduler/framework/interface.go``): PreEnqueue gates a pod out of the queue, PreFilter
looks at the pod once (and may say *Skip*: "my Filter has nothing to say about this pod"), Filter
says whether one node can run it (with a reason when not), PostFilter runs when no node can
(DefaultPreemption), Score ranks the feasible nodes and NormalizeScore maps each plugin's scores to
0–100 before they are weighted and summed, Reserve/Unreserve hold and give back what the pod takes,
Permit lets a pod wait (gangs), PreBind writes what binding needs (DRA claim allocations). A
*profile* (``KubeSchedulerConfiguration.profiles[]``) names the plugins and score weights.

kubetwin keeps that shape. A plugin is a plain object with a ``name``, the ``depends`` set below and
any of the extension-point methods (:class:`PreEnqueue`, :class:`PreFilter`, :class:`Filter`,
:class:`PostFilter`, :class:`Score`, :class:`Reserve`, :class:`Permit`, :class:`PreBind`); the
profile is built from the scenario's ``scheduler`` section and the :data:`REGISTRY` of in-tree plugins.

**What a verdict depends on.** The simulator's fast paths — a free-capacity bucket index that treats
nodes of one pool with equal free vectors as interchangeable, a per-shape node mask, and the cached
"no node fits this shape" answer — are exact only while every Filter and Score verdict depends on
nothing but the node's pool (labels, taints), its identity (its own labels, e.g. hostname) and its
free capacity. Each plugin declares what its verdicts read in ``depends``:

* ``"pool"`` — the node pool's labels and taints (the same for every node of a pool);
* ``"node"`` — the node's own identity (per-node labels);
* ``"free"`` — the node's free allocatable resources;
* ``"state"`` — anything else (devices and their allocations, per-GPU free memory…). A plugin that
  reads state must also expose ``state_version() -> int`` that changes whenever that state does.

For a pod whose PreFilter did not Skip a ``"state"`` plugin, the scheduler switches the fast paths off
by itself: it takes the nodes that pass the pool/node/free plugins, orders them by score and asks the
state plugins node by node. A plugin whose Score needs the whole feasible set to normalize sets
``normalize_over_feasible = True`` and then every feasible node is filtered before scoring.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from sim.gpushare.policy_names import POLICY_NAMES as GPU_SHARING_POLICIES

if TYPE_CHECKING:
    from sim.cluster import ClusterState
    from sim.pods import SimPod

Depends = Literal["pool", "node", "free", "state"]
#: the dependencies the fast paths understand
FAST: frozenset[str] = frozenset({"pool", "node", "free"})

#: kube-scheduler's MaxNodeScore
MAX_NODE_SCORE = 100

#: per-attempt scratch space shared by a pod's plugins (kube-scheduler's CycleState)
CycleState = dict[str, Any]
Nodes = npt.NDArray[np.intp]
Scores = npt.NDArray[np.int64]


class Skip:
    """PreFilter's *Skip*: this plugin's Filter (and Score) have nothing to say about this pod."""


SKIP = Skip()


@runtime_checkable
class Plugin(Protocol):
    name: str
    depends: frozenset[str]


@runtime_checkable
class PreEnqueue(Plugin, Protocol):
    def pre_enqueue(self, pod: SimPod) -> bool:
        """False keeps the pod out of the active queue (it is retried when :meth:`Scheduler.release_gate`
        is called for it)."""


@runtime_checkable
class PreFilter(Plugin, Protocol):
    def pre_filter(self, pod: SimPod, state: CycleState) -> Skip | str | None:
        """``None``: go on; :data:`SKIP`: this plugin ignores the pod; a string: the pod cannot be
        scheduled anywhere (UnschedulableAndUnresolvable), the string is the FitError reason."""


@runtime_checkable
class Filter(Plugin, Protocol):
    def filter(self, pod: SimPod, node: int, state: CycleState) -> str | None:
        """``None`` if ``node`` can run ``pod``, else the reason (one FitError reason text)."""


@runtime_checkable
class PostFilter(Plugin, Protocol):
    def post_filter(self, pod: SimPod, state: CycleState) -> bool:
        """No node passed Filter: try to make room (DefaultPreemption). True when the pod was placed."""


@runtime_checkable
class Score(Plugin, Protocol):
    def score(self, pod: SimPod, nodes: Nodes, state: CycleState) -> Scores:
        """A raw score per node of ``nodes`` (feasible nodes, in node-index order)."""

    def normalize(self, scores: Scores) -> Scores:
        """Map raw scores to [0, MAX_NODE_SCORE] (kube-scheduler's NormalizeScore)."""


@runtime_checkable
class Reserve(Plugin, Protocol):
    def reserve(self, pod: SimPod, node: int, state: CycleState) -> str | None:
        """Take what the pod needs on ``node``; a string means it could not (the cycle fails)."""

    def unreserve(self, pod: SimPod, node: int, state: CycleState) -> None:
        """Give back what :meth:`reserve` took (the pod was rejected at Permit, or deleted)."""


@runtime_checkable
class Permit(Plugin, Protocol):
    def permit(self, pod: SimPod, node: int, state: CycleState) -> bool:
        """True: bind now. False: the pod waits at Permit, holding its reservation; the plugin later
        calls ``scheduler.bind(pod)`` or ``scheduler.reject([pod], message)``."""


@runtime_checkable
class PreBind(Plugin, Protocol):
    def pre_bind(self, pod: SimPod, node: int, state: CycleState) -> None:
        """Write what binding needs (e.g. DRA claim allocations) just before the pod is bound."""


def default_normalize(scores: Scores, reverse: bool = False) -> Scores:
    """kube-scheduler's ``helper.DefaultNormalizeScore``: scale to [0, 100] by the maximum; ``reverse``
    flips it (100 − s). All-zero scores stay 0, or become 100 when reversed."""
    if scores.size == 0:
        return scores
    top = int(scores.max())
    if top == 0:
        return np.full_like(scores, MAX_NODE_SCORE) if reverse else scores
    out: Scores = scores * MAX_NODE_SCORE // top
    if reverse:
        out = MAX_NODE_SCORE - out
    return out


@dataclass
class ScoreEntry:
    plugin: Any
    weight: int


@dataclass
class Profile:
    """The plugins enabled at each extension point, in order, and the score weights."""

    name: str
    pre_enqueue: list[Any]
    pre_filter: list[Any]
    filter: list[Any]
    post_filter: list[Any]
    score: list[ScoreEntry]
    reserve: list[Any]
    permit: list[Any]
    pre_bind: list[Any]



PluginFactory = Callable[..., Any]

#: plugins whose module is imported on first lookup, not at start-up: name -> module (the module
#: registers the name when imported). DynamicResources and the GPU-sharing policies pull in the DRA
#: allocator and CEL, or the GPU-sharing policies, which a scenario without them never needs.
LAZY_PLUGINS: dict[str, str] = {
    "DynamicResources": "sim.dra.plugin",
    **dict.fromkeys(GPU_SHARING_POLICIES, "sim.plugins.gpusharing"),
}


class Registry(Mapping[str, PluginFactory]):
    """Plugin factories by name. A name of :data:`LAZY_PLUGINS` is listed (``in``, iteration) before
    its module is loaded; looking it up imports the module, which registers it."""

    def __init__(self, lazy: Mapping[str, str]) -> None:
        self._factories: dict[str, PluginFactory] = {}
        self._lazy = dict(lazy)

    def add(self, name: str, factory: PluginFactory) -> None:
        if name in self._factories:
            raise ValueError(f"plugin {name!r} is registered twice")
        self._factories[name] = factory

    def __getitem__(self, name: str) -> PluginFactory:
        factory = self._factories.get(name)
        if factory is None and name in self._lazy:
            importlib.import_module(self._lazy[name])
            factory = self._factories.get(name)
        if factory is None:
            raise KeyError(name)
        return factory

    def __contains__(self, name: object) -> bool:
        return name in self._factories or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter({**self._factories, **self._lazy})

    def __len__(self) -> int:
        return len({**self._factories, **self._lazy})


#: in-tree plugins by name: name -> factory(context) (filled by :mod:`sim.plugins` and :data:`LAZY_PLUGINS`)
REGISTRY = Registry(LAZY_PLUGINS)


def register(name: str) -> Callable[[PluginFactory], PluginFactory]:
    """Decorator: add a plugin factory to :data:`REGISTRY` under ``name``."""
    def deco(factory: PluginFactory) -> PluginFactory:
        REGISTRY.add(name, factory)
        return factory
    return deco


def build_profile(name: str, plugins: list[Any], weights: dict[str, int] | None = None) -> Profile:
    """A profile from plugin instances: each lands at every extension point it implements, in order."""
    weights = weights or {}
    return Profile(
        name=name,
        pre_enqueue=[p for p in plugins if isinstance(p, PreEnqueue)],
        pre_filter=[p for p in plugins if isinstance(p, PreFilter)],
        filter=[p for p in plugins if isinstance(p, Filter)],
        post_filter=[p for p in plugins if isinstance(p, PostFilter)],
        score=[ScoreEntry(p, weights.get(p.name, getattr(p, "weight", 1))) for p in plugins if isinstance(p, Score)],
        reserve=[p for p in plugins if isinstance(p, Reserve)],
        permit=[p for p in plugins if isinstance(p, Permit)],
        pre_bind=[p for p in plugins if isinstance(p, PreBind)],
    )


@dataclass
class PluginContext:
    """What a plugin factory gets (kube-scheduler's ``framework.Handle``): the cluster, the engine as
    host, the scheduler core, and the profile's NodeResourcesFit settings."""

    cluster: ClusterState
    host: Any
    scheduler: Any
    scoring: str = "LeastAllocated"
    score_resources: list[tuple[str, int]] = field(default_factory=list)
    percentage_of_nodes_to_score: int | None = None
