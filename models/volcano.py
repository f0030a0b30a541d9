"""Volcano's scheduling objects as kubetwin reads them: ``Queue``, ``PodGroup`` and the scheduler's settings.

These mirror ``scheduling.volcano.sh/v1beta1`` (``volcano-sh/apis pkg/apis/scheduling/v1beta1/types.go``):

* a **Queue** (cluster-scoped) shares the cluster among its PodGroups: ``weight`` (default 1; the
  proportion plugin's deserved share is proportional to it), ``capability`` (a hard ceiling per resource),
  ``reclaimable`` (default true: other queues may reclaim what it holds beyond its deserved share) and
  ``guarantee.resource`` (reserved for it). A ``default`` Queue of weight 1 always exists, as in Volcano.
* a **PodGroup** (namespaced) is one gang: ``minMember`` (the job's ``minAvailable``), ``minTaskMember``
  (per task, keyed by task/pod-set name), ``queue`` (default ``default``), ``priorityClassName`` and
  ``minResources`` (what the enqueue action checks against the queue's capability and the cluster's
  overcommitted idle resources).

The scheduler's own settings sit under ``spec.volcano``: ``schedulePeriod`` (default ``1s``, Volcano's
``--schedule-period``), ``actions`` (default ``enqueue, allocate, backfill``; ``reclaim`` and ``preempt``
may be added, as in ``volcano-scheduler.conf``), ``overcommitFactor`` (the overcommit plugin's, default
1.2), and inline ``queues`` / ``podGroups`` written as the real objects. The same objects may also sit in
files under ``spec.manifests``. Fields kubetwin does not model are warnings naming the field; bad values
are :class:`~models.errors.InputError` naming the file, the field and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.duration import DurationError, parse_duration
from models.errors import InputError
from models.quantity import QuantityError, parse_quantity
from models.yaml_input import load_documents

VOLCANO_GROUP = "scheduling.volcano.sh"
VOLCANO_VERSION = "v1beta1"
DEFAULT_QUEUE = "default"
DEFAULT_SCHEDULE_PERIOD = 1.0
DEFAULT_OVERCOMMIT_FACTOR = 1.2
#: the actions kubetwin runs, in Volcano's order; the default list is Volcano's default configuration
KNOWN_ACTIONS = ("enqueue", "allocate", "preempt", "reclaim", "backfill")
DEFAULT_ACTIONS = ("enqueue", "allocate", "backfill")

_SECTION = {"schedulePeriod", "actions", "overcommitFactor", "queues", "podGroups"}
_META = {"name", "namespace", "labels", "annotations", "uid", "resourceVersion", "generation",
         "creationTimestamp", "managedFields", "finalizers", "selfLink", "ownerReferences", "generateName"}
_QUEUE_SPEC = {"weight", "capability", "reclaimable", "guarantee"}
_QUEUE_INERT = {"extendClusters", "affinity", "type", "parent", "deserved", "priority", "dequeueStrategy"}
_PG_SPEC = {"minMember", "minTaskMember", "queue", "priorityClassName", "minResources"}
_PG_INERT = {"networkTopology", "subGroupPolicy"}


@dataclass(slots=True)
class VolcanoQueue:
    """A ``Queue``: weight, capability and guarantee in milli-units, and whether it can be reclaimed."""

    name: str
    weight: int = 1
    capability: dict[str, int] = field(default_factory=dict)
    reclaimable: bool = True
    guarantee: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class VolcanoPodGroup:
    """A ``PodGroup``: the gang's quorum, per-task minimums, queue, priority class and minimum resources."""

    namespace: str
    name: str
    min_member: int = 0
    min_task_member: dict[str, int] = field(default_factory=dict)
    queue: str = DEFAULT_QUEUE
    priority_class_name: str | None = None
    min_resources: dict[str, int] | None = None
    where: str = ""

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(slots=True)
class VolcanoSection:
    """Everything Volcano: its scheduler settings, its Queues (``default`` included) and PodGroups."""

    schedule_period: float = DEFAULT_SCHEDULE_PERIOD
    actions: tuple[str, ...] = DEFAULT_ACTIONS
    overcommit_factor: float = DEFAULT_OVERCOMMIT_FACTOR
    queues: dict[str, VolcanoQueue] = field(default_factory=dict)
    pod_groups: dict[str, VolcanoPodGroup] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def header(self) -> dict[str, Any]:
        """The settings as the ``VolcanoConfigured`` event carries them."""
        return {"schedulePeriod": self.schedule_period, "actions": list(self.actions),
                "overcommitFactor": self.overcommit_factor}


