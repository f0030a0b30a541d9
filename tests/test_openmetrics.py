"""``--metrics``: the timeline as OpenMetrics (DCGM per-GPU, node-pool and Kueue series), and that a real
``promtool tsdb create-blocks-from openmetrics`` accepts it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from timeline_builder import TL
from typer.testing import CliRunner

from kubetwin.cli import app
from kubetwin.metrics_out import metrics_start
from validator.openmetrics import gpu_model, openmetrics

ROOT = Path(__file__).resolve().parent.parent
H100 = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}


def timeline() -> TL:
    tl = TL()
    tl.node("g0", labels=H100, cpu="8", memory="32Gi", nvidia__com_gpu="2")
    tl.pod("ml/train", 0, cpu="1", nvidia__com_gpu="1").bind("ml/train", "g0", 10).succeeded("ml/train", 70)
    return tl


def samples(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name + "{")]


def test_gpu_models() -> None:
    assert gpu_model(H100) == ("NVIDIA-H100-80GB-HBM3", 81559, 700.0)
    assert gpu_model({"cloud.google.com/gke-accelerator": "nvidia-l4"})[1:] == (23034, 72.0)
    assert gpu_model({}) == ("NVIDIA GPU", 81920, 400.0)


def test_dcgm_series_follow_the_pod_on_its_gpu() -> None:
    text = openmetrics(timeline().events, start=1000.0, interval=30.0)
    assert text.endswith("# EOF\n")
    util = samples(text, "DCGM_FI_DEV_GPU_UTIL")
    # scrapes at 0, 30, 60 (the last event is at 70): gpu 0 idle, then held by ml/train; gpu 1 idle
    held = [x for x in util if 'pod="train"' in x]
    assert [x.rsplit(" ", 2)[1:] for x in held] == [["100.0", "1030.0"], ["100.0", "1060.0"]]
    assert 'container="main"' in held[0] and 'gpu="0"' in held[0] and 'Hostname="g0"' in held[0]
    assert 'modelName="NVIDIA-H100-80GB-HBM3"' in held[0] and 'namespace="ml"' in held[0]
    idle = [x.rsplit(" ", 2)[1:] for x in util if 'pod=""' in x]
    assert sorted(idle) == sorted([["0.0", "1000.0"], ["0.0", "1000.0"], ["0.0", "1030.0"], ["0.0", "1060.0"]])
    used = [x.rsplit(" ", 2)[1] for x in samples(text, "DCGM_FI_DEV_FB_USED") if 'pod="train"' in x]
    assert used == [str(float(round(81559 * 0.9)))] * 2
    power = {x.rsplit(" ", 2)[1] for x in samples(text, "DCGM_FI_DEV_POWER_USAGE") if 'gpu="1"' in x}
    assert power == {"70.0"}   # idle: 10 % of 700 W
    req = [x for x in samples(text, "kubetwin_nodepool_requested") if 'resource="nvidia.com/gpu"' in x]
    assert [x.rsplit(" ", 2)[1] for x in req] == ["0.0", "1.0", "1.0"]
    assert samples(text, "kubetwin_nodepool_nodes") == [
        'kubetwin_nodepool_nodes{pool="pool"} 1.0 1000.0', 'kubetwin_nodepool_nodes{pool="pool"} 1.0 1030.0',
        'kubetwin_nodepool_nodes{pool="pool"} 1.0 1060.0']


def test_kueue_queue_series() -> None:
    tl = TL()
    tl.emit(0, "WorkloadCreated", "Workload", "w1", "ml", data={"clusterQueue": "cq", "policy": "kueue",
                                                                 "minCount": 1, "pods": 1, "podSets": []})
    tl.emit(40, "Admitted", "Workload", "w1", "ml", data={"clusterQueue": "cq"})
    text = openmetrics(tl.events, start=0.0, interval=30.0, end=60.0)
    assert [x.rsplit(" ", 2)[1] for x in samples(text, "kueue_pending_workloads")] == ["1.0", "1.0", "0.0"]
    assert [x.rsplit(" ", 2)[1] for x in samples(text, "kueue_admitted_active_workloads")] == ["0.0", "0.0", "1.0"]


def test_metrics_start_is_whole_days_before_the_last_midnight() -> None:
    now = 20 * 86_400 + 3_600.0
    assert metrics_start(12 * 3600.0, now) == 19 * 86_400
    assert metrics_start(3 * 86_400 + 1, now) == 16 * 86_400


def test_simulate_metrics_flag_writes_metrics_om(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["simulate", str(ROOT / "scenarios" / "quickstart.yaml"), "-o", str(tmp_path),
                                 "--until", "1h", "--metrics"])
    assert r.exit_code == 0, r.output
    text = (tmp_path / "metrics.om").read_text(encoding="utf-8")
    assert text.endswith("# EOF\n") and "DCGM_FI_DEV_FB_FREE{" in text


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool is not installed (Debian package 'prometheus'); CI installs it")
def test_promtool_backfills_the_file(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["simulate", str(ROOT / "scenarios" / "quickstart.yaml"), "-o", str(tmp_path),
                                 "--until", "1h", "--metrics"])
    assert r.exit_code == 0, r.output
    done = subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(tmp_path / "metrics.om"),
                           str(tmp_path / "tsdb")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert [p for p in (tmp_path / "tsdb").iterdir() if p.is_dir()]
