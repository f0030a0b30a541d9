"""From a scenario to a runnable cluster: everything checked and resolved before the clock starts.

Like ``kubectl apply --dry-run=server`` followed by the controllers' defaulting, the builder reads the
whole input once — durations, the manifests a scenario points at (Kueue objects, Jobs, JobSets), the
workload generators and their pod sets, the node pools and the Kueue section — reports every problem
as an :class:`models.errors.InputError` naming file, field and fix, and returns a :class:`Blueprint`:
plain resolved data the engine runs without looking at the scenario again.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from models.dra import parse_dra_object, scenario_warnings
from models.duration import parse_duration
from models.errors import InputError
from models.kueue import KueueSection, check_admission_checks, parse_kueue_section
from models.manifests import ManifestSet, WorkloadManifest
from models.quantity import parse_quantity
from models.resolution import resolve_workloads
from models.scenario import NodePool, Scenario, SchedulerSpec, WorkloadGen
from sim.autoscaler.settings import AutoscalerSettings, settings_from
from sim.cluster import ClusterState, Pool
from sim.dra.setup import DRASetup, dra_setup
from sim.serving.plan import ServingPlan, plan_from
from sim.volcano.setup import VolcanoPlan
from sim.volcano.setup import plan_from as volcano_plan
from sim.workloads import Generator, PodSetSpec, resolve_template


@dataclass
class Blueprint:
    """A scenario resolved into what the engine runs."""

    scenario: Scenario
    name: str
    seed: int
    duration: float
    scheduler: SchedulerSpec
    node_pools: list[NodePool]
    generators: list[Generator]
    #: the cluster's resources in ClusterState row order (scored ones first) and whether pods are counted
    resources: list[str]
    count_pods: bool
    kueue: KueueSection | None
    #: spec.latencies, compiled: name -> sample(rng) seconds (absent: instantaneous)
    latencies: dict[str, Callable[[random.Random], float]] = field(default_factory=dict)
    #: the profile's plugins, in order, and Score weights set by the scenario
    plugins: list[str] = field(default_factory=list)
    weights: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: the cluster autoscaler's settings, when the scenario autoscales a pool (or sets spec.autoscaler)
    autoscaler: AutoscalerSettings | None = None
    #: Deployments, HPAs, HTTPRoutes, loads and scripted actions (``spec.serving``, ``spec.actions``)
    serving: ServingPlan | None = None
    #: the scenario's DRA objects (DeviceClasses, claim templates, claims, per-pool ResourceSlices)
    dra: DRASetup | None = None
    #: Volcano's Queues, PodGroups and session settings, when a workload is Volcano's (sim.volcano.setup)
    volcano: VolcanoPlan | None = None

    def new_cluster(self) -> ClusterState:
        """An empty ClusterState with every pool registered (nodes are added by the engine)."""
        cluster = ClusterState(self.resources, capacity=max(64, sum(p.count for p in self.node_pools)))
        for p in self.node_pools:
            alloc = {k: parse_quantity(v).to_milli() for k, v in p.allocatable.items()}
            cluster.add_pool(Pool(p.name, p.labels, [t.model_dump(exclude_none=True) for t in p.taints],
                                  alloc, p.pricePerHour))
        return cluster


def build(scenario: Scenario, *, seed: int | None = None, until: float | None = None) -> Blueprint:
    """Resolve ``scenario`` (with ``--seed``/``--until`` overrides) into a :class:`Blueprint`."""
    spec = scenario.spec
    src = str(scenario.source) if scenario.source else None
    # the manifests, read once, with queues and priorities resolved from them (load_scenario did it already)
    manifests = resolve_workloads(scenario)
    run_seed = spec.seed if seed is None else seed
    warnings: list[str] = []
    warnings.extend(manifests.warnings)
    referenced = {w.job for w in spec.workloads if w.job}
    for m in manifests.workloads:
        if m.source.split("#", 1)[0] not in referenced:
            warnings.append(f"{m.source}: not simulated; a Job/JobSet runs only when a workload's "
                            "'job:' field names its file (which also gives its arrival and runtime)")
    generators = [_generator(scenario, manifests, i, w, run_seed, src) for i, w in enumerate(spec.workloads)]
    resources, count_pods = _resources(scenario, generators)
    kueue = _kueue(scenario, manifests, src, warnings)
    plugins, weights = _profile(spec.scheduler, src, {w.gang.policy for w in spec.workloads if w.gang})
    latencies: dict[str, Callable[[random.Random], float]] = {}
    if spec.latencies is not None:
        for key in ("schedulerQueue", "podStartup", "jobPodCreation"):
            dist = getattr(spec.latencies, key)
            if dist is not None:
                try:
                    latencies[key] = dist.compile(scenario.base_dir)
                except ValueError as e:
                    raise InputError(str(e), file=src, field=f"spec.latencies.{key}",
                                     fix="point csv at a readable file with that column") from None
    autoscaler = _autoscaler(scenario, src)
    if kueue is not None and kueue.uses_provisioning and autoscaler is None:
        raise InputError("a ClusterQueue runs a ProvisioningRequest admission check but no cluster autoscaler "
                         "runs to process ProvisioningRequests", file=src, field="spec.autoscaler",
                         fix="add spec.autoscaler: {} or give a node pool autoscaling: {minCount, maxCount}")
    serving = plan_from(scenario, run_seed)
    return Blueprint(scenario=scenario, name=scenario.metadata.name, seed=run_seed,
                     duration=parse_duration(spec.duration) if until is None else until,
                     scheduler=spec.scheduler, node_pools=list(spec.cluster.nodePools), generators=generators,
                     resources=resources, count_pods=count_pods, kueue=kueue, plugins=plugins,
                     weights=weights, latencies=latencies, warnings=warnings, autoscaler=autoscaler,
                     dra=_dra(scenario, manifests, warnings),
                     volcano=volcano_plan(scenario, manifests, generators, warnings),
                     serving=serving)



def _autoscaler(scenario: Scenario, src: str | None) -> AutoscalerSettings | None:
    """The cluster autoscaler's settings when a pool has ``autoscaling`` or ``spec.autoscaler`` is set."""
    spec = scenario.spec
    pools = spec.cluster.nodePools
    for i, p in enumerate(pools):
        a = p.autoscaling
        if a is not None and not a.minCount <= p.count <= a.maxCount:
            raise InputError(f"pool {p.name!r} starts with count {p.count}, outside autoscaling "
                             f"[{a.minCount}, {a.maxCount}]", file=src, field=f"spec.cluster.nodePools[{i}].count",
                             fix="make minCount <= count <= maxCount")
        if a is None and (p.provisioningDelay is not None or p.driverStartupDelay is not None):
            raise InputError(f"pool {p.name!r} sets a provisioning delay but does not autoscale", file=src,
                             field=f"spec.cluster.nodePools[{i}].provisioningDelay",
                             fix="add autoscaling: {minCount, maxCount}, or remove the delay")
    if spec.autoscaler is None and not any(p.autoscaling for p in pools):
        return None
    try:
        return settings_from(spec.autoscaler, list(pools), scenario.base_dir)
    except ValueError as e:
        raise InputError(str(e), file=src, field="spec.cluster.nodePools",
                         fix="point csv at a readable file with that column") from None