def _milli(raw: Any, file: str, path: str) -> dict[str, int]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InputError("expected a map of resource name to quantity", file=file, field=path,
                         fix="write e.g. {nvidia.com/gpu: 8, cpu: 64}")
    out: dict[str, int] = {}
    for k, v in raw.items():
        try:
            q = parse_quantity(v)
        except (QuantityError, TypeError, ValueError) as e:
            raise InputError(f"invalid quantity {v!r}: {e}", file=file, field=f"{path}.{k}",
                             fix="use a Kubernetes quantity such as 8, 500m or 80Gi") from None
        if q.to_milli() < 0:
            raise InputError(f"negative quantity {v!r}", file=file, field=f"{path}.{k}", fix="use a quantity >= 0")
        out[str(k)] = q.to_milli()
    return out


def _int(raw: Any, file: str, path: str, *, minimum: int, maximum: int = 2**31 - 1) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not minimum <= raw <= maximum:
        raise InputError(f"expected an integer in [{minimum}, {maximum}], got {raw!r}", file=file, field=path,
                         fix=f"use an integer between {minimum} and {maximum}")
    return raw


def _warn_unknown(obj: dict[str, Any], known: set[str], inert: set[str], path: str, where: str,
                  warnings: list[str]) -> None:
    for k in sorted(obj):
        if k in known:
            continue
        what = "recorded but not simulated" if k in inert else "not modelled by kubetwin; ignored"
        warnings.append(f"{where}: {path}.{k}: {what}")


def _meta(doc: dict[str, Any], file: str, where_kind: str, warnings: list[str],
          namespaced: bool) -> tuple[str, str]:
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise InputError("metadata.name is required", file=file, field="metadata.name",
                         fix=f"give the {where_kind} a name")
    name = meta["name"]
    ns = str(meta.get("namespace") or "default")
    if not namespaced and meta.get("namespace"):
        warnings.append(f"{file} ({where_kind} {name}): metadata.namespace: a Queue is cluster-scoped; ignored")
    for k in sorted(meta):
        if k not in _META:
            warnings.append(f"{file} ({where_kind} {name}): metadata.{k}: not modelled by kubetwin; ignored")
    return ns, name


def _spec(doc: dict[str, Any], file: str, where: str, known: set[str], inert: set[str], fix: str,
          warnings: list[str]) -> dict[str, Any]:
    """The object's ``spec`` map, warning about unknown fields and an ignored ``status``."""
    spec = doc.get("spec") or {}
    if not isinstance(spec, dict):
        raise InputError("spec must be a map", file=file, field="spec", fix=fix)
    _warn_unknown(spec, known, inert, "spec", where, warnings)
    if "status" in doc:
        warnings.append(f"{where}: status is ignored")
    return spec


def parse_queue(doc: dict[str, Any], file: str, warnings: list[str]) -> VolcanoQueue:
    """A ``scheduling.volcano.sh/v1beta1`` Queue."""
    _, name = _meta(doc, file, "Queue", warnings, namespaced=False)
    where = f"{file} (Queue {name})"
    spec = _spec(doc, file, where, _QUEUE_SPEC, _QUEUE_INERT, "write spec: {weight: 1}", warnings)
    weight = _int(spec.get("weight", 1), file, "spec.weight", minimum=1, maximum=65535)
    reclaimable = spec.get("reclaimable", True)
    if not isinstance(reclaimable, bool):
        raise InputError(f"expected true or false, got {reclaimable!r}", file=file, field="spec.reclaimable",
                         fix="write reclaimable: true or false")
    guarantee_raw = spec.get("guarantee") or {}
    if not isinstance(guarantee_raw, dict):
        raise InputError("guarantee must be a map", file=file, field="spec.guarantee",
                         fix="write guarantee: {resource: {nvidia.com/gpu: 2}}")
    for k in sorted(guarantee_raw):
        if k != "resource":
            warnings.append(f"{where}: spec.guarantee.{k}: not modelled by kubetwin; ignored")
    return VolcanoQueue(name, weight, _milli(spec.get("capability"), file, "spec.capability"), reclaimable,
                        _milli(guarantee_raw.get("resource"), file, "spec.guarantee.resource"))


