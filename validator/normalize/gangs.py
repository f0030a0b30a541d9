"""Gang APIs other than Kueue: PodGroups, the ``scheduling.k8s.io`` Workload (KEP-4671) and the AI
operators' objects that draw gangs (JobSet, LeaderWorkerSet, RayJob/RayCluster, TrainJob, PyTorchJob,
Volcano Job).

Each PodGroup or Workload becomes one WorkloadCreated when first seen: the gang's policy
(``coscheduling`` for a ``scheduling.x-k8s.io`` PodGroup with ``minMember``, ``volcano`` for a
``scheduling.volcano.sh`` PodGroup, ``workload-api`` otherwise), its ``minCount`` and, for a Workload,
its pod groups; a Volcano PodGroup adds its ``queue`` and ``minTaskMember``.

An operator's object is read as its controller reads it (:func:`models.operators.expand`) once the
whole recording is in (its pods may be recorded before it): the gangs its integration draws
(:meth:`~models.operators.OperatorWorkload.gangs_under` the object's own policy) and the pods it owns —
matched by the name its controller gives them, or the ``generateName`` prefix plus a 5-character
suffix. Those pods' events get the gang as their ``group``:

* under Kueue (a ``kueue.x-k8s.io/queue-name`` label) the gang is the recorded Kueue Workload of the
  object (or, for a LeaderWorkerSet, of the group): the Workload whose name is the gang's
  ``workload_prefix`` plus Kueue's 5-character hash, or the Workload the object owns. Its
  WorkloadCreated comes from the Workload itself; without one, a warning says the gang is not checked;
* under coscheduling or Volcano the gang is the PodGroup; when the PodGroup itself was not recorded,
  a WorkloadCreated is written for it from the object (at the object's creation), unless its quorum
  is only known from that PodGroup (a warning then);
* an object under no gang scheduler draws no gang.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from models.errors import InputError
from models.events import workload_created_data
from models.operators import (
    Gang,
    GangPolicy,
    OperatorWorkload,
    expand,
    is_operator_object,
    is_training_runtime,
    training_runtime_entry,
)
from models.operators import workload_created_data as operator_workload_created_data
from models.timeline import event_dict
from validator.normalize.core import Normalizer, RecordContext, Tracked, Translator
from validator.normalize.fields import as_dict, as_list, text

#: Volcano's pod annotation naming its PodGroup
VOLCANO_GROUP_ANNOTATION = "scheduling.k8s.io/group-name"
#: characters of the random suffix Kubernetes' ``generateName`` and Kueue's Workload names append
_SUFFIX = 5


def translate_pod_group(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    group = norm.track("PodGroup", obj)
    if group is None or deleted or "created" in group.emitted:
        return
    group.emitted.add("created")
    spec = as_dict(obj.get("spec"))
    group.group = f"{group.namespace}/{group.name}" if group.namespace else group.name
    gang = as_dict(as_dict(spec.get("schedulingPolicy")).get("gang"))
    min_count = spec.get("minMember") if isinstance(spec.get("minMember"), int) else gang.get("minCount")
    policy = "coscheduling" if "minMember" in spec else "workload-api"
    size = min_count if isinstance(min_count, int) else 1
    timeout = spec.get("scheduleTimeoutSeconds")
    data = workload_created_data(policy, min_count=size, pods=size, pod_sets=[], priority=0,
                                 timeout=timeout if isinstance(timeout, int) else None)
    t, preexisting = norm.time_of(ctx, as_dict(obj.get("metadata")).get("creationTimestamp"), group)
    norm.emit(ctx, t, preexisting, "WorkloadCreated", group, data=data)


def translate_scheduling_workload(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any],
                                  deleted: bool) -> None:
    workload = norm.track("Workload", obj)
    if workload is None or deleted or "created" in workload.emitted:
        return
    workload.emitted.add("created")
    workload.group = f"{workload.namespace}/{workload.name}" if workload.namespace else workload.name
    spec = as_dict(obj.get("spec"))
    pod_sets = []
    total = 0
    for pod_group in (as_dict(p) for p in as_list(spec.get("podGroups")) + as_list(spec.get("podGroupTemplates"))):
        policy = as_dict(pod_group.get("policy")) or as_dict(pod_group.get("schedulingPolicy"))
        min_count = as_dict(policy.get("gang")).get("minCount")
        entry: dict[str, Any] = {"name": pod_group.get("name"),
                                 "count": min_count if isinstance(min_count, int) else 1}
        if isinstance(min_count, int):
            entry["minCount"] = min_count
        entry["requests"] = {}
        pod_sets.append(entry)
        total += entry["count"]
    t, preexisting = norm.time_of(ctx, as_dict(obj.get("metadata")).get("creationTimestamp"), workload)
    norm.emit(ctx, t, preexisting, "WorkloadCreated", workload, data=workload_created_data(
        "workload-api", min_count=total, pods=total, pod_sets=pod_sets, priority=0))


def translate_volcano_pod_group(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    """A Volcano PodGroup (``scheduling.volcano.sh``): WorkloadCreated with policy ``volcano``."""
    group = norm.track("PodGroup", obj)
    if group is None or deleted or "created" in group.emitted:
        return
    group.emitted.add("created")
    spec = as_dict(obj.get("spec"))
    group.group = f"{group.namespace}/{group.name}" if group.namespace else group.name
    raw_min = spec.get("minMember")
    min_member = raw_min if isinstance(raw_min, int) else 1
    per_task = {str(k): v for k, v in as_dict(spec.get("minTaskMember")).items() if isinstance(v, int)}
    priority = spec.get("priority") if isinstance(spec.get("priority"), int) else 0
    data = workload_created_data("volcano", min_count=min_member, pods=min_member, pod_sets=[], priority=priority,
                                 queue=text(spec.get("queue")) or "default", min_task_member=per_task)
    t, preexisting = norm.time_of(ctx, as_dict(obj.get("metadata")).get("creationTimestamp"), group)
    norm.emit(ctx, t, preexisting, "WorkloadCreated", group, data=data)


# ---- AI operators' objects ---------------------------------------------------------------------------


@dataclass
class _Seen:
    """An operator object as last recorded, and the record it was first seen in."""

    obj: dict[str, Any]
    first: RecordContext


class OperatorObjects:
    """The operator objects (and TrainJob runtimes) of one recording; resolved into gangs by
    :meth:`__call__`, which the normalizer runs when the recording is complete."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str | None, str], _Seen] = {}
        self.runtimes: dict[str, dict[str, Any]] = {}

    @staticmethod
    def of(norm: Normalizer) -> OperatorObjects:
        for finisher in norm.finishers:
            if isinstance(finisher, OperatorObjects):
                return finisher
        made = OperatorObjects()
        norm.finishers.append(made)
        return made

    def __call__(self, norm: Normalizer) -> None:
        index = _RecordedIndex(norm)
        for key in sorted(self.objects, key=lambda k: (k[0], k[1], k[2] or "", k[3])):
            seen = self.objects[key]
            try:
                w = expand(seen.obj, "<recorded>", 0, [], self.runtimes)
            except (InputError, AttributeError, TypeError, ValueError) as e:
                norm.warnings.append(f"{key[1]} {key[2]}/{key[3]}: cannot be read as its controller reads "
                                     f"it ({e}); its pods are not tied to a gang")
                continue
            policy = w.default_policy()
            if policy == "none":
                continue
            for gang in w.gangs_under(policy):
                group = _gang_key(norm, index, w, gang, policy, seen)
                if group is not None:
                    index.assign(w, gang, group)


