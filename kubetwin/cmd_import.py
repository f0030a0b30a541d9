"""``kubetwin import openb``: the Alibaba GPU cluster trace (openb) as a scenario and a real timeline.

The trace (``models.openb``) lists a production cluster's Nodes and every Pod with its requests and its
real creation, scheduling and deletion times. The importer writes

- a scenario: node pools by (GPU model, CPU, memory, GPU count), each Node labelled with its GPU model;
  one workload per Pod arriving at its real ``creation_time`` and running for its real run time
  (``deletion_time − scheduled_time``, or ``− creation_time`` for a Pod the production scheduler never
  placed; Pods never deleted run past the end). Whole GPUs are ``nvidia.com/gpu`` requests; ``gpu_spec``
  is a required node affinity on the GPU-model label; a share of one GPU (``gpu_milli`` < 1000) is, with
  ``--gpu-sharing dra`` (the default), a DRA ResourceClaimTemplate asking one shareable GPU device for
  that much consumable capacity (the GPUs are DRA devices; whole-GPU requests reach them through the
  DeviceClass's ``extendedResourceName``), or with ``--gpu-sharing whole`` one whole ``nvidia.com/gpu``
  (the GPUs stay in ``allocatable``);
- with ``--timeline``, what the production scheduler did: ``PodCreated`` at each Pod's real creation time
  and ``Scheduled`` at its real scheduling time (``source: live``, ``trace: openb`` in the header), so
  ``kubetwin compare`` can set a simulation of the scenario beside reality.

``docs/import-openb.md`` documents every emitted field.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from models.errors import InputError
from models.openb import (
    GPU_MILLI,
    REAL_WAIT_ANNOTATION,
    OpenbNode,
    OpenbPod,
    describe_real_wait,
    read_nodes,
    read_pods,
    real_wait_seconds,
)
from models.timeline import TimelineWriter

#: Node label holding the GPU model (``V100M16``, ``T4``, ``G2``…); ``gpu_spec`` selects on it.
GPU_MODEL_LABEL = "kubetwin.dev/gpu-model"
#: DRA driver, DeviceClass and device capacity name of the shareable GPUs (``--gpu-sharing dra``).
GPU_DRIVER = "gpu.kubetwin.dev"
GPU_DEVICE_CLASS = "gpu.kubetwin.dev"
GPU_SHARE_CAPACITY = "milli"
ANNOTATION_PREFIX = "import.kubetwin.dev/"
GPU_SHARING_MODES = ("dra", "whole")

HELP = (
    "Import the Alibaba GPU cluster trace (cluster-trace-gpu-v2023, 'openb' CSVs) as a scenario: node pools "
    "by GPU model, CPU, memory and GPU count; every pod at its real creation time for its real run time. "
    "--timeline also writes what the production scheduler did (PodCreated, Scheduled) for 'kubetwin compare'.\n\n"
    "Exit codes: 0 written; 2 unusable input."
)

_DNS = re.compile(r"[^a-z0-9-]+")


def dns_name(text: str, limit: int = 63) -> str:
    """A DNS-1123 label made from ``text`` (lowercase, other characters → ``-``)."""
    name = _DNS.sub("-", text.lower()).strip("-")[:limit].strip("-")
    return name or "x"


def cpu_quantity(milli: int) -> str:
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def memory_quantity(mib: int) -> str:
    if mib % (1024 * 1024) == 0 and mib:
        return f"{mib // (1024 * 1024)}Ti"
    return f"{mib // 1024}Gi" if mib % 1024 == 0 and mib else f"{mib}Mi"


def go_duration(seconds: float) -> str:
    if seconds <= 0:
        return "0s"
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{round(seconds, 3):g}s"


def pool_name(model: str, cpu_milli: int, memory_mib: int, gpus: int) -> str:
    return dns_name(f"{model or 'cpu'}-{cpu_quantity(cpu_milli)}cpu-{memory_quantity(memory_mib)}-{gpus}gpu")


def node_pools(nodes: Sequence[OpenbNode], gpu_sharing: str) -> list[dict[str, Any]]:
    """Node pools by (GPU model, CPU, memory, GPU count), sorted by those keys."""
    groups = Counter((n.model, n.cpu_milli, n.memory_mib, n.gpu) for n in nodes)
    pools: list[dict[str, Any]] = []
    seen: Counter[str] = Counter()
    for (model, cpu, mem, gpus), count in sorted(groups.items()):
        name = pool_name(model, cpu, mem, gpus)
        seen[name] += 1
        if seen[name] > 1:
            name = f"{name}-{seen[name]}"
        allocatable: dict[str, str] = {"cpu": cpu_quantity(cpu), "memory": memory_quantity(mem)}
        pool: dict[str, Any] = {"name": name, "count": count,
                                "labels": {GPU_MODEL_LABEL: model} if gpus else {},
                                "allocatable": allocatable}
        if gpus:
            if gpu_sharing == "whole":
                allocatable["nvidia.com/gpu"] = str(gpus)
            else:
                pool["devices"] = {
                    "driver": GPU_DRIVER, "count": gpus, "namePrefix": "gpu",
                    "attributes": {"model": model},
                    "allowMultipleAllocations": True,
                    "capacity": {GPU_SHARE_CAPACITY: {
                        "value": str(GPU_MILLI),
                        "requestPolicy": {"default": str(GPU_MILLI),
                                          "validRange": {"min": "1", "max": str(GPU_MILLI)}}}},
                }
        allocatable["pods"] = "110"
        pools.append(pool)
    return pools


def claim_template_name(milli: int) -> str:
    return f"gpu-share-{milli}"


def dra_objects(milli_values: Sequence[int]) -> dict[str, Any]:
    """``spec.dra``: the DeviceClass of the shareable GPUs and one ResourceClaimTemplate per share size."""
    device_class = {
        "apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass",
        "metadata": {"name": GPU_DEVICE_CLASS},
        "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{GPU_DRIVER}"'}}],
                 "extendedResourceName": "nvidia.com/gpu"},
    }
    templates = [{
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
        "metadata": {"name": claim_template_name(m), "namespace": "default"},
        "spec": {"spec": {"devices": {"requests": [{
            "name": "gpu",
            "exactly": {"deviceClassName": GPU_DEVICE_CLASS, "allocationMode": "ExactCount", "count": 1,
                        "capacity": {"requests": {GPU_SHARE_CAPACITY: str(m)}}},
        }]}}},
    } for m in sorted(set(milli_values))]
    return {"deviceClasses": [device_class], "resourceClaimTemplates": templates}


def _times(pods: Sequence[OpenbPod], pods_file: Path) -> tuple[float, bool]:
    """The trace's time origin and whether it has creation times at all."""
    timed = [p for p in pods if p.creation_time is not None]
    if not timed:
        return 0.0, False
    if len(timed) != len(pods):
        bad = next(p for p in pods if p.creation_time is None)
        raise InputError(f"pod {bad.name!r} has no creation_time while others have one", file=str(pods_file),
                         line=bad.line, field="creation_time",
                         fix="give every pod its creation time in seconds (or drop the column for an untimed trace)")
    return min(p.creation_time for p in timed if p.creation_time is not None), True


