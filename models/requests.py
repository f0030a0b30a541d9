"""A pod's effective resource requests, computed the way Kubernetes does.

This mirrors ``PodRequests`` of ``k8s.io/component-helpers/resource`` (what kube-scheduler's
NodeResourcesFit, the kubelet's admission and Kueue all use) together with the API server's
defaulting of container requests:

1. **Limits default requests.** A container resource with a limit and no request requests its limit
   (``SetDefaults_Pod``); for extended resources (``nvidia.com/gpu``…) requests must equal limits, so
   a limit alone is the request.
2. **App containers** run together: their requests add up.
3. **Init containers** run one at a time, in order. A *restartable* init container (a sidecar,
   ``restartPolicy: Always``, KEP-753) keeps running after it started, so it adds to everything after
   it: to each later init container and to the app containers. While init container *i* runs the pod
   uses ``requests(i) + Σ sidecars before i``; while sidecar *i* starts it uses ``Σ sidecars up to i``.
   The pod's requests are, per resource, the larger of the peak of that init sequence and
   ``Σ app containers + Σ sidecars``.
4. **Pod-level requests** (``spec.resources``, the PodLevelResources feature) replace the aggregate
   for the resources that support them (``cpu``, ``memory``, ``hugepages-*``); a pod-level limit with
   no pod-level request defaults it only when no container asks for that resource (otherwise the
   defaulted pod-level request equals the container aggregate, which changes nothing).
5. **Pod overhead** (``spec.overhead``, set from the RuntimeClass) is added last.

A resource that appears anywhere stays in the result, even at zero, as in Kubernetes' ResourceList.
The sum keeps the format of the first quantity seen for a resource and the maximum the format of the
larger one, as ``resource.Quantity.Add`` and ``maxResourceList`` do; callers pick their own printing.

:func:`pod_spec_requests` reads a pod spec in its JSON/YAML shape; the caller's ``read`` decides what
a malformed quantity means (an :class:`~models.errors.InputError` for a scenario, a skipped value for
a recording of a real cluster, whose API server already validated it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.quantity import Quantity

ResourceMap = Mapping[str, Quantity]

#: Reads one quantity from raw JSON: ``(value, field path)`` → the quantity, or None to skip it.
QuantityReader = Callable[[Any, str], Quantity | None]

#: Resources that pod-level ``spec.resources`` may set (plus the ``hugepages-`` prefix).
POD_LEVEL_RESOURCES: frozenset[str] = frozenset({"cpu", "memory"})


@dataclass(frozen=True, slots=True)
class InitContainer:
    """An init container's requests and whether it is restartable (a sidecar)."""

    requests: ResourceMap
    restartable: bool = False


def supports_pod_level(resource: str) -> bool:
    """True for the resources pod-level requests and limits may set."""
    return resource in POD_LEVEL_RESOURCES or resource.startswith("hugepages-")


def container_requests(requests: ResourceMap, limits: ResourceMap) -> dict[str, Quantity]:
    """A container's requests after defaulting: a resource with only a limit requests its limit."""
    out = dict(limits)
    out.update(requests)
    return out


def add_into(total: dict[str, Quantity], more: ResourceMap) -> None:
    """``total += more`` per resource; a resource already present keeps its format."""
    for name, qty in more.items():
        prev = total.get(name)
        total[name] = qty if prev is None else Quantity(prev.value + qty.value, prev.format)


def max_into(peak: dict[str, Quantity], other: ResourceMap) -> None:
    """``peak = max(peak, other)`` per resource; ties keep what ``peak`` held."""
    for name, qty in other.items():
        prev = peak.get(name)
        if prev is None or qty.value > prev.value:
            peak[name] = qty


def effective_requests(containers: Iterable[ResourceMap], init_containers: Iterable[InitContainer], *,
                       overhead: ResourceMap | None = None, pod_requests: ResourceMap | None = None,
                       pod_limits: ResourceMap | None = None) -> dict[str, Quantity]:
    """The pod's effective requests (see the module docstring), sorted by resource name.

    ``containers`` and ``init_containers`` hold requests already defaulted from limits
    (:func:`container_requests`); ``init_containers`` in spec order.
    """
    total: dict[str, Quantity] = {}
    for requests in containers:
        add_into(total, requests)
    sidecars: dict[str, Quantity] = {}
    init_peak: dict[str, Quantity] = {}
    for init in init_containers:
        if init.restartable:
            add_into(total, init.requests)
            add_into(sidecars, init.requests)
            max_into(init_peak, sidecars)
        else:
            running: dict[str, Quantity] = {}
            add_into(running, init.requests)
            add_into(running, sidecars)
            max_into(init_peak, running)
    max_into(total, init_peak)
    level = {name: qty for name, qty in (pod_requests or {}).items() if supports_pod_level(name)}
    for name, qty in (pod_limits or {}).items():
        if supports_pod_level(name) and name not in level and name not in total:
            level[name] = qty
    total.update(level)
    if overhead:
        add_into(total, overhead)
    return {name: total[name] for name in sorted(total)}


# ---------------------------------------------------------------------------------------------------
# The same, from a pod spec in its API shape


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _sequence(value: Any) -> Sequence[Any]:
    return value if isinstance(value, list | tuple) else ()


def read_resources(values: Any, path: str, read: QuantityReader) -> dict[str, Quantity]:
    """A ``{resource: quantity}`` map from raw JSON, each value through ``read`` (None: left out)."""
    out: dict[str, Quantity] = {}
    for name, raw in _mapping(values).items():
        qty = read(raw, f"{path}.{name}")
        if qty is not None:
            out[str(name)] = qty
    return out


def raw_container_requests(container: Any, path: str, read: QuantityReader) -> dict[str, Quantity]:
    """One container's defaulted requests from its raw ``resources`` (``path`` names the container)."""
    resources = _mapping(_mapping(container).get("resources"))
    return container_requests(read_resources(resources.get("requests"), f"{path}.resources.requests", read),
                              read_resources(resources.get("limits"), f"{path}.resources.limits", read))


def is_restartable(container: Any) -> bool:
    """True for an init container with ``restartPolicy: Always`` (a sidecar)."""
    return _mapping(container).get("restartPolicy") == "Always"


def pod_spec_requests(spec: Mapping[str, Any], read: QuantityReader, path: str = "spec") -> dict[str, Quantity]:
    """The effective requests of a pod spec in its JSON/YAML shape (``path`` prefixes field paths)."""
    apps = [raw_container_requests(c, f"{path}.containers[{i}]", read)
            for i, c in enumerate(_sequence(spec.get("containers")))]
    inits = [InitContainer(raw_container_requests(c, f"{path}.initContainers[{i}]", read), is_restartable(c))
             for i, c in enumerate(_sequence(spec.get("initContainers")))]
    pod_level = _mapping(spec.get("resources"))
    return effective_requests(
        apps, inits,
        overhead=read_resources(spec.get("overhead"), f"{path}.overhead", read),
        pod_requests=read_resources(pod_level.get("requests"), f"{path}.resources.requests", read),
        pod_limits=read_resources(pod_level.get("limits"), f"{path}.resources.limits", read))
