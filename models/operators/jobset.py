"""JobSet (``jobset.x-k8s.io/v1alpha2``): replicated Jobs run as one unit, and Kueue's JobSet integration.

The JobSet controller creates, for each ``replicatedJobs[i]``, ``replicas`` Jobs named
``<jobset>-<replicatedJob>-<jobIndex>``; each Job (completion mode Indexed, JobSet's default) creates
``min(parallelism, completions)`` pods at a time with completion indexes ``0..n-1``. A pod's hostname is
``<jobset>-<replicatedJob>-<jobIndex>-<podIndex>`` (its real name adds the Job controller's random
``generateName`` suffix). JobSet labels every Job and pod with ``jobset.sigs.k8s.io/*`` index labels.

Kueue builds one Workload per JobSet with one pod set per replicatedJob (count ``replicas ×
min(parallelism, completions)``), admitted all or nothing. ``startupPolicy: InOrder`` starts the
replicatedJobs one after another, each once the previous one's pods are Ready. ``successPolicy`` and
``failurePolicy`` are kept in :attr:`~models.operators.OperatorWorkload.policies` as written (validated).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from models.manifests import PodSetManifest
from models.operators._common import (
    OperatorPod,
    OperatorWorkload,
    Reader,
    declared_pod_group_gang,
    declared_selection,
    whole_object_gang,
)

API_GROUP = "jobset.x-k8s.io"
LABEL_PREFIX = "jobset.sigs.k8s.io/"
JOBSET_NAME_LABEL = LABEL_PREFIX + "jobset-name"
REPLICATED_JOB_NAME_LABEL = LABEL_PREFIX + "replicatedjob-name"
REPLICATED_JOB_REPLICAS_LABEL = LABEL_PREFIX + "replicatedjob-replicas"
GLOBAL_REPLICAS_LABEL = LABEL_PREFIX + "global-replicas"
JOB_INDEX_LABEL = LABEL_PREFIX + "job-index"
JOB_GLOBAL_INDEX_LABEL = LABEL_PREFIX + "job-global-index"
JOB_KEY_LABEL = LABEL_PREFIX + "job-key"
RESTART_ATTEMPT_LABEL = LABEL_PREFIX + "restart-attempt"
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"

_SPEC = {"replicatedJobs", "successPolicy", "failurePolicy", "startupPolicy", "network", "suspend",
         "ttlSecondsAfterFinished", "managedBy", "coordinator"}
_REPLICATED_JOB = {"name", "replicas", "template", "groupName", "dependsOn"}
# Job fields that cannot change where or when a pod runs are read quietly; the rest (backoffLimit,
# podFailurePolicy, activeDeadlineSeconds...) are warnings
_JOB_SPEC = {"parallelism", "completions", "template", "ttlSecondsAfterFinished", "completionMode", "selector",
             "manualSelector", "suspend", "managedBy"}


@dataclass(slots=True)
class JobSetParts:
    """What a JobSet spec expands to, before it is wrapped as a JobSet or as a TrainJob's JobSet."""

    pod_sets: list[PodSetManifest] = field(default_factory=list)
    pods: list[OperatorPod] = field(default_factory=list)
    templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    first_pod_spec: dict[str, Any] = field(default_factory=dict)
    startup_order: list[list[str]] = field(default_factory=list)
    policies: dict[str, Any] = field(default_factory=dict)


def job_key(namespace: str, job_name: str) -> str:
    """JobSet's ``job-key`` label: the SHA-1 of ``<namespace>/<job name>``."""
    return hashlib.sha1(f"{namespace}/{job_name}".encode()).hexdigest()


def expand_jobset(doc: dict[str, Any], file: str = "<manifest>", index: int = 0,
                  warn: list[str] | None = None) -> OperatorWorkload:
    """A JobSet object → its Kueue pod sets, pods and gangs."""
    r = Reader(doc, file, index, warn)
    spec = r.mapping(doc.get("spec"), "spec", required=True)
    parts = jobset_parts(r, spec, "spec", r.name)
    return finish(r, parts)


def finish(r: Reader, parts: JobSetParts) -> OperatorWorkload:
    """Wrap expanded JobSet parts as the object's workload: one Kueue gang, the declared PodGroup if any."""
    kueue = [whole_object_gang(r, parts.pods)]
    declared = declared_pod_group_gang(r, parts.pods, parts.templates)
    group = [declared] if declared is not None else [whole_object_gang(r, parts.pods, "object")]
    selected = declared_selection(declared, parts.templates, "spec.replicatedJobs[{}].template.spec.template")
    return r.workload(parts.pod_sets, parts.pods, kueue_gangs=kueue, group_gangs=group,
                      first_pod_spec=parts.first_pod_spec, startup_order=parts.startup_order,
                      policies=parts.policies, selected=selected)