def build_scenario(nodes: Sequence[OpenbNode], pods: Sequence[OpenbPod], *, nodes_file: Path, pods_file: Path,
                   gpu_sharing: str = "dra", untimed_duration: float = 3600.0) -> dict[str, Any]:
    """The scenario document (a plain dict, ready for YAML)."""
    if gpu_sharing not in GPU_SHARING_MODES:
        raise InputError(f"unknown GPU sharing mode {gpu_sharing!r}", field="--gpu-sharing",
                         fix=f"choose {' or '.join(GPU_SHARING_MODES)}")
    models_on_nodes = {n.model for n in nodes if n.gpu}
    origin, timed = _times(pods, pods_file)
    for p in pods:
        unknown = [m for m in p.gpu_spec if m not in models_on_nodes]
        if p.gpu_spec and len(unknown) == len(p.gpu_spec):
            raise InputError(f"pod {p.name!r} asks for GPU model(s) {'|'.join(p.gpu_spec)} that no node has "
                             f"(nodes have: {', '.join(sorted(models_on_nodes))})", file=str(pods_file),
                             line=p.line, field="gpu_spec",
                             fix="use a model of the node list, or the matching node list")
    end = 0.0
    if timed:
        for p in pods:
            for t in (p.creation_time, p.scheduled_time, p.deletion_time):
                if t is not None:
                    end = max(end, t - origin)
    duration = max(end, 1.0) if timed else untimed_duration
    workloads: list[dict[str, Any]] = []
    names: Counter[str] = Counter()
    shares: list[int] = []
    for p in pods:
        name = dns_name(p.name)
        names[name] += 1
        if names[name] > 1:
            name = dns_name(f"{name[:55]}-{names[name]}")
        requests: dict[str, str] = {"cpu": cpu_quantity(p.cpu_milli), "memory": memory_quantity(p.memory_mib)}
        template: dict[str, Any] = {"requests": requests}
        if p.num_gpu:
            if p.shares_gpu and gpu_sharing == "dra":
                template["resourceClaims"] = [{"name": "gpu",
                                               "resourceClaimTemplateName": claim_template_name(p.gpu_milli)}]
                shares.append(p.gpu_milli)
            else:
                requests["nvidia.com/gpu"] = str(p.num_gpu)
            if p.gpu_spec:
                template["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [{"matchExpressions": [
                        {"key": GPU_MODEL_LABEL, "operator": "In", "values": list(p.gpu_spec)}]}]}}}
        arrive = (p.creation_time - origin) if (timed and p.creation_time is not None) else 0.0
        if p.deletion_time is not None and timed:
            start = p.scheduled_time if p.scheduled_time is not None else p.creation_time
            runtime = p.deletion_time - (start if start is not None else p.deletion_time)
        else:
            runtime = duration  # never finished: runs to the end
        workloads.append({"name": name, "arrival": {"at": [go_duration(arrive)]}, "count": 1,
                          "template": template, "duration": go_duration(runtime)})
    spec: dict[str, Any] = {"seed": 0, "duration": go_duration(duration),
                            "cluster": {"nodePools": node_pools(nodes, gpu_sharing)}}
    if shares:
        spec["dra"] = dra_objects(shares)
    spec["workloads"] = workloads
    waits = real_wait_seconds(pods)
    annotations = {
        f"{ANNOTATION_PREFIX}source": "alibaba/clusterdata cluster-trace-gpu-v2023 (openb)",
        f"{ANNOTATION_PREFIX}nodes": str(nodes_file),
        f"{ANNOTATION_PREFIX}pods": str(pods_file),
        f"{ANNOTATION_PREFIX}gpu-sharing": gpu_sharing,
        f"{ANNOTATION_PREFIX}time-origin-seconds": f"{origin:g}",
        REAL_WAIT_ANNOTATION: json.dumps(waits, separators=(",", ":")),
    }
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario",
            "metadata": {"name": dns_name(f"openb-{pods_file.stem.removeprefix('openb_')}"),
                         "annotations": annotations},
            "spec": spec}


