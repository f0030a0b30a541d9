"""The controller host: what the engine offers to the controllers that run beside the scheduler.

In a cluster, the scheduler is one control loop among many: the Job controller creates pods, Kueue
admits workloads, the cluster autoscaler adds nodes, the HPA resizes Deployments, the DRA claim
controller creates claims. Each watches the API server for the objects it cares about and acts on a
clock of its own (a resync period, a scan interval). kubetwin's engine hosts such controllers the same
way: a :class:`Controller` is started once with the :class:`ControllerHost`, subscribes to the cluster
events it cares about (:data:`CLUSTER_EVENTS`) and uses timers; an :class:`ArrivalSource` (workload
generators today, a recorded timeline for replays) creates workload instances over time. The engine
imports no controller and no controller imports the engine: both sides meet here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sim.cluster import ClusterState, Node, Pool
    from sim.pods import SimPod
    from sim.workloads import Instance

#: what a controller can subscribe to, and the arguments its callback gets
CLUSTER_EVENTS: dict[str, str] = {
    "pod_created": "(pod)",
    "pod_unschedulable": "(pod, message)",
    "pod_binding": "(pod, node index) — just before its Scheduled event (after PreBind)",
    "pod_bound": "(pod, node index)",
    "pod_finished": "(pod, phase: Succeeded | Failed | Deleted | Preempted)",
    "node_added": "(node)",
    "node_removed": "(node)",
}

#: gang policies whose pods another scheduler places (``schedulerName: volcano``): the default scheduler
#: never queues them; their controller binds them with :meth:`ControllerHost.bind`
EXTERNAL_GANG_POLICIES = frozenset({"volcano"})


class Timer(Protocol):
    def cancel(self) -> bool: ...


class ControllerHost(Protocol):
    """The engine, as controllers see it."""

    @property
    def now(self) -> float: ...

    @property
    def cluster(self) -> ClusterState: ...

    @property
    def env(self) -> Any:
        """The simpy Environment (for arrival sources and controllers that run as processes)."""

    def subscribe(self, event: str, fn: Callable[..., None]) -> None:
        """Call ``fn`` on every cluster event ``event`` (a key of :data:`CLUSTER_EVENTS`)."""

    def extend_node_ready(self, fn: Callable[[Node], dict[str, Any]]) -> None:
        """``fn(node)`` adds keys to each ``NodeReady.data`` (e.g. the node's DRA devices)."""

    def extend_pod_created(self, fn: Callable[[SimPod], dict[str, Any] | None]) -> None:
        """``fn(pod)`` adds keys to each ``PodCreated.data`` before it is written."""

    def call_at(self, t: float, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` at simulated time ``t`` (a pending timer keeps the run from ending idle)."""

    def process(self, body: Iterator[Any]) -> None:
        """Run a simpy process (a generator that yields ``env.timeout(seconds)`` events) on the clock."""

    def every(self, interval: float, fn: Callable[[], None], *, start: float = 0.0) -> None:
        """Run ``fn`` every ``interval`` seconds from ``start`` (a resync loop; does not keep the run alive)."""

    def emit(self, type_: str, kind: str, name: str, namespace: str | None = None, *, node: str | None = None,
             group: str | None = None, reason: str | None = None, data: dict[str, Any] | None = None) -> None:
        """Write a timeline event now."""

    def kick(self) -> None:
        """Wake the scheduler (something may have become schedulable)."""

    def create_pods(self, inst: Instance, node_selector: dict[str, dict[str, str]],
                    tolerations: dict[str, list[dict[str, Any]]], prefix: str | None = None) -> None:
        """Create the pods of ``inst`` now (a suspended Job was admitted), per pod set with extra node
        selector labels and tolerations (keyed by pod-set name, ``main`` for an unnamed one); pod names
        start with ``prefix`` (default: the instance name)."""

    def delete_pods(self, inst: Instance, reason: str) -> None:
        """Delete every live pod of ``inst`` now (its Job was suspended); capacity is freed at once."""

    def bind(self, pod: SimPod, node: int) -> None:
        """A scheduler other than the default one binds ``pod`` to node ``node`` now (``Scheduled``); the
        caller has checked that it fits."""

    def report_unschedulable(self, pod: SimPod, reason: str, message: str) -> None:
        """A scheduler other than the default one sets the pod's ``PodScheduled=False`` condition now: a
        ``FailedScheduling`` event (``data.conditionReason`` = ``reason``) and, when ``reason`` is
        ``Unschedulable``, the ``pod_unschedulable`` subscribers (the cluster autoscaler acts on those)."""

    def evict(self, pod: SimPod, reason: str) -> None:
        """A scheduler other than the default one evicts the bound ``pod`` now (``PodDeleted`` with
        ``reason``); its owner recreates it, pending."""

    def add_node(self, pool: Pool, name: str | None = None) -> Node:
        """A new node of ``pool`` registers and is Ready now (``NodeReady``)."""

    def remove_node(self, node: int, reason: str) -> None:
        """The node goes away now: its pods fail (``PodFailed``), then ``NodeRemoved``."""

    def cordon(self, node: int, reason: str = "cordoned") -> None:
        """The node takes no new pods (``NodeNotSchedulable``); its pods stay."""

    def uncordon(self, node: int) -> None:
        """The node takes pods again (``NodeSchedulable``)."""

    def drain(self, node: int) -> None:
        """Cordon, then evict the node's pods (``PodDeleted``; plain pods are recreated elsewhere)."""


class Controller(Protocol):
    """A control loop beside the scheduler."""

    name: str

    def start(self, host: ControllerHost) -> None:
        """Subscribe to cluster events and start timers; called once before the clock starts."""


class Admitter(Protocol):
    """A controller that takes over some workload instances on arrival (Kueue: suspended Jobs)."""

    def takes(self, inst: Instance) -> bool:
        """True when this controller owns ``inst`` from now on and will create its pods itself."""

    def submit(self, inst: Instance) -> None: ...


class ArrivalSource(Protocol):
    """Where workload instances come from (generators; a recorded timeline)."""

    def start(self, host: ControllerHost, arrive: Callable[[Any, int], None], done: Callable[[], None]) -> None:
        """Call ``arrive(generator, ordinal)`` at each arrival, then ``done()`` when nothing more comes."""