def _generator(scenario: Scenario, manifests: ManifestSet, i: int, w: WorkloadGen, seed: int,
               src: str | None) -> Generator:
    where = f"spec.workloads[{i}]"
    try:
        runtime = w.duration.compile(scenario.base_dir)
    except ValueError as e:
        raise InputError(str(e), file=src, field=f"{where}.duration",
                         fix="point csv at a readable file with that column") from None
    operator: WorkloadManifest | None = None
    if w.template is not None:
        pod_sets = [resolve_template(w.template, None, w.replicas, None)]
    elif w.podSets is not None:
        pod_sets = [resolve_template(ps.template, ps.name, ps.replicas, ps.minCount) for ps in w.podSets]
    else:
        pod_sets = _job_pod_sets(manifests, w, where, src)
        operator = _job_manifest(manifests, w, where, src)
    if w.gang is not None:
        if w.gang.policy == "workload-api" and w.gang.timeout is not None:
            raise InputError("the KEP-4671 gang timeout is fixed at 5m and cannot be set", file=src,
                             field=f"{where}.gang.timeout", fix="remove timeout, or use coscheduling")
        total = sum(p.replicas for p in pod_sets)
        if w.gang.minCount is not None and w.gang.minCount > total:
            raise InputError(f"minCount {w.gang.minCount} is more than the {total} pods of an instance",
                             file=src, field=f"{where}.gang.minCount", fix=f"use at most {total}")
    generator = Generator(w, seed, runtime, pod_sets)
    if w.job is not None:
        from models.operators import OperatorWorkload  # lazy: only a workload with a job: object needs it

        if isinstance(operator, OperatorWorkload):
            # an AI operator's object: its pods get the names its controller gives them
            generator.attach_operator(operator, src, where)
    return generator