def jobset_parts(r: Reader, spec: dict[str, Any], path: str, jobset_name: str,
                 extra_labels: dict[str, str] | None = None) -> JobSetParts:
    """Expand a JobSet spec at ``path`` (``spec`` for a JobSet, the runtime's template for a TrainJob)."""
    r.unknown(spec, _SPEC, path)
    rjobs = r.sequence(spec.get("replicatedJobs"), f"{path}.replicatedJobs", required=True)
    network = r.mapping(spec.get("network"), f"{path}.network")
    r.unknown(network, {"enableDNSHostnames", "subdomain", "publishNotReadyAddresses"}, f"{path}.network")
    dns = network.get("enableDNSHostnames", True) is not False
    parts = JobSetParts()
    names: list[str] = []
    replicas_of: list[int] = []
    raw: list[tuple[dict[str, Any], str]] = []
    for i, rj_raw in enumerate(rjobs):
        p = f"{path}.replicatedJobs[{i}]"
        rj = r.mapping(rj_raw, p, required=True)
        r.unknown(rj, _REPLICATED_JOB, p)
        name = r.string(rj.get("name"), f"{p}.name")
        if name is None:
            raise r.error("is required", f"{p}.name", "name every replicatedJob")
        if name in names:
            raise r.error(f"replicatedJob name {name!r} is used twice", f"{p}.name", "give each one a unique name")
        names.append(name)
        replicas_of.append(r.integer(rj.get("replicas"), f"{p}.replicas", 1))
        raw.append((rj, p))
    global_replicas = sum(replicas_of)
    min_count = r.min_parallelism()
    global_index = 0
    for (rj, p), name, replicas in zip(raw, names, replicas_of, strict=True):
        job_tmpl = r.mapping(rj.get("template"), f"{p}.template", required=True)
        r.unknown(job_tmpl, {"metadata", "spec"}, f"{p}.template")
        job_spec = r.mapping(job_tmpl.get("spec"), f"{p}.template.spec", required=True)
        jp = f"{p}.template.spec"
        r.unknown(job_spec, _JOB_SPEC, jp)
        mode = r.string(job_spec.get("completionMode"), f"{jp}.completionMode", "Indexed",
                        choices=("Indexed", "NonIndexed"))
        parallelism = r.integer(job_spec.get("parallelism"), f"{jp}.parallelism", 1)
        completions_raw = job_spec.get("completions")
        count = parallelism if completions_raw is None else min(
            parallelism, r.integer(completions_raw, f"{jp}.completions", parallelism))
        compact, pod_spec, meta = r.pod_template(job_spec.get("template"), f"{jp}.template")
        parts.templates[name] = meta
        parts.first_pod_spec = parts.first_pod_spec or pod_spec
        parts.pod_sets.append(PodSetManifest(name, replicas * count, compact, min_count))
        template_labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
        template_annotations = {str(k): str(v) for k, v in (meta.get("annotations") or {}).items()}
        for j in range(replicas):
            job_name = f"{jobset_name}-{name}-{j}"
            labels = {**template_labels, **(extra_labels or {}),
                      JOBSET_NAME_LABEL: jobset_name, REPLICATED_JOB_NAME_LABEL: name,
                      RESTART_ATTEMPT_LABEL: "0", REPLICATED_JOB_REPLICAS_LABEL: str(replicas),
                      GLOBAL_REPLICAS_LABEL: str(global_replicas), JOB_INDEX_LABEL: str(j),
                      JOB_KEY_LABEL: job_key(r.namespace, job_name),
                      JOB_GLOBAL_INDEX_LABEL: str(global_index), JOB_NAME_LABEL: job_name,
                      "job-name": job_name}
            for k in range(count):
                pod_labels = dict(labels)
                stem = f"{job_name}-{k}"
                if mode == "Indexed":
                    pod_labels[COMPLETION_INDEX_LABEL] = str(k)
                hostname = stem if dns and mode == "Indexed" else None
                prefix = f"{stem}-" if mode == "Indexed" else f"{job_name}-"
                parts.pods.append(OperatorPod(stem, name, name, pod_labels, dict(template_annotations),
                                              generate_name=prefix, hostname=hostname))
            global_index += 1
    parts.policies = _policies(r, spec, path, names)
    order = parts.policies.get("startupPolicy", {}).get("startupPolicyOrder", "AnyOrder")
    depends = _depends_on(r, raw, names)
    if depends:
        parts.policies["dependsOn"] = depends
    if order == "InOrder":
        parts.startup_order = [[n] for n in names]
    else:
        wave: dict[str, int] = {}
        for n in names:
            wave[n] = 1 + max((wave[d] for d, _ in depends.get(n, [])), default=-1)
        parts.startup_order = [[n for n in names if wave[n] == w] for w in range(max(wave.values()) + 1)]
    _unsimulated(r, parts.policies, path, names, len(parts.startup_order))
    return parts


