"""``kubetwin import openb``: the trace CSVs, the scenario and the real timeline they become, and bad rows.

The fixture (tests/fixtures/openb/) is a hand-written variant of the trace: node columns reordered,
``name`` instead of ``sn``, an extra column; pod rows with a GPU-model selector, a share never deleted,
a pod never scheduled, an upper-case name, fractional seconds, and an extra column.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubetwin.cli import main
from kubetwin.cmd_import import build_scenario, import_openb
from models.errors import InputError
from models.openb import OpenbPod, describe_real_wait, read_nodes, read_pods, real_wait_seconds
from models.quantity import Quantity
from models.scenario import parse_scenario_text
from models.timeline import read_timeline

FIX = Path(__file__).parent / "fixtures" / "openb"
DATA = Path(__file__).parents[1] / ".." / "shared" / "data" / "openb"

AFFINITY_V100 = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "kubetwin.dev/gpu-model", "operator": "In", "values": ["V100M16", "V100M32"]}]}]}}}
AFFINITY_T4 = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "kubetwin.dev/gpu-model", "operator": "In", "values": ["T4"]}]}]}}}


def _devices(model: str, count: int) -> dict[str, object]:
    return {"driver": "gpu.kubetwin.dev", "count": count, "namePrefix": "gpu", "attributes": {"model": model},
            "allowMultipleAllocations": True,
            "capacity": {"milli": {"value": "1000", "requestPolicy": {"default": "1000",
                                                                      "validRange": {"min": "1", "max": "1000"}}}}}


def _claim_template(milli: int) -> dict[str, object]:
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
            "metadata": {"name": f"gpu-share-{milli}", "namespace": "default"},
            "spec": {"spec": {"devices": {"requests": [{"name": "gpu", "exactly": {
                "deviceClassName": "gpu.kubetwin.dev", "allocationMode": "ExactCount", "count": 1,
                "capacity": {"requests": {"milli": str(milli)}}}}]}}}}


def test_read_variant_csvs() -> None:
    nodes = read_nodes(FIX / "nodes.csv")
    assert [(n.name, n.cpu_milli, n.memory_mib, n.gpu, n.model) for n in nodes] == [
        ("node-a", 32000, 131072, 2, "V100M16"), ("node-b", 32000, 131072, 2, "V100M32"),
        ("node-c", 16000, 65536, 1, "T4"), ("node-cpu", 64000, 262144, 0, ""), ("node-d", 32000, 131072, 2, "V100M16")]
    pods = read_pods(FIX / "pods.csv")
    assert pods[1] == OpenbPod(name="pod-share", cpu_milli=4000, memory_mib=8192, num_gpu=1, gpu_milli=500,
                               gpu_spec=("V100M16", "V100M32"), creation_time=150.0, deletion_time=None,
                               scheduled_time=150.0, line=3)
    assert pods[2].scheduled_time is None and pods[3].scheduled_time == 310.5
    untimed = read_pods(FIX / "pods_untimed.csv")  # only the five required columns
    assert len(untimed) == 6 and untimed[0].creation_time is None and untimed[0].gpu_spec == ()


def test_real_wait_seconds() -> None:
    # waits 2, 0, (never scheduled), 10.5, 1 → sorted 0, 1, 2, 10.5; linear interpolation
    # p50 at rank 1.5 → 1.5; p90 at 2.7 → 2 + 0.7·8.5 = 7.95; p99 at 2.97 → 2 + 0.97·8.5 = 10.245
    assert real_wait_seconds(read_pods(FIX / "pods.csv")) == {"p50": 1.5, "p90": 7.95, "p99": 10.245, "count": 4}
    assert real_wait_seconds([]) == {"p50": None, "p90": None, "p99": None, "count": 0}


def test_real_wait_line_says_plainly_when_the_trace_has_no_times() -> None:
    none = real_wait_seconds([])
    assert describe_real_wait(none) == ("real scheduling wait: not in this trace (no pod has both creation_time "
                                        "and scheduled_time); trace.realWaitSeconds will be null")
    assert describe_real_wait({"p50": 1.5, "p90": 7.95, "p99": 10.245, "count": 4}) == (
        "real scheduling wait: p50 1.5 s, p90 7.95 s, p99 10.245 s over 4 scheduled pods")


def test_scenario_dra() -> None:
    doc = build_scenario(read_nodes(FIX / "nodes.csv"), read_pods(FIX / "pods.csv"), nodes_file=Path("n.csv"),
                         pods_file=Path("openb_pod_list_tiny.csv"), gpu_sharing="dra")
    assert doc["metadata"] == {"name": "openb-pod-list-tiny", "annotations": {
        "import.kubetwin.dev/source": "alibaba/clusterdata cluster-trace-gpu-v2023 (openb)",
        "import.kubetwin.dev/nodes": "n.csv", "import.kubetwin.dev/pods": "openb_pod_list_tiny.csv",
        "import.kubetwin.dev/gpu-sharing": "dra", "import.kubetwin.dev/time-origin-seconds": "100",
        "import.kubetwin.dev/real-wait-seconds": '{"p50":1.5,"p90":7.95,"p99":10.245,"count":4}'}}
    spec = doc["spec"]
    assert spec["duration"] == "1000s"  # last event (deletion at 1100) − origin (first creation at 100)
    assert spec["cluster"]["nodePools"] == [
        {"name": "cpu-64cpu-256gi-0gpu", "count": 1, "labels": {},
         "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "110"}},
        {"name": "t4-16cpu-64gi-1gpu", "count": 1, "labels": {"kubetwin.dev/gpu-model": "T4"},
         "allocatable": {"cpu": "16", "memory": "64Gi", "pods": "110"}, "devices": _devices("T4", 1)},
        {"name": "v100m16-32cpu-128gi-2gpu", "count": 2, "labels": {"kubetwin.dev/gpu-model": "V100M16"},
         "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"}, "devices": _devices("V100M16", 2)},
        {"name": "v100m32-32cpu-128gi-2gpu", "count": 1, "labels": {"kubetwin.dev/gpu-model": "V100M32"},
         "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"}, "devices": _devices("V100M32", 2)},
    ]
    assert spec["dra"] == {
        "deviceClasses": [{"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass",
                           "metadata": {"name": "gpu.kubetwin.dev"},
                           "spec": {"selectors": [{"cel": {"expression": 'device.driver == "gpu.kubetwin.dev"'}}],
                                    "extendedResourceName": "nvidia.com/gpu"}}],
        "resourceClaimTemplates": [_claim_template(250), _claim_template(500)]}
    claim = [{"name": "gpu", "resourceClaimTemplateName": "gpu-share-500"}]
    assert spec["workloads"] == [
        {"name": "pod-whole", "arrival": {"at": ["0s"]}, "count": 1,
         "template": {"requests": {"cpu": "8", "memory": "16Gi", "nvidia.com/gpu": "2"}}, "duration": "998s"},
        {"name": "pod-share", "arrival": {"at": ["50s"]}, "count": 1,
         "template": {"requests": {"cpu": "4", "memory": "8Gi"}, "resourceClaims": claim,
                      "affinity": AFFINITY_V100},
         "duration": "1000s"},  # never deleted: runs to the end
        {"name": "pod-pending", "arrival": {"at": ["100s"]}, "count": 1,
         "template": {"requests": {"cpu": "2", "memory": "4Gi"},
                      "resourceClaims": [{"name": "gpu", "resourceClaimTemplateName": "gpu-share-250"}]},
         "duration": "60s"},  # never scheduled: deletion − creation
        {"name": "pod-cpu", "arrival": {"at": ["200s"]}, "count": 1,
         "template": {"requests": {"cpu": "1500m", "memory": "3Gi"}}, "duration": "89.5s"},
        {"name": "pod-t4", "arrival": {"at": ["300s"]}, "count": 1,
         "template": {"requests": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"}, "affinity": AFFINITY_T4},
         "duration": "499s"},
    ]


def test_scenario_whole_loads(tmp_path: Path) -> None:
    out = tmp_path / "s.yaml"
    report = import_openb(FIX / "nodes.csv", FIX / "pods.csv", out, gpu_sharing="whole")
    assert report["pods"] == 5 and report["nodePools"] == 4 and report["sharedGpuPods"] == 2
    doc = yaml.safe_load(out.read_text())
    assert "dra" not in doc["spec"]
    pools = {p["name"]: p for p in doc["spec"]["cluster"]["nodePools"]}
    assert pools["v100m16-32cpu-128gi-2gpu"]["allocatable"] == {"cpu": "32", "memory": "128Gi",
                                                                "nvidia.com/gpu": "2", "pods": "110"}
    share = doc["spec"]["workloads"][1]["template"]
    assert share["requests"] == {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"} and "resourceClaims" not in share
    scenario = parse_scenario_text(out.read_text(), str(out))
    assert len(scenario.spec.workloads) == 5


def test_dra_is_the_default(tmp_path: Path) -> None:
    out = tmp_path / "s.yaml"
    import_openb(FIX / "nodes.csv", FIX / "pods.csv", out)
    doc = yaml.safe_load(out.read_text())
    assert doc["metadata"]["annotations"]["import.kubetwin.dev/gpu-sharing"] == "dra"
    assert [t["metadata"]["name"] for t in doc["spec"]["dra"]["resourceClaimTemplates"]] == [
        "gpu-share-250", "gpu-share-500"]
    pools = {p["name"]: p for p in doc["spec"]["cluster"]["nodePools"]}
    assert "nvidia.com/gpu" not in pools["v100m16-32cpu-128gi-2gpu"]["allocatable"]
    assert pools["v100m16-32cpu-128gi-2gpu"]["devices"]["allowMultipleAllocations"] is True
    assert len(parse_scenario_text(out.read_text(), str(out)).spec.workloads) == 5


def test_untimed_trace_arrives_at_zero() -> None:
    doc = build_scenario(read_nodes(FIX / "nodes.csv"), read_pods(FIX / "pods_untimed.csv"),
                         nodes_file=Path("n.csv"), pods_file=Path("p.csv"), gpu_sharing="whole")
    assert doc["spec"]["duration"] == "3600s"
    assert {w["arrival"]["at"][0] for w in doc["spec"]["workloads"]} == {"0s"}
    assert {w["duration"] for w in doc["spec"]["workloads"]} == {"3600s"}


def test_timeline(tmp_path: Path) -> None:
    out, tl_path = tmp_path / "s.yaml", tmp_path / "real.jsonl"
    report = import_openb(FIX / "nodes.csv", FIX / "pods.csv", out, tl_path)
    assert report["timelineEvents"] == 10
    tl = read_timeline(tl_path)
    assert not tl.problems
    assert tl.header["source"] == "live" and tl.header["trace"] == "openb"
    got = [(e.t, e.type, e.name) for e in tl.events[1:]]
    assert got == [(0.0, "PodCreated", "pod-whole"), (2.0, "Scheduled", "pod-whole"),
                   (50.0, "PodCreated", "pod-share"), (50.0, "Scheduled", "pod-share"),
                   (100.0, "PodCreated", "pod-pending"), (200.0, "PodCreated", "pod-cpu"),
                   (210.5, "Scheduled", "pod-cpu"), (300.0, "PodCreated", "pod-t4"), (301.0, "Scheduled", "pod-t4")]
    created = tl.events[3]
    assert created.data == {"requests": {"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1"}, "priority": 0,
                            "workload": "pod-share", "gpuMilli": 500, "affinity": AFFINITY_V100}
    assert tl.events[2].node is None  # the trace does not say which node


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.yaml"
    with pytest.raises(SystemExit) as e:
        main(["import", "openb", "--nodes", str(FIX / "nodes.csv"), "--pods", str(FIX / "pods.csv"), "-o", str(out),
              "--gpu-sharing", "whole"])
    assert e.value.code == 0
    assert "p50 1.5 s" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["import", "openb", "--nodes", str(FIX / "nodes.csv"), "--pods", str(FIX / "pods.csv"), "-o", str(out),
              "--gpu-sharing", "mig"])
    assert e.value.code == 2
    assert "unknown GPU sharing mode 'mig'" in capsys.readouterr().err


POD_HEADER = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,creation_time,scheduled_time,deletion_time\n"


@pytest.mark.parametrize(("row", "message"), [
    ("p,4000,1024,1,abc,,0,0,1", r"pods\.csv:2:5: gpu_milli: not a number: 'abc'"),
    ("p,4000,1024,0,500,,0,0,1", r"pods\.csv:2:5: gpu_milli: gpu_milli is 500 but num_gpu is 0"),
    ("p,4000,1024,2,500,,0,0,1", r"pods\.csv:2:5: gpu_milli: 2 GPUs each shared at 500 milli"),
    ("p,4000,1024,1,0,,0,0,1", r"num_gpu is 1 but gpu_milli is 0"),
    ("p,4000,1024,1,1500,,0,0,1", r"pods\.csv:2:5: gpu_milli: 1500 is out of range"),
    ("p,-1,1024,1,1000,,0,0,1", r"pods\.csv:2:2: cpu_milli: -1 is out of range"),
    ("p,1.5,1024,1,1000,,0,0,1", r"cpu_milli: not a whole number"),
    ("p,4000,1024,1,1000,,10,5,20", r"pods\.csv:2:8: scheduled_time: scheduled at 5 s, before its creation at 10 s"),
    ("p,4000,1024,1,1000,,10,10,5", r"deletion_time: deleted at 5 s, before its creation"),
    ("p,4000,1024,1,1000,,x,,", r"creation_time: not a time in seconds: 'x'"),
    ("p,4000,1024,0,0,T4,0,0,1", r"gpu_spec: gpu_spec names GPU models but the pod asks for no GPU"),
    (",4000,1024,0,0,,0,0,1", r"pods\.csv:2:1: name: empty pod name"),
])
def test_bad_pod_rows(tmp_path: Path, row: str, message: str) -> None:
    f = tmp_path / "pods.csv"
    f.write_text(POD_HEADER + row + "\n")
    with pytest.raises(InputError, match=message) as e:
        read_pods(f)
    assert e.value.fix


def test_bad_files(tmp_path: Path) -> None:
    f = tmp_path / "pods.csv"
    f.write_text("name,cpu_milli,num_gpu,gpu_milli\np,1,0,0\n")
    with pytest.raises(InputError, match=r"pods\.csv:1: memory_mib: missing column 'memory_mib'"):
        read_pods(f)
    f.write_text(POD_HEADER + "p,1,1,0,0,,0,0,1\np,1,1,0,0,,0,0,1\n")
    with pytest.raises(InputError, match=r"pods\.csv:3:1: name: pod 'p' already on line 2"):
        read_pods(f)
    f.write_text("")
    with pytest.raises(InputError, match="empty file"):
        read_pods(f)
    f.write_text(POD_HEADER)
    with pytest.raises(InputError, match="no pod rows"):
        read_pods(f)
    with pytest.raises(InputError, match="no such file"):
        read_pods(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="is a directory"):
        read_nodes(tmp_path)
    n = tmp_path / "nodes.csv"
    n.write_text("sn,cpu_milli,memory_mib,gpu\nx,1000,1024,2\n")
    with pytest.raises(InputError, match="missing column 'model' \\(required when a node has GPUs\\)"):
        read_nodes(n)
    n.write_text("sn,cpu_milli,memory_mib,gpu,model\nx,1000,1024,2,\n")
    with pytest.raises(InputError, match=r"nodes\.csv:2:5: model: node 'x' has 2 GPU\(s\) but no GPU model"):
        read_nodes(n)


def test_scenario_errors(tmp_path: Path) -> None:
    nodes = read_nodes(FIX / "nodes.csv")
    f = tmp_path / "pods.csv"
    f.write_text(POD_HEADER + "p,1000,1024,1,1000,A100,0,0,1\n")
    with pytest.raises(InputError, match=r"GPU model\(s\) A100 that no node has"):
        build_scenario(nodes, read_pods(f), nodes_file=FIX / "nodes.csv", pods_file=f)
    f.write_text(POD_HEADER + "p,1000,1024,1,1000,,0,0,1\nq,1000,1024,1,1000,,,,\n")
    with pytest.raises(InputError, match="pod 'q' has no creation_time while others have one") as e:
        build_scenario(nodes, read_pods(f), nodes_file=FIX / "nodes.csv", pods_file=f)
    assert e.value.line == 3


@pytest.mark.skipif(not (DATA / "openb_pod_list_default.csv").exists(),
                    reason="the openb trace is not at ../shared/data/openb/ (real data, not in the repo)")
def test_default_trace_imports(tmp_path: Path) -> None:
    out, tl = tmp_path / "openb.yaml", tmp_path / "real.jsonl"
    report = import_openb(DATA / "openb_node_list_gpu_node.csv", DATA / "openb_pod_list_default.csv", out, tl,
                          gpu_sharing="whole")
    assert (report["nodes"], report["pods"], report["nodePools"]) == (1213, 8152, 15)
    assert report["realWaitSeconds"] == {"p50": 2.0, "p90": 106.0, "p99": 889.64, "count": 7255}
    assert report["timelineEvents"] == 1 + 8152 + 7255
    scenario = parse_scenario_text(out.read_text(), str(out))
    assert len(scenario.spec.workloads) == 8152


@pytest.mark.skipif(not (DATA / "openb_pod_list_default.csv").exists(),
                    reason="the openb trace is not at ../shared/data/openb/ (real data, not in the repo)")
@pytest.mark.parametrize("variant", ["default", "gpushare100", "gpuspec33", "multigpu50"])
def test_trace_variants_simulate_with_dra_shares(tmp_path: Path, variant: str) -> None:
    """Every 27th pod (about 300) of each real pod list, on the real GPU nodes, imported in the default
    (DRA) form, simulate; every DRA invariant holds; the real waits are in summary.json beside the
    simulated ones."""
    from kubetwin.cmd_simulate import simulate_to
    from validator.checks import FAILED, run_checks

    lines = (DATA / f"openb_pod_list_{variant}.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    pods = tmp_path / f"openb_pod_list_{variant}.csv"
    sample = lines[1::27]
    pods.write_text(lines[0] + "".join(sample), encoding="utf-8")
    out = tmp_path / "s.yaml"
    report = import_openb(DATA / "openb_node_list_gpu_node.csv", pods, out)
    summary = simulate_to(out, tmp_path / "out")
    assert summary["pods"]["total"] == len(sample)
    assert summary["dra"]["claimsCreated"] == report["sharedGpuPods"] > 0
    assert summary["trace"] == {"realWaitSeconds": report["realWaitSeconds"]}
    evs = read_timeline(tmp_path / "out" / "timeline.jsonl").events
    # shared-GPU utilisation from the timeline alone: ∫ consumed milli dt / (GPUs × 1000 × run time)
    end, held, since, used = summary["sim"]["endTime"], 0.0, {}, 0.0
    gpus = sum(len(e.data.get("devices", [])) for e in evs if e.type == "NodeReady")
    for e in evs:
        if e.type in ("ClaimAllocated", "ClaimReleased"):
            milli = sum(float(Quantity.parse(d["consumedCapacity"]["milli"]).value) for d in e.data["devices"])
            if e.type == "ClaimAllocated":
                since[e.name] = (e.t, milli)
            else:
                t0, m = since.pop(e.name)
                used += m * (e.t - t0)
    used += sum(m * (end - t0) for t0, m in since.values())
    held = used / (gpus * 1000 * end)
    assert summary["dra"]["sharedUtilisation"] == {"gpu.kubetwin.dev/milli": round(held, 3)}
    assert [r.invariant.id for r in run_checks(evs) if r.status == FAILED and r.invariant.id.startswith("D")] == []


def test_trace_annotation_must_be_the_waits(tmp_path: Path) -> None:
    from models.openb import trace_summary

    assert trace_summary({}) is None
    assert trace_summary({"import.kubetwin.dev/real-wait-seconds": '{"p50":1,"p90":2,"p99":3.5,"count":4}'}) == {
        "realWaitSeconds": {"p50": 1, "p90": 2, "p99": 3.5, "count": 4}}
    with pytest.raises(InputError) as e:
        trace_summary({"import.kubetwin.dev/real-wait-seconds": "{nope"}, "s.yaml")
    assert e.value.field == "metadata.annotations[import.kubetwin.dev/real-wait-seconds]"
    assert e.value.file == "s.yaml"