def _job_manifest(manifests: ManifestSet, w: WorkloadGen, where: str, src: str | None) -> WorkloadManifest:
    """The one Job / JobSet / operator object a workload's ``job:`` file holds."""
    assert w.job is not None
    jobs = [m for m in manifests.workloads if m.source.split("#", 1)[0] == w.job]
    if len(jobs) != 1:
        raise InputError(f"{w.job} holds {len(jobs)} workload objects (Job, JobSet, an AI operator's object); "
                         "a workload needs exactly one", file=src, field=f"{where}.job",
                         fix="put one such object in the file")
    return jobs[0]


def _job_pod_sets(manifests: ManifestSet, w: WorkloadGen, where: str, src: str | None) -> list[PodSetSpec]:
    """Pod sets from a real Job / JobSet / operator manifest (``spec.workloads[].job``)."""
    from models.operators import OperatorWorkload  # lazy: a scenario without job: objects never loads it

    m = _job_manifest(manifests, w, where, src)
    out = []
    for ps in m.pod_sets:
        t = ps.template
        out.append(PodSetSpec(
            # a Job's one pod set is Kueue's "main"; an operator's pod sets keep their roles' names
            name=ps.name if len(m.pod_sets) > 1 or isinstance(m, OperatorWorkload) else None,
            replicas=ps.count, min_count=ps.min_count,
            requests=ps.requests_milli(), node_selector=dict(t.get("nodeSelector") or {}),
            tolerations=[dict(x) for x in t.get("tolerations") or []],
            affinity=dict(t["affinity"]) if t.get("affinity") else None))
    return out


def _resources(scenario: Scenario, generators: list[Generator]) -> tuple[list[str], bool]:
    """The ClusterState rows: the scored resources first (the scheduler scores rows [0, k)), then the
    rest sorted, then ``pods`` when any pool or pod names it."""
    names: set[str] = set()
    for p in scenario.spec.cluster.nodePools:
        names.update(p.allocatable)
    for g in generators:
        for ps in g.pod_sets:
            names.update(ps.requests)
    count_pods = "pods" in names
    names.discard("pods")
    scored = [r.name for r in scenario.spec.scheduler.resources if r.name != "pods"]
    return scored + sorted(names - set(scored)) + (["pods"] if count_pods else []), count_pods


def _kueue(scenario: Scenario, manifests: ManifestSet, src: str | None, warnings: list[str]) -> KueueSection | None:
    spec = scenario.spec
    uses = [w for w in spec.workloads if w.queue or (w.gang and w.gang.policy == "kueue")]
    if spec.kueue is None and not manifests.cluster_queues:
        if uses:
            i = spec.workloads.index(uses[0])
            raise InputError("this workload uses a Kueue queue but the scenario defines no Kueue objects",
                             file=src, field=f"spec.workloads[{i}].queue",
                             fix="add spec.kueue (resourceFlavors, clusterQueues, localQueues) or list "
                                 "Kueue manifests under spec.manifests")
        return None
    section, kueue_warnings = parse_kueue_section(spec.kueue or {}, file=src, prefix="spec.kueue")
    warnings.extend(kueue_warnings)
    section.resource_flavors.extend(manifests.resource_flavors)
    section.cluster_queues.extend(manifests.cluster_queues)
    section.local_queues.extend(manifests.local_queues)
    section.admission_checks.extend(manifests.admission_checks)
    section.provisioning_request_configs.extend(manifests.provisioning_request_configs)
    check_admission_checks(section, src)
    lqs = {lq.key for lq in section.local_queues}
    cqs = {cq.name for cq in section.cluster_queues}
    for lq in section.local_queues:
        if lq.spec.cluster_queue not in cqs:
            raise InputError(f"LocalQueue {lq.key} points to ClusterQueue {lq.spec.cluster_queue!r}, which "
                             "is not defined", file=src, field="spec.kueue.localQueues",
                             fix="define that ClusterQueue or fix spec.clusterQueue")
    for i, w in enumerate(spec.workloads):
        if w.queue and f"{w.namespace}/{w.queue}" not in lqs:
            raise InputError(f"LocalQueue {w.namespace}/{w.queue} is not defined", file=src,
                             field=f"spec.workloads[{i}].queue",
                             fix="add it under spec.kueue.localQueues (in that namespace)")
    return section