def _unsimulated(r: Reader, policies: dict[str, Any], path: str, names: list[str], waves: int) -> None:
    """Warn, naming the field, about policies that are read and kept but that the simulation does not apply."""
    if waves > 1:
        field_path = f"{path}.startupPolicy.startupPolicyOrder" if "startupPolicy" in policies and \
            policies["startupPolicy"]["startupPolicyOrder"] == "InOrder" else f"{path}.replicatedJobs[].dependsOn"
        r.warn(field_path, "kept, but not simulated: every replicatedJob's pods are created at once")
    success = policies.get("successPolicy")
    if success and (success["operator"] == "Any" or set(success["targetReplicatedJobs"]) != set(names)):
        r.warn(f"{path}.successPolicy", "kept, but not simulated: the JobSet finishes when all its pods have")
    failure = policies.get("failurePolicy")
    if failure and failure["maxRestarts"] > 0:
        r.warn(f"{path}.failurePolicy.maxRestarts",
               "kept, but not simulated: a failed pod does not make the JobSet recreate its Jobs")


def _depends_on(r: Reader, raw: list[tuple[dict[str, Any], str]], names: list[str]) -> dict[str, list[tuple[str, str]]]:
    """``replicatedJobs[].dependsOn``: each entry names an earlier replicatedJob and ``Ready``/``Complete``."""
    out: dict[str, list[tuple[str, str]]] = {}
    for i, ((rj, p), name) in enumerate(zip(raw, names, strict=True)):
        for j, dep_raw in enumerate(r.sequence(rj.get("dependsOn"), f"{p}.dependsOn")):
            dp = f"{p}.dependsOn[{j}]"
            dep = r.mapping(dep_raw, dp, required=True)
            r.unknown(dep, {"name", "status"}, dp)
            target = r.string(dep.get("name"), f"{dp}.name")
            if target not in names[:i]:
                raise r.error(f"{target!r} is not an earlier replicatedJob", f"{dp}.name",
                              f"name one of {', '.join(names[:i]) or '(none: the first cannot depend)'}")
            status = r.string(dep.get("status"), f"{dp}.status", "Ready", choices=("Ready", "Complete"))
            assert target is not None and status is not None
            out.setdefault(name, []).append((target, status))
    return out


def _policies(r: Reader, spec: dict[str, Any], path: str, names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    success = r.mapping(spec.get("successPolicy"), f"{path}.successPolicy")
    if success:
        r.unknown(success, {"operator", "targetReplicatedJobs"}, f"{path}.successPolicy")
        op = r.string(success.get("operator"), f"{path}.successPolicy.operator", "All", choices=("All", "Any"))
        targets = [str(t) for t in r.sequence(success.get("targetReplicatedJobs"),
                                              f"{path}.successPolicy.targetReplicatedJobs")]
        for t in targets:
            if t not in names:
                raise r.error(f"targetReplicatedJobs names {t!r}, which is not a replicatedJob",
                              f"{path}.successPolicy.targetReplicatedJobs", f"use one of {', '.join(names)}")
        out["successPolicy"] = {"operator": op, "targetReplicatedJobs": targets or list(names)}
    failure = r.mapping(spec.get("failurePolicy"), f"{path}.failurePolicy")
    if failure:
        r.unknown(failure, {"maxRestarts", "restartStrategy", "rules"}, f"{path}.failurePolicy")
        out["failurePolicy"] = {
            "maxRestarts": r.integer(failure.get("maxRestarts"), f"{path}.failurePolicy.maxRestarts", 0),
            "restartStrategy": r.string(failure.get("restartStrategy"), f"{path}.failurePolicy.restartStrategy",
                                        "Recreate", choices=("Recreate", "BlockingRecreate")),
            "rules": list(r.sequence(failure.get("rules"), f"{path}.failurePolicy.rules"))}
        if out["failurePolicy"]["rules"]:
            r.warn(f"{path}.failurePolicy.rules", "recorded but not simulated (kubetwin restarts on any failure)")
    startup = r.mapping(spec.get("startupPolicy"), f"{path}.startupPolicy")
    if startup:
        r.unknown(startup, {"startupPolicyOrder"}, f"{path}.startupPolicy")
        out["startupPolicy"] = {"startupPolicyOrder": r.string(
            startup.get("startupPolicyOrder"), f"{path}.startupPolicy.startupPolicyOrder", "AnyOrder",
            choices=("AnyOrder", "InOrder"))}
    return out
