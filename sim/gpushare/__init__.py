"""GPU sharing: a fast model of Nodes whose GPUs are shared in milli-GPU units, and the placement policies of
"Beware of Fragmentation" (Weng et al., USENIX ATC'23) as kube-scheduler score plugins.

- :mod:`sim.gpushare.model` — Nodes (CPU, memory, per-GPU free milli) and Pod requests; the filter step.
- :mod:`sim.gpushare.fragmentation` — the target workload and the GPU fragmentation measure.
- :mod:`sim.gpushare.policies` — ``Random``, ``DotProduct``, ``GpuClustering``, ``GpuPacking``, ``BestFit``,
  ``FGD``: each a vectorised ``score`` over Nodes plus ``pick_gpus`` on the chosen Node.
- :mod:`sim.gpushare.experiment` — the paper's fragmentation experiment protocol.

:mod:`sim.plugins.gpusharing` makes the same policies Score plugins of kubetwin's scheduler
(``spec.scheduler.scoring``).
"""