def scenario_yaml(doc: dict[str, Any]) -> str:
    """The scenario as YAML, one workload per line (a JSON flow mapping, which is YAML): compact, quick to
    write for thousands of pods, and easy to edit one pod at a time."""
    head = {**doc, "spec": {k: v for k, v in doc["spec"].items() if k != "workloads"}}
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present
    text = yaml.dump(head, Dumper=dumper, sort_keys=False, default_flow_style=False, width=200, allow_unicode=True)
    lines = [json.dumps(w, separators=(", ", ": "), ensure_ascii=False) for w in doc["spec"]["workloads"]]
    return text + "  workloads:\n" + "".join(f"  - {line}\n" for line in lines)


def write_timeline(path: Path, pods: Sequence[OpenbPod], scenario_name: str) -> int:
    """PodCreated and Scheduled events of the real trace, in time order; returns the number of events."""
    origin = min((p.creation_time for p in pods if p.creation_time is not None), default=0.0)
    events: list[tuple[float, int, int, OpenbPod]] = []
    for i, p in enumerate(pods):
        if p.creation_time is None:
            continue
        events.append((p.creation_time - origin, 0, i, p))
        if p.scheduled_time is not None:
            events.append((p.scheduled_time - origin, 1, i, p))
    events.sort(key=lambda e: (e[0], e[2], e[1]))
    try:
        with TimelineWriter(path) as w:
            w.header("live", scenario=scenario_name, trace="openb")
            for t, what, _, p in events:
                name = dns_name(p.name)
                if what == 0:
                    requests: dict[str, str] = {"cpu": cpu_quantity(p.cpu_milli),
                                                "memory": memory_quantity(p.memory_mib)}
                    data: dict[str, Any] = {"requests": requests, "priority": 0, "workload": name}
                    if p.num_gpu:
                        requests["nvidia.com/gpu"] = str(p.num_gpu)
                        if p.shares_gpu:
                            data["gpuMilli"] = p.gpu_milli
                        if p.gpu_spec:
                            data["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [{"matchExpressions": [
                                    {"key": GPU_MODEL_LABEL, "operator": "In", "values": list(p.gpu_spec)}]}]}}}
                    w.emit(t, "PodCreated", "Pod", name, "default", data=data)
                else:
                    w.emit(t, "Scheduled", "Pod", name, "default",
                           reason=f"Successfully assigned default/{name}")
    except OSError as e:
        raise InputError(f"cannot write the timeline: {e}", file=str(path)) from None
    return len(events) + 1