def translate_operator_object(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    """Remember an operator object (its latest state; its first record for the time of its gangs)."""
    api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
    objects = OperatorObjects.of(norm)
    if is_training_runtime(api_version, kind):
        key, runtime = training_runtime_entry(obj)
        objects.runtimes[key] = runtime
        return
    meta = as_dict(obj.get("metadata"))
    name = text(meta.get("name"))
    if name is None or not is_operator_object(api_version, kind):
        return
    ref = (api_version.split("/")[0], kind, text(meta.get("namespace")), name)
    seen = objects.objects.get(ref)
    if seen is None:
        objects.objects[ref] = _Seen(obj, ctx)
    elif not deleted:
        seen.obj = obj


def _ignore(norm: Normalizer, ctx: RecordContext, obj: dict[str, Any], deleted: bool) -> None:
    """Volcano Queues: recorded for replay, no timeline event of their own."""


class _RecordedIndex:
    """What the timeline already holds: Kueue Workloads, gangs with a WorkloadCreated, pods' events."""

    def __init__(self, norm: Normalizer) -> None:
        self.norm = norm
        self.kueue: dict[str | None, list[str]] = {}
        self.created: set[str] = set()
        self.pods: dict[tuple[str | None, str], list[dict[str, Any]]] = {}
        self.pod_seq: dict[tuple[str | None, str], int] = {}
        self.pod_names: dict[str | None, list[str]] = {}
        for _, seq, _, event in norm.out:
            obj = event["obj"]
            if event["type"] == "WorkloadCreated" and event.get("group"):
                self.created.add(event["group"])
                if (event.get("data") or {}).get("policy") == "kueue":
                    self.kueue.setdefault(obj.get("namespace"), []).append(obj["name"])
            if obj["kind"] == "Pod":
                key = (obj.get("namespace"), obj["name"])
                if key not in self.pods:
                    self.pod_names.setdefault(key[0], []).append(key[1])
                self.pods.setdefault(key, []).append(event)
                self.pod_seq[key] = min(seq, self.pod_seq.get(key, seq))

    def kueue_workload(self, namespace: str, prefix: str | None) -> str | None:
        if prefix is None:
            return None
        names = [n for n in self.kueue.get(namespace, []) if n.startswith(prefix) and len(n) == len(prefix) + _SUFFIX]
        return f"{namespace}/{sorted(names)[0]}" if names else None

    def members(self, w: OperatorWorkload, gang: Gang) -> list[tuple[str | None, str]]:
        """The recorded pods of ``gang``: by the controller's name, or its generateName + 5 characters."""
        wanted = set(gang.pods)
        exact = {p.name for p in w.pods if p.name in wanted}
        prefixes = {p.generate_name for p in w.pods if p.name in wanted and p.generate_name}
        lengths = {len(pre) + _SUFFIX for pre in prefixes}
        out = [(w.namespace, name) for name in self.pod_names.get(w.namespace, [])
               if name in exact or (len(name) in lengths and name[:-_SUFFIX] in prefixes)]
        return sorted(out, key=lambda k: k[1])

    def assign(self, w: OperatorWorkload, gang: Gang, group: str) -> None:
        for key in self.members(w, gang):
            for i, event in enumerate(self.pods[key]):
                if event.get("group"):
                    continue
                obj = event["obj"]
                fresh = event_dict(event["seq"], event["t"], event["type"], obj["kind"], obj["name"],
                                   obj.get("namespace"), obj.get("uid"), event.get("node"), group,
                                   event.get("reason"), event.get("data"))
                event.clear()
                event.update(fresh)
                self.pods[key][i] = event
            tracked = self.norm.objects.get(("Pod", key[0], key[1]))
            if tracked is not None:
                tracked.group = group


def _gang_key(norm: Normalizer, index: _RecordedIndex, w: OperatorWorkload, gang: Gang, policy: GangPolicy,
              seen: _Seen) -> str | None:
    """The timeline ``group`` of one of ``w``'s gangs, writing its WorkloadCreated when only the object
    tells it; None (with a warning) when the gang cannot be tied to what was recorded."""
    what = f"{w.kind} {w.namespace}/{w.name}"
    if policy == "kueue":
        found = index.kueue_workload(w.namespace, gang.workload_prefix)
        if found is None and len(w.kueue_gangs) == 1:
            found = norm.workload_by_owner.get((w.namespace, w.kind, w.name))
        if found is None:
            norm.warnings.append(f"{what}: queued in Kueue ({w.queue_name}) but no Kueue Workload of "
                                 f"{gang.key} was recorded; its pods are not tied to a gang")
        return found
    if gang.key in index.created:
        return gang.key
    if gang.min_count is None:
        norm.warnings.append(f"{what}: its pods name PodGroup {gang.key}, which was not recorded; its quorum "
                             "(minMember) is unknown and the gang is not checked")
        return None
    namespace, name = gang.key.split("/", 1)
    subject = Tracked("PodGroup", name, namespace, None, group=gang.key)
    members = index.members(w, gang)
    first = min([index.pod_seq[m] for m in members] + [seen.first.seq])
    ctx = RecordContext(first, seen.first.recv_ns)
    ctx.emitted = -1  # before its pods' events of the same record and instant
    t, preexisting = norm.time_of(ctx, as_dict(seen.obj.get("metadata")).get("creationTimestamp"), None)
    norm.emit(ctx, t, preexisting, "WorkloadCreated", subject,
              data=operator_workload_created_data(w, gang, policy))
    index.created.add(gang.key)
    return gang.key


TRANSLATORS: dict[tuple[str, str], Translator] = {
    ("scheduling.x-k8s.io", "podgroups"): translate_pod_group,
    ("scheduling.k8s.io", "podgroups"): translate_pod_group,
    ("scheduling.k8s.io", "workloads"): translate_scheduling_workload,
    ("scheduling.volcano.sh", "podgroups"): translate_volcano_pod_group,
    ("scheduling.volcano.sh", "queues"): _ignore,
    ("jobset.x-k8s.io", "jobsets"): translate_operator_object,
    ("leaderworkerset.x-k8s.io", "leaderworkersets"): translate_operator_object,
    ("ray.io", "rayclusters"): translate_operator_object,
    ("ray.io", "rayjobs"): translate_operator_object,
    ("trainer.kubeflow.org", "trainjobs"): translate_operator_object,
    ("trainer.kubeflow.org", "clustertrainingruntimes"): translate_operator_object,
    ("trainer.kubeflow.org", "trainingruntimes"): translate_operator_object,
    ("kubeflow.org", "pytorchjobs"): translate_operator_object,
    ("batch.volcano.sh", "jobs"): translate_operator_object,
}