def parse_pod_group(doc: dict[str, Any], file: str, warnings: list[str]) -> VolcanoPodGroup:
    """A ``scheduling.volcano.sh/v1beta1`` PodGroup."""
    ns, name = _meta(doc, file, "PodGroup", warnings, namespaced=True)
    where = f"{file} (PodGroup {ns}/{name})"
    spec = _spec(doc, file, where, _PG_SPEC, _PG_INERT, "write spec: {minMember: 4}", warnings)
    min_member = _int(spec.get("minMember", 0), file, "spec.minMember", minimum=0)
    mtm_raw = spec.get("minTaskMember") or {}
    if not isinstance(mtm_raw, dict):
        raise InputError("minTaskMember must be a map of task name to count", file=file, field="spec.minTaskMember",
                         fix="write minTaskMember: {worker: 4}")
    mtm = {str(k): _int(v, file, f"spec.minTaskMember.{k}", minimum=0) for k, v in mtm_raw.items()}
    queue = spec.get("queue") or DEFAULT_QUEUE
    if not isinstance(queue, str):
        raise InputError(f"queue must be a Queue name, got {queue!r}", file=file, field="spec.queue",
                         fix="name a Queue, e.g. queue: default")
    pcn = spec.get("priorityClassName")
    if pcn is not None and not isinstance(pcn, str):
        raise InputError("priorityClassName must be a string", file=file, field="spec.priorityClassName",
                         fix="name a scheduling.k8s.io/v1 PriorityClass")
    min_resources = _milli(spec["minResources"], file, "spec.minResources") if "minResources" in spec else None
    return VolcanoPodGroup(ns, name, min_member, mtm, queue, pcn or None, min_resources, where)


def _route(doc: dict[str, Any], file: str, section: VolcanoSection) -> bool:
    """Put a Volcano Queue or PodGroup into ``section``; False for any other object."""
    api_version = str(doc.get("apiVersion", ""))
    group, _, version = api_version.rpartition("/")
    if group != VOLCANO_GROUP:
        return False
    kind = str(doc.get("kind", ""))
    if version != VOLCANO_VERSION or kind not in ("Queue", "PodGroup"):
        section.warnings.append(f"{file}: {api_version} {kind} is not an object kubetwin reads; ignored "
                                f"(it reads {VOLCANO_GROUP}/{VOLCANO_VERSION} Queue and PodGroup)")
        return True
    if kind == "Queue":
        q = parse_queue(doc, file, section.warnings)
        if q.name in section.queues and q.name != DEFAULT_QUEUE:
            raise InputError(f"Queue {q.name!r} is defined twice", file=file, field="metadata.name",
                             fix="give each Queue a unique name")
        section.queues[q.name] = q
    else:
        pg = parse_pod_group(doc, file, section.warnings)
        if pg.key in section.pod_groups:
            raise InputError(f"PodGroup {pg.key} is defined twice", file=file, field="metadata.name",
                             fix="give each PodGroup a unique name in its namespace")
        section.pod_groups[pg.key] = pg
    return True


