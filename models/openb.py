"""The Alibaba GPU cluster trace (cluster-trace-gpu-v2023, "openb") as typed records.

The trace describes a production Kubernetes cluster: its Nodes (CPU, memory, GPU count and GPU
model) and its Pods (CPU and memory requests, whole GPUs or a share of one GPU, an optional GPU-model
selector, and the real creation, scheduling and deletion times). This module reads the two CSV files
and checks every row; it knows nothing of the simulator.

Columns (header names; order and extra columns do not matter, extra columns are ignored):

- node list: ``sn`` (or ``name``), ``cpu_milli``, ``memory_mib``, ``gpu``; ``model`` is required
  when ``gpu`` > 0.
- pod list: ``name``, ``cpu_milli``, ``memory_mib``, ``num_gpu``, ``gpu_milli``; optional
  ``gpu_spec`` (GPU models joined by ``|``; empty = any model), ``qos``, ``pod_phase``,
  ``creation_time``, ``deletion_time``, ``scheduled_time`` (seconds; empty = never happened).

A bad row raises :class:`models.errors.InputError` naming the file, line, column and the fix.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from models.errors import InputError

#: One GPU in milli-GPU: ``gpu_milli`` is the share of one GPU a pod asks for.
GPU_MILLI = 1000

_NODE_REQUIRED = ("cpu_milli", "memory_mib", "gpu")
_POD_REQUIRED = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli")


@dataclass(frozen=True, slots=True)
class OpenbNode:
    """One Node of the trace."""

    name: str
    cpu_milli: int
    memory_mib: int
    gpu: int
    model: str  # "" for a CPU node


@dataclass(frozen=True, slots=True)
class OpenbPod:
    """One Pod of the trace."""

    name: str
    cpu_milli: int
    memory_mib: int
    num_gpu: int
    gpu_milli: int  # per GPU: 1..999 a share of one GPU (num_gpu == 1), 1000 whole GPUs, 0 no GPU
    gpu_spec: tuple[str, ...] = ()  # allowed GPU models; () = any
    qos: str = ""
    pod_phase: str = ""
    creation_time: float | None = None
    deletion_time: float | None = None
    scheduled_time: float | None = None
    line: int = 0

    @property
    def total_gpu_milli(self) -> int:
        """GPU requested in milli-GPU (``num_gpu × gpu_milli``)."""
        return self.num_gpu * self.gpu_milli

    @property
    def shares_gpu(self) -> bool:
        """True when the pod asks for a share of one GPU (``gpu_milli`` < 1000)."""
        return self.num_gpu == 1 and self.gpu_milli < GPU_MILLI


def _open_rows(path: Path, required: Sequence[str], what: str) -> tuple[list[str], Iterator[list[str]], TextIO]:
    try:
        fh = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", file=str(path),
                         fix=f"pass the openb {what} CSV, e.g. ../shared/data/openb/") from None
    except IsADirectoryError:
        raise InputError("is a directory, not a CSV file", file=str(path),
                         fix=f"pass the {what} CSV file inside it") from None
    reader = csv.reader(fh)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        fh.close()
        raise InputError("empty file: no header line", file=str(path), line=1,
                         fix=f"the first line names the columns: {', '.join(required)}") from None
    except (UnicodeError, csv.Error) as e:
        fh.close()
        raise InputError(f"not a readable CSV file: {e}", file=str(path), line=1) from None
    return header, reader, fh


def _columns(path: Path, header: list[str], required: Sequence[str]) -> dict[str, int]:
    cols: dict[str, int] = {}
    for i, h in enumerate(header):
        if h and h not in cols:
            cols[h] = i
    for name in required:
        if name not in cols:
            raise InputError(f"missing column {name!r} (header has: {', '.join(header)})", file=str(path),
                             line=1, field=name, fix=f"add a {name!r} column; required: {', '.join(required)}")
    return cols


class _Row:
    """Typed access to one CSV row, turning every bad cell into an InputError."""

    def __init__(self, path: Path, line: int, cols: dict[str, int], cells: list[str]) -> None:
        self.path, self.line, self.cols, self.cells = path, line, cols, cells

    def _err(self, column: str, message: str, fix: str) -> InputError:
        return InputError(message, file=str(self.path), line=self.line, column=self.cols[column] + 1,
                          field=column, fix=fix)

    def text(self, column: str) -> str:
        i = self.cols.get(column)
        if i is None or i >= len(self.cells):
            return ""
        return self.cells[i].strip()

    def integer(self, column: str, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self.text(column)
        if raw == "":
            raise self._err(column, "empty value", f"write a whole number ≥ {minimum}")
        try:
            value = float(raw)
        except ValueError:
            raise self._err(column, f"not a number: {raw!r}", f"write a whole number ≥ {minimum}") from None
        if not math.isfinite(value) or value != int(value):
            raise self._err(column, f"not a whole number: {raw!r}", f"write a whole number ≥ {minimum}")
        ivalue = int(value)
        if ivalue < minimum or (maximum is not None and ivalue > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"≥ {minimum}"
            raise self._err(column, f"{ivalue} is out of range", f"write a whole number {bound}")
        return ivalue

    def seconds(self, column: str) -> float | None:
        raw = self.text(column)
        if raw == "":
            return None
        try:
            value = float(raw)
        except ValueError:
            raise self._err(column, f"not a time in seconds: {raw!r}",
                            "write seconds as a number, or leave the cell empty when it never happened") from None
        if not math.isfinite(value) or value < 0:
            raise self._err(column, f"not a time in seconds: {raw!r}", "write seconds ≥ 0")
        return value


def read_nodes(path: str | os.PathLike[str]) -> list[OpenbNode]:
    """Read a node list CSV (``openb_node_list_*.csv``)."""
    p = Path(path)
    header, reader, fh = _open_rows(p, ("sn", *_NODE_REQUIRED), "node list")
    try:
        name_col = "sn" if "sn" in header else "name"
        cols = _columns(p, header, (name_col, *_NODE_REQUIRED))
        nodes: list[OpenbNode] = []
        seen: dict[str, int] = {}
        for line, cells in enumerate(reader, start=2):
            if not cells or all(not c.strip() for c in cells):
                continue
            row = _Row(p, line, cols, cells)
            name = row.text(name_col)
            if not name:
                raise row._err(name_col, "empty node name", "give every node a unique name")
            if name in seen:
                raise row._err(name_col, f"node {name!r} already on line {seen[name]}", "give every node a unique name")
            seen[name] = line
            gpu = row.integer("gpu", maximum=64)
            model = row.text("model")
            if gpu > 0 and not model:
                if "model" not in cols:
                    raise InputError("missing column 'model' (required when a node has GPUs)", file=str(p), line=1,
                                     field="model", fix="add a 'model' column naming each node's GPU model")
                raise row._err("model", f"node {name!r} has {gpu} GPU(s) but no GPU model",
                               "name the GPU model, e.g. V100M16")
            nodes.append(OpenbNode(name=name, cpu_milli=row.integer("cpu_milli"),
                                   memory_mib=row.integer("memory_mib"), gpu=gpu, model=model if gpu > 0 else ""))
    except (UnicodeError, csv.Error) as e:
        raise InputError(f"not a readable CSV file: {e}", file=str(p)) from None
    finally:
        fh.close()
    if not nodes:
        raise InputError("no node rows", file=str(p), fix="the node list needs at least one node")
    return nodes


def read_pods(path: str | os.PathLike[str]) -> list[OpenbPod]:
    """Read a pod list CSV (``openb_pod_list_*.csv``)."""
    p = Path(path)
    header, reader, fh = _open_rows(p, _POD_REQUIRED, "pod list")
    try:
        cols = _columns(p, header, _POD_REQUIRED)
        pods: list[OpenbPod] = []
        seen: dict[str, int] = {}
        for line, cells in enumerate(reader, start=2):
            if not cells or all(not c.strip() for c in cells):
                continue
            pods.append(_pod(_Row(p, line, cols, cells), seen))
    except (UnicodeError, csv.Error) as e:
        raise InputError(f"not a readable CSV file: {e}", file=str(p)) from None
    finally:
        fh.close()
    if not pods:
        raise InputError("no pod rows", file=str(p), fix="the pod list needs at least one pod")
    return pods


def _pod(row: _Row, seen: dict[str, int]) -> OpenbPod:
    name = row.text("name")
    if not name:
        raise row._err("name", "empty pod name", "give every pod a unique name")
    if name in seen:
        raise row._err("name", f"pod {name!r} already on line {seen[name]}", "give every pod a unique name")
    seen[name] = row.line
    num_gpu = row.integer("num_gpu", maximum=64)
    gpu_milli = row.integer("gpu_milli", maximum=GPU_MILLI)
    if num_gpu == 0 and gpu_milli != 0:
        raise row._err("gpu_milli", f"gpu_milli is {gpu_milli} but num_gpu is 0",
                       "a pod without GPUs has gpu_milli 0; or set num_gpu to 1 for a GPU share")
    if num_gpu > 0 and gpu_milli == 0:
        raise row._err("gpu_milli", f"num_gpu is {num_gpu} but gpu_milli is 0",
                       "write gpu_milli 1000 for whole GPUs or 1-999 for a share of one GPU")
    if num_gpu > 1 and gpu_milli != GPU_MILLI:
        raise row._err("gpu_milli", f"{num_gpu} GPUs each shared at {gpu_milli} milli",
                       "a GPU share (gpu_milli < 1000) is of one GPU: set num_gpu to 1, or gpu_milli to 1000")
    spec = tuple(sorted({m.strip() for m in row.text("gpu_spec").split("|") if m.strip()}))
    if spec and num_gpu == 0:
        raise row._err("gpu_spec", "gpu_spec names GPU models but the pod asks for no GPU",
                       "leave gpu_spec empty for a pod without GPUs")
    creation = row.seconds("creation_time")
    deletion = row.seconds("deletion_time")
    scheduled = row.seconds("scheduled_time")
    if creation is not None and scheduled is not None and scheduled < creation:
        raise row._err("scheduled_time", f"scheduled at {scheduled:g} s, before its creation at {creation:g} s",
                       "scheduled_time is ≥ creation_time")
    if creation is not None and deletion is not None and deletion < creation:
        raise row._err("deletion_time", f"deleted at {deletion:g} s, before its creation at {creation:g} s",
                       "deletion_time is ≥ creation_time")
    return OpenbPod(name=name, cpu_milli=row.integer("cpu_milli"), memory_mib=row.integer("memory_mib"),
                    num_gpu=num_gpu, gpu_milli=gpu_milli, gpu_spec=spec, qos=row.text("qos"),
                    pod_phase=row.text("pod_phase"), creation_time=creation, deletion_time=deletion,
                    scheduled_time=scheduled, line=row.line)


def real_wait_seconds(pods: Iterable[OpenbPod]) -> dict[str, float | int | None]:
    """``trace.realWaitSeconds``: p50/p90/p99 of the real ``scheduled_time − creation_time``.

    Only pods with both times count (``count``); a pod never scheduled has no wait. Percentiles are
    linear interpolation between closest ranks (numpy's default), rounded to the millisecond.
    """
    waits = sorted(p.scheduled_time - p.creation_time for p in pods
                   if p.scheduled_time is not None and p.creation_time is not None)

    def pct(q: float) -> float | None:
        if not waits:
            return None
        pos = (len(waits) - 1) * q / 100.0
        lo = math.floor(pos)
        hi = min(lo + 1, len(waits) - 1)
        return round(waits[lo] + (waits[hi] - waits[lo]) * (pos - lo), 3)

    return {"p50": pct(50), "p90": pct(90), "p99": pct(99), "count": len(waits)}


def describe_real_wait(waits: Mapping[str, Any]) -> str:
    """The one line ``kubetwin import openb`` prints about :func:`real_wait_seconds`; a trace without
    scheduled times says so instead of printing ``None`` percentiles."""
    if not waits.get("count"):
        return ("real scheduling wait: not in this trace (no pod has both creation_time and scheduled_time); "
                "trace.realWaitSeconds will be null")
    return (f"real scheduling wait: p50 {waits['p50']} s, p90 {waits['p90']} s, p99 {waits['p99']} s "
            f"over {waits['count']} scheduled pods")


#: the scenario annotation ``kubetwin import openb`` stores the real waits in (JSON)
REAL_WAIT_ANNOTATION = "import.kubetwin.dev/real-wait-seconds"


def trace_summary(annotations: Mapping[str, str], file: str | None = None) -> dict[str, Any] | None:
    """``summary.json``'s ``trace`` section for an imported trace: ``{"realWaitSeconds": {p50, p90, p99,
    count}}`` from the scenario's :data:`REAL_WAIT_ANNOTATION`; ``None`` for a scenario without it."""
    text = annotations.get(REAL_WAIT_ANNOTATION)
    if text is None:
        return None
    field = f"metadata.annotations[{REAL_WAIT_ANNOTATION}]"
    fix = 'write JSON {"p50": s, "p90": s, "p99": s, "count": n} (as kubetwin import openb does) or remove it'
    try:
        waits = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"not JSON: {e.msg}", file=file, field=field, fix=fix) from None
    keys = ("p50", "p90", "p99", "count")
    if not isinstance(waits, dict) or set(waits) != set(keys) or not all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in waits.values()):
        raise InputError(f"holds {text!r}", file=file, field=field, fix=fix)
    return {"realWaitSeconds": {k: waits[k] for k in keys}}