def import_openb(nodes_file: Path, pods_file: Path, out: Path, timeline: Path | None = None,
                 gpu_sharing: str = "dra") -> dict[str, Any]:
    """Read the trace, write the scenario (and timeline); returns a small report."""
    t0 = time.perf_counter()
    nodes = read_nodes(nodes_file)
    pods = read_pods(pods_file)
    doc = build_scenario(nodes, pods, nodes_file=nodes_file, pods_file=pods_file, gpu_sharing=gpu_sharing)
    text = scenario_yaml(doc)
    try:
        out.write_text("# Imported by 'kubetwin import openb' — see docs/import-openb.md\n" + text, encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write the scenario: {e}", file=str(out)) from None
    events = write_timeline(timeline, pods, doc["metadata"]["name"]) if timeline is not None else 0
    return {"nodes": len(nodes), "pods": len(pods), "nodePools": len(doc["spec"]["cluster"]["nodePools"]),
            "sharedGpuPods": sum(1 for p in pods if p.shares_gpu), "timelineEvents": events,
            "realWaitSeconds": real_wait_seconds(pods), "wallSeconds": round(time.perf_counter() - t0, 3)}


def register(app: typer.Typer) -> None:
    """Add the ``import`` verb group (``import openb``) to the app."""
    imp = typer.Typer(help="Import real cluster traces as scenarios.", no_args_is_help=True)
    app.add_typer(imp, name="import")

    @imp.command("openb", help=HELP)
    def openb(
        nodes: Annotated[Path, typer.Option("--nodes", help="node list CSV (sn, cpu_milli, memory_mib, gpu, model)")],
        pods: Annotated[Path, typer.Option("--pods", help="pod list CSV (name, cpu_milli, memory_mib, num_gpu, "
                                                          "gpu_milli[, gpu_spec, creation_time, …])")],
        out: Annotated[Path, typer.Option("-o", "--output", help="scenario YAML to write")],
        timeline: Annotated[Path | None, typer.Option("--timeline", help="also write the real trace as a "
                                                                         "timeline (JSONL)")] = None,
        gpu_sharing: Annotated[str, typer.Option("--gpu-sharing", help="GPU shares as DRA claims on shareable GPU "
                                                                       "devices ('dra', the default) or rounded "
                                                                       "up to whole nvidia.com/gpu ('whole')")] = "dra",
    ) -> None:
        report = import_openb(nodes, pods, out, timeline, gpu_sharing)
        console = Console(highlight=False)
        w = report["realWaitSeconds"]
        console.print(f"wrote {out}: {report['nodes']} nodes in {report['nodePools']} pools, {report['pods']} pods "
                      f"({report['sharedGpuPods']} sharing a GPU, --gpu-sharing {gpu_sharing})")
        if timeline is not None:
            console.print(f"wrote {timeline}: {report['timelineEvents']} events (source live, trace openb)")
        console.print(f"{describe_real_wait(w)}; {report['wallSeconds']:.2f} s")