def _profile(sched: SchedulerSpec, src: str | None, gang_policies: set[str]) -> tuple[list[str], dict[str, int]]:
    """The plugin list of the profile: the defaults (plus the gang plugin of each gang policy the
    workloads use), minus ``multiPoint.disabled`` (``*`` = all of them), plus ``multiPoint.enabled``;
    weights from ``score.enabled`` and ``multiPoint.enabled``."""
    from sim.framework import REGISTRY
    from sim.gpushare.policy_names import POLICY_NAMES as GPU_SHARING_POLICIES
    from sim.plugins import DEFAULT_PLUGINS, GANG_PLUGINS

    mp = sched.plugins.multiPoint
    where = "spec.scheduler.plugins"
    disabled = {p.name for p in mp.disabled}
    defaults = DEFAULT_PLUGINS + [GANG_PLUGINS[p] for p in sorted(gang_policies) if p in GANG_PLUGINS]
    names = [] if "*" in disabled else [n for n in defaults if n not in disabled]
    for i, ref in enumerate(mp.enabled):
        if ref.name not in REGISTRY and ref.name != "PrioritySort":
            raise InputError(f"unknown scheduler plugin {ref.name!r}", file=src,
                             field=f"{where}.multiPoint.enabled[{i}].name",
                             fix=f"use one of {', '.join(sorted(REGISTRY))}")
        if ref.name not in names:
            names.append(ref.name)
    if "NodeResourcesFit" not in names:
        raise InputError("NodeResourcesFit cannot be disabled: kubetwin's scheduler is built around it",
                         file=src, field=f"{where}.multiPoint.disabled", fix="keep NodeResourcesFit enabled")
    weights: dict[str, int] = {}
    for point, refs in (("multiPoint", mp.enabled), ("score", sched.plugins.score.enabled)):
        for i, ref in enumerate(refs):
            if ref.name not in names:
                raise InputError(f"score weight for {ref.name!r}, which this profile does not run", file=src,
                                 field=f"{where}.{point}.enabled[{i}].name",
                                 fix="enable it under multiPoint.enabled, or remove the weight")
            if ref.weight is not None:
                weights[ref.name] = ref.weight
    if sched.scoring in GPU_SHARING_POLICIES:
        # a GPU-sharing policy is the profile's Score plugin (sim/plugins/gpusharing.py); as in the paper's
        # simulator it ranks nodes alone, unless the scenario weighs NodeResourcesFit itself
        if sched.scoring not in names:
            names.append(sched.scoring)
        weights.setdefault("NodeResourcesFit", 0)
    return names, weights


def _dra(scenario: Scenario, manifests: ManifestSet, warnings: list[str]) -> DRASetup | None:
    """The scenario's DRA world: ``spec.dra``, the node pools' slices and DRA objects from manifest files."""
    warnings.extend(scenario_warnings(scenario.spec))
    extra = []
    for doc in manifests.device_classes + manifests.resource_claim_templates:
        obj, obj_warnings = parse_dra_object(doc, file=str(scenario.source) if scenario.source else None)
        extra.append(obj)
        warnings.extend(obj_warnings)
    return dra_setup(scenario, extra)
