"""models.requests: a pod's effective requests, as Kubernetes computes them, used by every reader.

Pinned on hand-computed pods (the orders where a naive "max(init) vs Σ app" formula differs), and by a
property test against a brute-force walk through the container start sequence: init containers one by
one (a sidecar keeps running once started), then all app containers together.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.errors import InputError
from models.manifests import compact_pod_template
from models.quantity import Quantity
from models.requests import InitContainer, effective_requests, pod_spec_requests
from validator.normalize import pod_requests


def strict(raw: Any, path: str) -> Quantity:
    return Quantity.parse(raw)


def container(cpu: str | None = None, *, limit: str | None = None, sidecar: bool = False,
              **more: str) -> dict[str, Any]:
    requests = {**({"cpu": cpu} if cpu else {}), **more}
    resources: dict[str, Any] = {"requests": requests}
    if limit:
        resources["limits"] = {"cpu": limit}
    c: dict[str, Any] = {"name": "c", "resources": resources}
    if sidecar:
        c["restartPolicy"] = "Always"
    return c


def as_text(spec: dict[str, Any]) -> dict[str, str]:
    return {k: v.canonical() for k, v in pod_spec_requests(spec, strict).items()}


# The example: a 1-CPU sidecar, then a 2-CPU init container, then a 500m app container. While
# the init container runs, the sidecar already runs beside it: 1 + 2 = 3 CPU; afterwards 1 + 0.5.
SIDECAR_FIRST = {"initContainers": [container("1", sidecar=True), container("2")],
                 "containers": [container("500m")]}


def test_sidecar_before_init_container_adds_to_it() -> None:
    assert as_text(SIDECAR_FIRST) == {"cpu": "3"}


def test_every_reader_agrees_on_the_sidecar_example() -> None:
    assert pod_requests(SIDECAR_FIRST) == {"cpu": "3"}  # the normalizer (recordings)
    assert compact_pod_template(SIDECAR_FIRST)["requests"] == {"cpu": "3"}  # manifests and scenarios


def test_sidecar_after_init_container_does_not_add_to_it() -> None:
    # init 2 runs alone (2); then the sidecar starts (1); then app 500m beside it (1.5): peak 2
    spec = {"initContainers": [container("2"), container("1", sidecar=True)], "containers": [container("500m")]}
    assert as_text(spec) == {"cpu": "2"}


def test_sidecars_accumulate_and_add_to_app_containers() -> None:
    # sidecars 1 + 1, init 500m after both (2.5), apps 2 + 1 beside the sidecars (5)
    spec = {"initContainers": [container("1", sidecar=True), container("1", sidecar=True), container("500m")],
            "containers": [container("2"), container("1")]}
    assert as_text(spec) == {"cpu": "5"}


def test_resources_are_independent() -> None:
    # cpu peaks during the init container (4), memory in the app phase (3Gi + 1Gi sidecar)
    spec = {"initContainers": [container("1", sidecar=True, memory="1Gi"), container("3", memory="1Gi")],
            "containers": [container("1", memory="3Gi")]}
    assert as_text(spec) == {"cpu": "4", "memory": "4Gi"}


def test_limits_default_requests_extended_resources_and_cpu() -> None:
    spec = {"containers": [{"name": "gpu", "resources": {"limits": {"nvidia.com/gpu": "2", "cpu": "4"},
                                                         "requests": {"cpu": "1"}}},
                           {"name": "side", "resources": {"limits": {"cpu": "250m", "memory": "1Gi"}}}]}
    # gpu: only a limit, so it requests 2; cpu: 1 (its own request) + 250m (limit of the 2nd container)
    assert as_text(spec) == {"cpu": "1250m", "memory": "1Gi", "nvidia.com/gpu": "2"}


def test_overhead_is_added_last() -> None:
    spec = {**SIDECAR_FIRST, "overhead": {"cpu": "250m", "memory": "120Mi"}}
    assert as_text(spec) == {"cpu": "3250m", "memory": "120Mi"}


def test_pod_level_requests_replace_cpu_and_memory_only() -> None:
    spec = {"containers": [container("1", memory="1Gi", **{"nvidia.com/gpu": "1"}), container("2")],
            "resources": {"requests": {"cpu": "2500m"}, "limits": {"memory": "4Gi", "nvidia.com/gpu": "3"}}}
    # cpu from the pod level; memory: a pod-level limit but a container asks for memory, so the
    # defaulted pod-level request is the container aggregate; gpu is not a pod-level resource
    assert as_text(spec) == {"cpu": "2500m", "memory": "1Gi", "nvidia.com/gpu": "1"}
    no_container_memory = {"containers": [container("1")], "resources": {"limits": {"memory": "2Gi"}}}
    assert as_text(no_container_memory) == {"cpu": "1", "memory": "2Gi"}


def test_zero_requests_stay_and_formats_follow_kubernetes() -> None:
    spec = {"containers": [container("0"), {"name": "m", "resources": {"requests": {"memory": "512Mi"}}},
                           {"name": "n", "resources": {"requests": {"memory": "512Mi"}}}]}
    assert as_text(spec) == {"cpu": "0", "memory": "1Gi"}


def test_manifests_reject_a_bad_quantity_with_its_field() -> None:
    bad = {"initContainers": [container("1", sidecar=True), container("two")], "containers": []}
    with pytest.raises(InputError) as err:
        compact_pod_template(bad, file="job.yaml", path="spec.template.spec")
    assert "spec.template.spec.initContainers[1].resources.requests.cpu" in str(err.value)
    assert "job.yaml" in str(err.value)
    assert pod_requests(bad) == {"cpu": "1"}  # a recording skips what the API server would have refused


# ---------------------------------------------------------------------------------------------------
# Property: the formula equals the peak of a brute-force walk through the start sequence

RESOURCES = ("cpu", "memory", "nvidia.com/gpu")
amounts = st.dictionaries(st.sampled_from(RESOURCES), st.integers(0, 4000), max_size=3)


def walk_peak(apps: list[dict[str, int]], inits: list[tuple[dict[str, int], bool]],
              overhead: dict[str, int]) -> dict[str, int]:
    """Run the kubelet's start sequence and take, per resource, the most in use at any moment."""
    running: list[dict[str, int]] = []  # sidecars started so far
    moments: list[list[dict[str, int]]] = []
    for requests, restartable in inits:
        if restartable:
            running.append(requests)
            moments.append(list(running))
        else:
            moments.append([*running, requests])  # runs to completion beside the started sidecars
    moments.append([*running, *apps])
    names = {n for m in moments for c in m for n in c} | set(overhead)
    return {n: max(sum(c.get(n, 0) for c in m) for m in moments) + overhead.get(n, 0) for n in sorted(names)}


def milli(values: dict[str, int]) -> dict[str, Quantity]:
    return {n: Quantity(Fraction(v, 1000)) for n, v in values.items()}


@settings(max_examples=300, deadline=None)
@given(apps=st.lists(amounts, max_size=4), inits=st.lists(st.tuples(amounts, st.booleans()), max_size=5),
       overhead=amounts)
def test_formula_matches_the_start_sequence(apps: list[dict[str, int]], inits: list[tuple[dict[str, int], bool]],
                                            overhead: dict[str, int]) -> None:
    got = effective_requests([milli(a) for a in apps], [InitContainer(milli(r), s) for r, s in inits],
                             overhead=milli(overhead))
    assert {n: q.to_milli() for n, q in got.items()} == walk_peak(apps, inits, overhead)
