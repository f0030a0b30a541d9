"""Volcano (``volcano-sh/volcano``): the batch scheduler that binds gangs in periodic sessions.

:mod:`sim.volcano.setup` resolves which workloads Volcano schedules and their PodGroups;
:mod:`sim.volcano.proportion` is the proportion plugin's queue shares; :mod:`sim.volcano.job` a job and
its tasks; :mod:`sim.volcano.session` one session's actions (enqueue, allocate with statements, preempt,
reclaim, backfill); :mod:`sim.volcano.controller` the scheduler on the controller host.

:class:`VolcanoScheduler` loads on first use (:mod:`sim.lazy`): the builder reads :mod:`sim.volcano.setup` for
every scenario, and one without Volcano workloads should not pay for importing the session scheduler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sim.lazy import lazy_names

if TYPE_CHECKING:
    from sim.volcano.controller import VolcanoScheduler

__all__ = ["VolcanoScheduler"]

__getattr__ = lazy_names(__name__, {"VolcanoScheduler": "controller"})
