"""Dynamic Resource Allocation in the simulator: the structured-parameters allocator
(:mod:`sim.dra.allocator`), the resourceclaim controller's claim lifecycle (:mod:`sim.dra.claims`) and
kube-scheduler's ``DynamicResources`` plugin (:mod:`sim.dra.plugin`)."""
