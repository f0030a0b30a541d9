"""``summary.json``'s ``dra`` section: how much of the cluster's DRA devices claims held over the run.

What a cluster operator reads off ``kubectl get resourceslices,resourceclaims`` over time, integrated:
devices published and held (a device shared by several claims counts once), per DeviceClass the
devices held by allocations of that class, per GPU model (the device's ``productName`` or ``model``
attribute, any domain) the devices held against those published, and for shareable devices
(``allowMultipleAllocations``, consumable capacity) the capacity consumed against the capacity there
is. Every figure is time-weighted over the run. Fed by :class:`~sim.dra.controller.DRAController`
with each node's devices and each claim's allocation and release; no simpy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from sim.dra.allocator import Device, DeviceResult

#: attributes naming a device's model, most specific first (NVIDIA's driver publishes productName;
#: ``kubetwin import openb`` and the devices shorthand examples use ``model``)
MODEL_ATTRIBUTES = ("productName", "model")


def device_model(attributes: Mapping[str, Any]) -> str | None:
    """The model a device's attributes name (qualified names; the domain does not matter)."""
    for want in MODEL_ATTRIBUTES:
        for name in sorted(attributes):
            if name.rsplit("/", 1)[-1] == want:
                return str(attributes[name])
    return None


class _Integral:
    """∫ value dt for a value that changes in steps."""

    __slots__ = ("seconds", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.seconds = 0.0


class DRAMetrics:
    def __init__(self) -> None:
        self.since = 0.0
        self.devices = 0
        self.in_use: dict[tuple[str, str, str], int] = {}
        self._held = _Integral()
        self._published = _Integral()
        #: per device: (model, capacity when shareable)
        self._info: dict[tuple[str, str, str], tuple[str | None, Mapping[str, Fraction] | None]] = {}
        self._by_node: dict[str, list[tuple[str, str, str]]] = {}
        self._model_devices: dict[str, _Integral] = {}
        self._model_held: dict[str, _Integral] = {}
        self._class_held: dict[str, _Integral] = {}
        self._class_use: dict[str, dict[tuple[str, str, str], int]] = {}
        self._class_peak: dict[str, int] = {}
        self._shared_devices = 0
        self._shared_capacity: dict[str, _Integral] = {}
        self._shared_used: dict[str, _Integral] = {}
        #: the results counted per claim key (a claim reserved for another pod is not counted twice)
        self._allocated: dict[str, tuple[DeviceResult, ...]] = {}

    def _integrals(self) -> Iterable[_Integral]:
        yield self._held
        yield self._published
        yield from self._model_devices.values()
        yield from self._model_held.values()
        yield from self._class_held.values()
        yield from self._shared_capacity.values()
        yield from self._shared_used.values()

    def advance(self, now: float) -> None:
        dt = now - self.since
        if dt > 0:
            for i in self._integrals():
                if i.value:
                    i.seconds += i.value * dt
            self.since = now

    # -- devices
    def node_devices(self, now: float, node: str, devices: Iterable[Device]) -> None:
        self.advance(now)
        refs = self._by_node.setdefault(node, [])
        for d in devices:
            model = device_model(d.attributes)
            shared = d.capacity if d.multi else None
            self._info[d.ref] = (model, shared)
            refs.append(d.ref)
            self._step(1, model, shared)

    def node_removed(self, now: float, node: str) -> None:
        self.advance(now)
        for ref in self._by_node.pop(node, []):
            model, shared = self._info.pop(ref, (None, None))
            self._step(-1, model, shared)

    def _step(self, sign: int, model: str | None, shared: Mapping[str, Fraction] | None) -> None:
        self.devices += sign
        self._published.value += sign
        if model is not None:
            self._model_devices.setdefault(model, _Integral()).value += sign
        if shared is not None:
            self._shared_devices += sign
            for k, v in shared.items():
                self._shared_capacity.setdefault(k, _Integral()).value += sign * float(v)

    # -- claims
    def allocated(self, now: float, key: str, results: tuple[DeviceResult, ...]) -> None:
        if key in self._allocated:
            return
        self.advance(now)
        self._allocated[key] = results
        for r in results:
            self._hold(r, +1)

    def released(self, now: float, key: str) -> None:
        results = self._allocated.pop(key, None)
        if results is None:
            return
        self.advance(now)
        for r in results:
            self._hold(r, -1)

    def _hold(self, r: DeviceResult, sign: int) -> None:
        ref = (r.driver, r.pool, r.device)  # equal to (and hashed as) the DeviceRef
        model, shared = self._info.get(ref, (None, None))
        n = self.in_use.get(ref, 0) + sign
        if n > 0:
            self.in_use[ref] = n
        else:
            self.in_use.pop(ref, None)
        if (sign > 0 and n == 1) or (sign < 0 and n == 0):  # the device's first holder came or last went
            self._held.value += sign
            if model is not None:
                self._model_held.setdefault(model, _Integral()).value += sign
        if r.device_class:
            use = self._class_use.setdefault(r.device_class, {})
            c = use.get(ref, 0) + sign
            if c > 0:
                use[ref] = c
            else:
                use.pop(ref, None)
            if (sign > 0 and c == 1) or (sign < 0 and c == 0):
                held = self._class_held.setdefault(r.device_class, _Integral())
                held.value += sign
                if held.value > self._class_peak.get(r.device_class, 0):
                    self._class_peak[r.device_class] = int(held.value)
        if shared is not None and r.consumed_capacity:
            for k, v in r.consumed_capacity.items():
                self._shared_used.setdefault(k, _Integral()).value += sign * float(v)

    # -- the section
    def section(self, end: float) -> dict[str, Any]:
        """The time-weighted figures (see ``docs/summary.md``)."""
        self.advance(end)

        def ratio(num: float, den: float) -> float | None:
            return round(num / den, 6) if den else None

        def mean(seconds: float) -> float | None:
            return round(seconds / end, 6) if end > 0 else None

        by_class = {c: {"allocatedMean": mean(i.seconds), "allocatedPeak": self._class_peak.get(c, 0),
                        "allocatedAtEnd": int(i.value)} for c, i in sorted(self._class_held.items())}
        by_model: dict[str, dict[str, Any]] = {}
        for m, total in sorted(self._model_devices.items()):
            held = self._model_held.get(m, _Integral())
            by_model[m] = {"devices": int(total.value), "allocatedMean": mean(held.seconds),
                           "allocationRatio": ratio(held.seconds, total.seconds)}
        shared = {k: ratio(self._shared_used[k].seconds if k in self._shared_used else 0.0, cap.seconds)
                  for k, cap in sorted(self._shared_capacity.items())}
        return {"devices": self.devices,
                "deviceAllocationRatio": ratio(self._held.seconds, self._published.seconds),
                "devicesInUseAtEnd": len(self.in_use),
                "byDeviceClass": by_class, "byModel": by_model,
                "sharedDevices": self._shared_devices, "sharedUtilisation": shared}
