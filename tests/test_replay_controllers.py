"""``validator.replay_controllers``: autoscaled node groups, Deployments/HPAs/loads and DRA carried
through ``kubetwin replay`` — pinned field by field, and replay(simulate(S)) comparing clean for random
scenarios with an autoscaled pool and an HPA-scaled Deployment."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from timeline_builder import TL

from models.scenario import parse_scenario_text
from validator.replay import derive_scenario, scenario_yaml
from validator.replay_controllers import autoscaler_spec, dra_replay, node_slices, serving_replay, volcano_spec

GROUP = {"name": "gpu", "minCount": 1, "maxCount": 4, "labels": {"acc": "h100"},
         "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
         "allocatable": {"cpu": "64", "nvidia.com/gpu": "8"},
         "provisioningDelay": {"uniform": {"min": "3m", "max": "5m"}},
         "driverStartupDelay": {"constant": {"value": "1m"}}}
AUTOSCALER = {"scanInterval": 10.0, "expander": "least-waste", "scaleDownUnneededTime": 600.0,
              "scaleDownDelayAfterAdd": 300.0, "scaleDownUtilizationThreshold": 0.5, "maxNodeProvisionTime": 900.0,
              "scaleDownEnabled": True, "nodeGroups": [GROUP]}
DEPLOY = {"apiVersion": "apps/v1", "kind": "Deployment",
          "metadata": {"name": "llm", "namespace": "default",
                       "annotations": {"kubetwin.dev/requests-per-second-per-pod": "10"}},
          "spec": {"replicas": 2, "template": {"spec": {"containers": [
              {"name": "vllm", "resources": {"requests": {"cpu": "4", "nvidia.com/gpu": "1"}}}]}}}}
HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
       "metadata": {"name": "llm", "namespace": "default"},
       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
                "minReplicas": 1, "maxReplicas": 8,
                "metrics": [{"type": "Pods", "pods": {"metric": {"name": "DCGM_FI_DEV_GPU_UTIL"},
                                                      "target": {"type": "AverageValue", "averageValue": "60"}}}]}}


def test_autoscaler_flags_back_to_spec_autoscaler() -> None:
    assert autoscaler_spec({}) is None
    assert autoscaler_spec({"autoscaler": {**AUTOSCALER, "priorities": {"10": ["gpu.*"], "5": ["x"]}}}) == {
        "scanInterval": "10s", "scaleDownUnneededTime": "600s", "scaleDownDelayAfterAdd": "300s",
        "maxNodeProvisionTime": "900s", "expander": "least-waste", "scaleDownUtilizationThreshold": 0.5,
        "scaleDownEnabled": True, "priorities": {5: ["x"], 10: ["gpu.*"]}}


def autoscaled_recording(header: bool = True) -> TL:
    tl = TL(seed=3, duration=3600.0, **({"autoscaler": AUTOSCALER} if header else {}))
    tl.node("cpu-0", cpu="8", pool="cpu")
    tl.emit(0, "NodeReady", "Node", "gpu-0", data={"pool": "gpu", "labels": {"acc": "h100"}, "taints": [],
                                                   "allocatable": {"cpu": "64", "nvidia.com/gpu": "8"},
                                                   "pricePerHour": 88.0})
    tl.pod("ml/a", 0, nvidia__com_gpu="8").bind("ml/a", "gpu-0", 0).running("ml/a", 0, "gpu-0")
    tl.pod("ml/b", 5, nvidia__com_gpu="8")
    tl.emit(10, "TriggeredScaleUp", "Pod", "b", "ml", data={"pool": "gpu", "from": 1, "to": 2})
    tl.emit(10, "NodeProvisioning", "Node", "gpu-1", data={"pool": "gpu"})
    tl.emit(310, "NodeReady", "Node", "gpu-1", data={"pool": "gpu", "labels": {"acc": "h100"}, "taints": [],
                                                     "allocatable": {"cpu": "64", "nvidia.com/gpu": "8"},
                                                     "pricePerHour": 88.0})
    tl.bind("ml/b", "gpu-1", 310).running("ml/b", 310, "gpu-1")
    return tl


def test_an_autoscaled_group_grows_again_instead_of_listing_its_nodes() -> None:
    r = derive_scenario(autoscaled_recording().events)
    spec = r.scenario["spec"]
    pools = {p["name"]: p for p in spec["cluster"]["nodePools"]}
    assert pools["cpu"]["nodes"] == [{"name": "cpu-0", "readyAt": "0s"}]
    # gpu-1 came from a scale-up: the group starts with its one initial node and grows itself again
    assert pools["gpu"] == {"name": "gpu", "count": 1, "autoscaling": {"minCount": 1, "maxCount": 4},
                            "provisioningDelay": {"uniform": {"min": "3m", "max": "5m"}},
                            "driverStartupDelay": {"constant": {"value": "1m"}}, "labels": {"acc": "h100"},
                            "taints": GROUP["taints"], "allocatable": {"cpu": "64", "nvidia.com/gpu": "8"},
                            "pricePerHour": 88.0}
    assert spec["autoscaler"]["scaleDownDelayAfterAdd"] == "300s"
    parse_scenario_text(scenario_yaml(r, "x"), "x.yaml")


def test_a_recording_without_the_autoscaler_header_keeps_its_nodes() -> None:
    spec = derive_scenario(autoscaled_recording(header=False).events).scenario["spec"]
    gpu = next(p for p in spec["cluster"]["nodePools"] if p["name"] == "gpu")
    assert "autoscaling" not in gpu and [n["name"] for n in gpu["nodes"]] == ["gpu-0", "gpu-1"]
    assert gpu["nodes"][1]["readyAt"] == "310s" and "autoscaler" not in spec


def test_deployment_pods_are_the_replicasets_and_rescales_without_load_become_scale_actions() -> None:
    tl = TL(seed=1, duration=600.0, serving={"horizontalPodAutoscalers": [], "objects": [DEPLOY, HPA]})
    tl.node("n0", cpu="64", nvidia__com_gpu="8")
    for i in range(2):
        tl.pod(f"llm-0123456789-{i}", 0, cpu="4", nvidia__com_gpu="1")
    tl.emit(120, "SuccessfulRescale", "HorizontalPodAutoscaler", "llm", "default",
            reason="New size: 3; reason: DCGM_FI_DEV_GPU_UTIL above target",
            data={"from": 2, "to": 3, "metric": "DCGM_FI_DEV_GPU_UTIL", "value": 90.0, "target": 60.0})
    tl.pod("llm-0123456789-2", 120, cpu="4", nvidia__com_gpu="1")
    tl.pod("llm-0123456789-0-p1", 200, cpu="4", nvidia__com_gpu="1")
    tl.pod("other/llm-0123456789-9", 0, cpu="1")          # another namespace: not the Deployment's
    r = derive_scenario(tl.events)
    spec = r.scenario["spec"]
    assert [w["name"] for w in spec["workloads"]] == ["llm-0123456789-9"]
    assert spec["serving"] == {"objects": [DEPLOY]}      # no load recorded: the HPA's decisions are replayed
    assert spec["actions"] == [{"at": "120s", "scale": {"deployment": "llm", "namespace": "default", "replicas": 3}}]
    assert any("scale actions" in n for n in r.notes)
    parse_scenario_text(scenario_yaml(r, "x"), "x.yaml")
    # with a load the HPA scales again itself
    load = {"backend": "llm", "namespace": "default", "requestsPerSecond": {"constant": 25.0}}
    sr = serving_replay({"serving": {"objects": [DEPLOY, HPA], "loads": [load]}}, [tl.events[4]])
    assert sr.serving == {"objects": [DEPLOY, HPA], "loads": [load]} and sr.actions == []
    assert sr.owns("default", "llm-0123456789-3-p2-p5") and not sr.owns("default", "llm-x-1")


def test_node_devices_back_to_a_per_node_resource_slice() -> None:
    data = {"devices": [
        {"driver": "gpu.nvidia.com", "pool": "a-0", "device": "gpu-0",
         "attributes": {"gpu.nvidia.com/type": {"string": "gpu"}}, "capacity": {"gpu.nvidia.com/memory": "24Gi"},
         "requestPolicy": {"gpu.nvidia.com/memory": {"default": "24Gi", "validRange": {"min": "4Gi", "step": "4Gi"}}},
         "allowMultipleAllocations": True,
         "consumesCounters": [{"counterSet": "gpu-0-counters", "counters": {"slices": "7"}}]}],
        "sharedCounters": [{"driver": "gpu.nvidia.com", "pool": "a-0", "name": "gpu-0-counters",
                            "counters": {"slices": "7"}}]}
    assert node_slices("a-0", data) == [{
        "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "gpu.nvidia.com"},
        "spec": {"driver": "gpu.nvidia.com", "nodeName": "a-0",
                 "pool": {"name": "a-0", "generation": 0, "resourceSliceCount": 1},
                 "devices": [{"name": "gpu-0", "attributes": {"gpu.nvidia.com/type": {"string": "gpu"}},
                              "capacity": {"gpu.nvidia.com/memory": {
                                  "value": "24Gi", "requestPolicy": {"default": "24Gi",
                                                                     "validRange": {"min": "4Gi", "step": "4Gi"}}}},
                              "allowMultipleAllocations": True,
                              "consumesCounters": [{"counterSet": "gpu-0-counters",
                                                    "counters": {"slices": {"value": "7"}}}]}],
                 "sharedCounters": [{"name": "gpu-0-counters", "counters": {"slices": {"value": "7"}}}]}}]


def test_claims_back_to_templates_and_device_classes() -> None:
    tl = TL()
    spec = {"devices": {"requests": [{"name": "gpus", "exactly": {"deviceClassName": "gpu", "count": 2}}]}}
    for pod in ("p0", "p1"):
        tl.emit(0, "PodCreated", "Pod", pod, "ml", data={
            "requests": {"cpu": "1"}, "claims": [f"{pod}-gpus", "shared"],
            "containers": [{"name": "main", "claims": [{"name": "gpus"}]}]})
        tl.emit(0, "ClaimCreated", "ResourceClaim", f"{pod}-gpus", "ml",
                data={"pod": pod, "spec": spec, "deviceClasses": {"gpu": ['device.driver == "g"']}})
    tl.emit(0, "ClaimCreated", "ResourceClaim", "shared", "ml", data={"spec": spec})
    claims = [e for e in tl.events if e.type == "ClaimCreated"]
    pods = {f"ml/{e.name}": e.data for e in tl.events if e.type == "PodCreated"}
    d = dra_replay(claims, pods)
    assert d.dra == {
        "deviceClasses": [{"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "gpu"},
                           "spec": {"selectors": [{"cel": {"expression": 'device.driver == "g"'}}]}}],
        "resourceClaimTemplates": [{"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
                                    "metadata": {"name": "replay-claim-0", "namespace": "ml"},
                                    "spec": {"spec": spec}}],     # one template for both pods' equal specs
        "resourceClaims": [{"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
                            "metadata": {"name": "shared", "namespace": "ml"}, "spec": spec}]}
    assert d.pod_fields["ml/p1"] == {
        "resourceClaims": [{"name": "gpus", "resourceClaimTemplateName": "replay-claim-0"},
                           {"name": "shared", "resourceClaimName": "shared"}],
        "containers": [{"name": "main", "claims": [{"name": "gpus"}]}]}
    # the header's DeviceClasses (as read: extendedResourceName too) win over the claims' selectors
    given = {"apiVersion": "resource.k8s.io/v1", "kind": "DeviceClass", "metadata": {"name": "gpu"},
             "spec": {"selectors": [], "extendedResourceName": "nvidia.com/gpu"}}
    d2 = dra_replay(claims, pods, {"dra": {"deviceClasses": [given]}})
    assert d2.dra is not None and d2.dra["deviceClasses"] == [given]


def test_node_actions_replay_once(tmp_path: Path) -> None:
    """setPoolSize, deleteNode, failNode and cordon run again in the replay, and the nodes they added or
    removed are not listed too: the replay compares clean."""
    from rich.console import Console

    from kubetwin.cmd_replay import replay_to
    from kubetwin.cmd_simulate import simulate_to

    sc = {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": "acts"},
          "spec": {"seed": 2, "duration": "2h",
                   "cluster": {"nodePools": [{"name": "cpu", "count": 2,
                                              "allocatable": {"cpu": "8", "memory": "32Gi"}}]},
                   "workloads": [{"name": "w", "arrival": {"every": "2m"}, "count": 40,
                                  "template": {"requests": {"cpu": "3"}}, "duration": "20m"}],
                   "actions": [{"at": "30m", "setPoolSize": {"pool": "cpu", "count": 4}},
                               {"at": "50m", "deleteNode": {"node": "cpu-0"}},
                               {"at": "70m", "failNode": {"node": "cpu-1"}},
                               {"at": "80m", "cordon": {"node": "cpu-2"}},
                               {"at": "90m", "setPoolSize": {"pool": "cpu", "count": 1}}]}}
    src = tmp_path / "s.yaml"
    src.write_text(yaml.safe_dump(sc), encoding="utf-8")
    simulate_to(src, tmp_path / "sim")
    cmp = replay_to(tmp_path / "sim" / "timeline.jsonl", tmp_path / "r",
                    console=Console(file=open(os.devnull, "w")))  # noqa: SIM115
    derived = yaml.safe_load((tmp_path / "r" / "scenario.yaml").read_text(encoding="utf-8"))["spec"]
    assert derived["cluster"]["nodePools"][0]["nodes"] == [{"name": "cpu-0", "readyAt": "0s"},
                                                           {"name": "cpu-1", "readyAt": "0s"}]
    assert len(derived["actions"]) == 5 and "serving" not in derived
    assert cmp["identical"] is True


def test_volcano_settings_queues_and_gangs() -> None:
    data = {"schedulePeriod": 1.0, "actions": ["enqueue", "allocate", "reclaim", "backfill"], "overcommitFactor": 2.0,
            "queues": [{"name": "batch", "weight": 1, "reclaimable": True, "capability": {"nvidia.com/gpu": "32"}},
                       {"name": "default", "weight": 1, "reclaimable": True},
                       {"name": "research", "weight": 2, "reclaimable": False}]}
    assert volcano_spec(data) == {
        "schedulePeriod": "1s", "actions": "enqueue, allocate, reclaim, backfill", "overcommitFactor": 2.0,
        "queues": [{"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue", "metadata": {"name": "batch"},
                    "spec": {"weight": 1, "reclaimable": True, "capability": {"nvidia.com/gpu": "32"}}},
                   {"apiVersion": "scheduling.volcano.sh/v1beta1", "kind": "Queue", "metadata": {"name": "research"},
                    "spec": {"weight": 2, "reclaimable": False}}]}
    tl = TL()
    tl.node("n", cpu="64")
    tl.emit(0, "VolcanoConfigured", "Scheduler", "volcano", data=data)
    tl.workload("ml/hpo", 0, policy="volcano", min_count=2, pods=3, queue="batch")
    for i in range(3):
        tl.pod(f"ml/hpo-{i}", 0, group="ml/hpo", cpu="1")
    spec = derive_scenario(tl.events).scenario["spec"]
    w = spec["workloads"][0]
    # the pods existed before the PodGroup was Inqueue (an operator's, or a user's): they keep doing so
    assert w["gang"] == {"policy": "volcano", "queue": "batch", "minCount": 2, "delayPodCreation": False}
    assert "queue" not in w
    assert spec["volcano"]["overcommitFactor"] == 2.0
    # a Volcano Job's pods come after its PodGroup is Inqueue: the default, no field
    tl = TL()
    tl.node("n", cpu="64")
    tl.emit(0, "VolcanoConfigured", "Scheduler", "volcano", data=data)
    tl.workload("ml/hpo", 0, policy="volcano", min_count=2, pods=3, queue="batch")
    tl.emit(1, "PodGroupPhase", "PodGroup", "hpo", "ml", group="ml/hpo",
            data={"phase": "Inqueue", "previous": "Pending"})
    for i in range(3):
        tl.pod(f"ml/hpo-{i}", 1, group="ml/hpo", cpu="1")
    w = derive_scenario(tl.events).scenario["spec"]["workloads"][0]
    assert w["gang"] == {"policy": "volcano", "queue": "batch", "minCount": 2}


# ------------------------------------------------------------------------------------ property

def _random_autoscaled_scenario(seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    lo = int(rng.integers(0, 2))
    pools: list[dict[str, Any]] = [
        {"name": "gpu", "count": lo + int(rng.integers(0, 2)),
         "autoscaling": {"minCount": lo, "maxCount": int(rng.integers(2, 5))},
         "provisioningDelay": {"uniform": {"min": "2m", "max": f"{int(rng.integers(3, 7))}m"}},
         "driverStartupDelay": str(rng.choice(["0s", "30s", "1m"])),
         "labels": {"acc": "gpu"}, "allocatable": {"cpu": "32", "memory": "256Gi", "nvidia.com/gpu": "4"},
         "pricePerHour": 10.0}]
    if rng.random() < 0.5:
        pools.append({"name": "cpu", "count": 1, "allocatable": {"cpu": "16", "memory": "64Gi"}})
    workloads = [{"name": f"w{i}", "namespace": "ns", "count": int(rng.integers(3, 12)),
                  "arrival": {"poisson": {"meanInterval": f"{int(rng.integers(2, 15))}m"}},
                  "replicas": int(rng.integers(1, 3)),
                  "template": {"requests": {"cpu": "2", "nvidia.com/gpu": str(int(rng.integers(1, 5)))}},
                  "duration": {"exponential": {"mean": f"{int(rng.integers(5, 40))}m"}}}
                 for i in range(int(rng.integers(1, 3)))]
    spec: dict[str, Any] = {
        "seed": seed, "duration": "3h", "cluster": {"nodePools": pools}, "workloads": workloads,
        "autoscaler": {"scaleDownUnneededTime": f"{int(rng.integers(2, 11))}m",
                       "scaleDownDelayAfterAdd": f"{int(rng.integers(0, 11))}m",
                       "expander": str(rng.choice(["least-waste", "most-pods", "random"]))}}
    if rng.random() < 0.6:
        peak = float(rng.integers(20, 80))
        spec["serving"] = {
            "objects": [DEPLOY, HPA],
            "loads": [{"backend": "llm", "requestsPerSecond": {"step": [
                {"at": "0s", "value": 5.0}, {"at": "40m", "value": peak}, {"at": "2h", "value": 3.0}]}}]}
    return {"apiVersion": "kubetwin.dev/v1alpha1", "kind": "Scenario", "metadata": {"name": f"auto-{seed}"},
            "spec": spec}


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_property_replay_of_autoscaled_scenarios_compares_clean(seed: int) -> None:
    """replay(simulate(S)) compares clean for random scenarios with an autoscaled GPU pool (scale-ups,
    provisioning and driver delays, scale-downs) and, in most, an HPA-scaled Deployment under a step load."""
    from rich.console import Console

    from kubetwin.cmd_replay import replay_to
    from kubetwin.cmd_simulate import simulate_to

    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        src = d / "s.yaml"
        src.write_text(yaml.safe_dump(_random_autoscaled_scenario(seed)), encoding="utf-8")
        simulate_to(src, d / "sim")
        cmp = replay_to(d / "sim" / "timeline.jsonl", d / "replay", scheduler_from=src,
                        console=Console(file=open(os.devnull, "w")))  # noqa: SIM115
        derived = yaml.safe_load((d / "replay" / "scenario.yaml").read_text(encoding="utf-8"))
    assert any("autoscaling" in p for p in derived["spec"]["cluster"]["nodePools"])
    assert cmp["identical"] is True, {k: cmp[k] for k in ("pods", "schedulingDelay", "placement")}
