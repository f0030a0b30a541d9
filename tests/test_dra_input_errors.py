"""Bad DRA input is an InputError that names the file the object is in, the line and column, the
object (``Kind namespace/name``) and the field path inside it; v1 claims in the v1beta1 request shape
are refused as the v1 API server refuses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import InputError
from models.scenario import load_scenario, parse_scenario_text
from sim.build import build
from sim.dra.setup import dra_setup

ROOT = Path(__file__).resolve().parents[1]

_TEMPLATE = """\
# a comment line
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: gpu.example.com}
spec:
  selectors:
  - cel: {expression: 'device.driver == "gpu.example.com"'}
---
apiVersion: resource.k8s.io/%(version)s
kind: ResourceClaimTemplate
metadata: {name: four, namespace: ml}
spec:
  spec:
    devices:
      requests:
      - name: gpus
%(request)s
"""

_EXACT = """\
        exactly:
          deviceClassName: gpu.example.com
          count: 4
          selectors:
          - cel:
              expression: "device.driver == 'a' &&& true"
"""

_FLAT = """\
        deviceClassName: gpu.example.com
        count: 4
"""

_SCENARIO = """\
apiVersion: kubetwin.dev/v1alpha1
kind: Scenario
metadata: {name: s}
spec:
  duration: 1h
  cluster:
    nodePools:
    - {name: cpu, count: 1, allocatable: {cpu: "8", memory: 32Gi}}
  manifests: [objects.yaml]
  workloads:
  - name: w
    arrival: {every: 1m}
    count: 1
    template: {requests: {cpu: "1"}}
    duration: 1m
"""


def _load(tmp_path: Path, objects: str) -> None:
    (tmp_path / "objects.yaml").write_text(objects)
    (tmp_path / "s.yaml").write_text(_SCENARIO)
    sc = load_scenario(tmp_path / "s.yaml")
    build(sc)


def test_cel_error_in_a_manifest_names_that_file_line_column_object_and_path(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        _load(tmp_path, _TEMPLATE % {"version": "v1", "request": _EXACT})
    err = e.value
    assert err.file == "objects.yaml"
    assert (err.line, err.column) == (22, 27)  # the expression scalar in the second document
    assert err.field == ("ResourceClaimTemplate ml/four: "
                         "spec.spec.devices.requests[0].exactly.selectors[0].cel.expression")
    assert "CEL selector does not compile" in err.message and "Syntax error" in err.message
    assert str(err).startswith("objects.yaml:22:27: ResourceClaimTemplate ml/four: spec.spec.devices")


@pytest.mark.parametrize("version", ["v1", "v1beta2"])
def test_v1_request_in_the_v1beta1_shape_is_refused(tmp_path: Path, version: str) -> None:
    with pytest.raises(InputError) as e:
        _load(tmp_path, _TEMPLATE % {"version": version, "request": _FLAT})
    err = e.value
    assert (err.file, err.line, err.column) == ("objects.yaml", 17, 26)
    assert err.field == "ResourceClaimTemplate ml/four: spec.spec.devices.requests[0].deviceClassName"
    assert "under `exactly:`" in err.message
    assert err.fix is not None and "apiVersion: resource.k8s.io/v1beta1" in err.fix


def test_v1beta1_request_shape_is_still_read(tmp_path: Path) -> None:
    _load(tmp_path, _TEMPLATE % {"version": "v1beta1", "request": _FLAT})


def test_inline_v1_request_in_the_v1beta1_shape_is_refused() -> None:
    text = (ROOT / "scenarios" / "dra-h100-training.yaml").read_text()
    text = text.replace("              exactly:\n                deviceClassName: gpu.nvidia.com\n"
                        "                count: 4\n", "              deviceClassName: gpu.nvidia.com\n"
                        "              count: 4\n              exactly:\n")
    text = text.replace("              exactly:\n                selectors:", "              selectors:")
    assert "              count: 4\n              selectors:" in text
    with pytest.raises(InputError) as e:
        parse_scenario_text(text, "s.yaml")
    assert e.value.field == "spec.dra.resourceClaimTemplates[0]"
    assert "spec.spec.devices.requests[0].deviceClassName: 'deviceClassName' is set directly" in e.value.message
    assert e.value.line is not None


def test_inline_cel_error_has_a_position() -> None:
    text = (ROOT / "scenarios" / "dra-h100-training.yaml").read_text()
    lines = text.splitlines()
    n = next(i for i, ln in enumerate(lines) if "productName.startsWith" in ln)
    text = text.replace(".startsWith(", ".startsWith((")
    with pytest.raises(InputError) as e:
        parse_scenario_text(text, "s.yaml")
    assert e.value.field == ("spec.dra.resourceClaimTemplates[0].spec.spec.devices.requests[0].exactly"
                             ".selectors[1].cel.expression")
    assert e.value.line == n + 1


def test_bad_resource_slice_file_names_file_line_and_object(tmp_path: Path) -> None:
    text = (ROOT / "scenarios" / "dra-h100-training.yaml").read_text()
    good = (ROOT / "scenarios" / "manifests" / "dra" / "h100-node-slice.yaml").read_text()
    bad = good.replace("capacity: {memory: {value: 80Gi}}\n  - name: gpu-1",
                       "capacity: {memory: {value: 80Gibs}}\n  - name: gpu-1", 1)
    assert bad != good
    (tmp_path / "slice.yaml").write_text(bad)
    (tmp_path / "s.yaml").write_text(text.replace("manifests/dra/h100-node-slice.yaml", "slice.yaml"))
    sc = load_scenario(tmp_path / "s.yaml")
    with pytest.raises(InputError) as e:
        dra_setup(sc)
    err = e.value
    assert err.file == str(tmp_path / "slice.yaml")
    line = next(i for i, ln in enumerate(bad.splitlines(), 1) if "80Gibs" in ln)
    assert err.line == line
    assert err.field is not None
    assert err.field.startswith("ResourceSlice h100-template-gpu.nvidia.com: spec.devices[0].capacity.memory")
