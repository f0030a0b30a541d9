"""Topology-aware scheduling: Kueue TAS ``podset-required-topology``.

A pod set that requires a topology level (a node label such as ``cloud.provider/rack`` or
``kubernetes.io/hostname``) must land inside one domain of that level: Kueue assigns the domain at
admission and ungates the pods with a matching nodeSelector.

Invariant ``G9``: when ``WorkloadCreated`` data (or one of its ``podSets``) has
``topology: {level: <label>, mode: required}``, all bound pods of that pod set are on nodes whose
``NodeReady`` labels carry the same value for ``level``. Pods of an earlier admission that have left
no longer count, so a re-admitted workload may move to another domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from models.timeline import Event
from validator.checks.common import Finding, PassResult, fmt_t, pod_ref, prepare, workload_ref

_WANTED = frozenset({"Scheduled", "PodDeleted", "Preempted", "PodSucceeded", "PodFailed", "PodCreated",
                     "WorkloadCreated", "NodeReady"})


def _required_level(spec: Any) -> str | None:
    if isinstance(spec, dict) and spec.get("level") and spec.get("mode", "required") == "required":
        return str(spec["level"])
    return None


def topology_pass(events: Sequence[Event]) -> PassResult:
    """One pass: the domain each bound pod of a required-topology pod set sits in."""
    out = PassResult()
    labels: dict[str, dict[str, Any]] = {}
    levels: dict[tuple[str, str], str] = {}         # (workload, podSet) -> level; podSet "*" = all
    kinds: dict[str, str] = {}
    pod_set: dict[str, tuple[str, str]] = {}          # pod -> (workload, podSet)
    placed: dict[str, tuple[tuple[str, str], str | None, str]] = {}   # pod -> (set key, domain, node)
    domains: dict[tuple[str, str], dict[str | None, set[str]]] = {}
    evs = prepare(events)
    for ev, k in zip(evs, evs.keys, strict=True):
        typ = ev.type
        if typ not in _WANTED:
            continue
        if typ == "Scheduled":
            key = k
            sk = pod_set.get(key)
            if sk is None:
                continue
            level = levels.get(sk) or levels.get((sk[0], "*"))
            if level is None:
                continue
            node = ev.node or ""
            _leave(key, placed, domains)
            value = labels.get(node, {}).get(level)
            dom = domains.setdefault(sk, {})
            others = sorted((d for d in dom if d != value and dom[d]), key=str)
            if value is None or others:
                shown = f"{level}={value}" if value is not None else f"no {level} label"
                elsewhere = "; ".join(f"{len(dom[d])} in {level}={d} ({', '.join(sorted(dom[d])[:3])})"
                                      for d in others)
                out.findings.append(Finding(
                    "G9", (workload_ref(sk[0], kinds.get(sk[0], "Workload")), pod_ref(key), f"Node {node}"),
                    ev.t, f"pod set {sk[1]} of {sk[0]} requires one {level} domain, but pod {key} was bound "
                          f"at t={fmt_t(ev.t)} to node {node} ({shown})"
                          + (f" while its siblings are bound {elsewhere}" if others else "")))
            dom.setdefault(value, set()).add(key)
            placed[key] = (sk, value, node)
        elif typ in ("PodDeleted", "Preempted", "PodSucceeded", "PodFailed"):
            _leave(k, placed, domains)
        elif typ == "PodCreated":
            gk = ev.group
            if gk and gk in kinds:
                pod_set[k] = (gk, str(ev.data.get("podSet") or "main"))
        elif typ == "WorkloadCreated":
            gk = k
            top = _required_level(ev.data.get("topology"))
            found = False
            if top:
                levels[(gk, "*")] = top
                found = True
            for ps in ev.data.get("podSets") or []:
                lv = _required_level(ps.get("topology")) if isinstance(ps, dict) else None
                if lv:
                    levels[(gk, str(ps.get("name")))] = lv
                    found = True
            if found:
                kinds[gk] = ev.kind
                out.applicable.add("G9")
        elif typ == "NodeReady":
            labels[ev.name] = ev.data.get("labels") or {}
    return out


def _leave(key: str, placed: dict[str, tuple[tuple[str, str], str | None, str]],
           domains: dict[tuple[str, str], dict[str | None, set[str]]]) -> None:
    p = placed.pop(key, None)
    if p is not None:
        domains[p[0]][p[1]].discard(key)
