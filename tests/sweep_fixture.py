"""A tiny scenario and a sweep over it, for the sweep tests (a file on disk, as users write them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SCENARIO = """\
apiVersion: kubetwin.dev/v1alpha1
kind: Scenario
metadata: {name: tiny}
spec:
  seed: 1
  duration: 2h
  cluster:
    nodePools:
    - name: gpu
      count: 1
      allocatable: {cpu: "16", memory: 64Gi, nvidia.com/gpu: "2"}
      pricePerHour: 10.0
    - name: cpu
      count: 1
      allocatable: {cpu: "8", memory: 32Gi}
      pricePerHour: 1.0
  workloads:
  - name: train
    namespace: ml
    arrival: {poisson: {meanInterval: 10m}}
    count: 8
    template:
      requests: {cpu: "4", memory: 8Gi, nvidia.com/gpu: "1"}
    duration: {empirical: {csv: durations.csv, column: seconds}}
"""


def write_sweep(tmp: Path, body: dict[str, Any], name: str = "sweep.yaml") -> Path:
    (tmp / "sc").mkdir(exist_ok=True)
    (tmp / "sc" / "tiny.yaml").write_text(SCENARIO, encoding="utf-8")
    (tmp / "sc" / "durations.csv").write_text("seconds\n600\n1200\n1800\n", encoding="utf-8")
    doc = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Sweep", "metadata": {"name": "t"},
           "spec": {"scenario": "sc/tiny.yaml", **body}}
    p = tmp / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return p
