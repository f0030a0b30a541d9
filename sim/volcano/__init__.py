"""Volcano (``volcano-sh/volcano``): the batch scheduler that binds gangs in periodic sessions.

:mod:`sim.volcano.setup` resolves which workloads Volcano schedules and their PodGroups;
:mod:`sim.volcano.proportion` is the proportion plugin's queue shares; :mod:`sim.volcano.job` a job and
its tasks; :mod:`sim.volcano.session` one session's actions (enqueue, allocate with statements, preempt,
reclaim, backfill); :mod:`sim.volcano.controller` the scheduler on the controller host.
"""

from sim.volcano.controller import VolcanoScheduler

__all__ = ["VolcanoScheduler"]