def parse_volcano(inline: dict[str, Any] | None, manifest_files: list[str], base_dir: Path,
                  file: str | None) -> VolcanoSection:
    """The scenario's Volcano section: ``spec.volcano`` (settings, inline objects) plus every Volcano Queue
    and PodGroup in the ``spec.manifests`` files."""
    src = file or "<scenario>"
    section = VolcanoSection()
    section.queues[DEFAULT_QUEUE] = VolcanoQueue(DEFAULT_QUEUE)
    raw = inline or {}
    if not isinstance(raw, dict):
        raise InputError("spec.volcano must be a map", file=src, field="spec.volcano",
                         fix="write volcano: {schedulePeriod: 1s, queues: [...]}")
    for k in sorted(raw):
        if k not in _SECTION:
            section.warnings.append(f"{src}: spec.volcano.{k}: not modelled by kubetwin; ignored")
    if "schedulePeriod" in raw:
        try:
            period = parse_duration(str(raw["schedulePeriod"]))
        except DurationError as e:
            raise InputError(str(e), file=src, field="spec.volcano.schedulePeriod",
                             fix="use a Go duration such as 1s or 500ms") from None
        if period <= 0:
            raise InputError("schedulePeriod must be > 0", file=src, field="spec.volcano.schedulePeriod",
                             fix="use e.g. 1s (Volcano's default)")
        section.schedule_period = period
    if "actions" in raw:
        section.actions = _actions(raw["actions"], src)
    if "overcommitFactor" in raw:
        f = raw["overcommitFactor"]
        if isinstance(f, bool) or not isinstance(f, int | float) or f < 1.0:
            raise InputError(f"overcommitFactor must be a number >= 1.0, got {f!r}", file=src,
                             field="spec.volcano.overcommitFactor", fix="use e.g. 1.2 (Volcano's default)")
        section.overcommit_factor = float(f)
    for key, kind in (("queues", "Queue"), ("podGroups", "PodGroup")):
        items = raw.get(key) or []
        if not isinstance(items, list):
            raise InputError(f"spec.volcano.{key} must be a list of {kind} objects", file=src,
                             field=f"spec.volcano.{key}", fix=f"write {key}: [{{apiVersion, kind: {kind}, ...}}]")
        for i, doc in enumerate(items):
            where = f"{src}#spec.volcano.{key}[{i}]"
            if not isinstance(doc, dict) or doc.get("kind", kind) != kind:
                raise InputError(f"expected a {VOLCANO_GROUP}/{VOLCANO_VERSION} {kind}", file=src,
                                 field=f"spec.volcano.{key}[{i}]",
                                 fix=f"write apiVersion: {VOLCANO_GROUP}/{VOLCANO_VERSION}, kind: {kind}")
            doc = {"apiVersion": f"{VOLCANO_GROUP}/{VOLCANO_VERSION}", **doc, "kind": kind}
            _route(doc, where, section)
    for p in manifest_files:
        path = Path(p) if Path(p).is_absolute() else base_dir / p
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue  # models.manifests reports unreadable files
        for i, doc in enumerate(load_documents(text, str(p))):
            if isinstance(doc, dict):
                _route(doc, f"{p}#{i}", section)
    for pg in section.pod_groups.values():
        if pg.queue not in section.queues:
            raise InputError(f"PodGroup {pg.key} names Queue {pg.queue!r}, which is not defined", file=pg.where,
                             field="spec.queue", fix="define that scheduling.volcano.sh/v1beta1 Queue or use "
                                                     "queue: default")
    return section


def _actions(raw: Any, src: str) -> tuple[str, ...]:
    names = [a.strip() for a in raw.split(",")] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(a, str) and a for a in names):
        raise InputError(f"actions must be a comma-separated list, got {raw!r}", file=src,
                         field="spec.volcano.actions", fix='write e.g. actions: "enqueue, allocate, backfill"')
    for a in names:
        if a not in KNOWN_ACTIONS:
            raise InputError(f"unknown Volcano action {a!r}", file=src, field="spec.volcano.actions",
                             fix=f"use some of {', '.join(KNOWN_ACTIONS)}")
    if "allocate" not in names:
        raise InputError("the actions must include allocate", file=src, field="spec.volcano.actions",
                         fix='write e.g. actions: "enqueue, allocate, backfill"')
    return tuple(a for a in KNOWN_ACTIONS if a in names)
