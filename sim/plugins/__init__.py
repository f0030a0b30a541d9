"""kube-scheduler's in-tree plugins, as kubetwin models them; importing this package registers them.

Each module mirrors one plugin of ``pkg/scheduler/framework/plugins`` (or of scheduler-plugins) and
implements the extension points of :mod:`sim.framework` it needs. A new plugin is one new module here
(plus its import below) — the scheduler core does not change. The GPU-sharing Score plugins
(:mod:`sim.plugins.gpusharing`) are listed in :data:`sim.framework.LAZY_PLUGINS` instead: their
names are known at once and the module loads when a profile first asks for one of them.
"""

from models.native import load as _load_native

_load_native("sim.plugins", __path__)  # the compiled modules, when built (models/native.py)

from sim.plugins import (  # noqa: F401, E402  (imported for their registration, after the compiled path)
    defaultpreemption,
    gang,
    nodeaffinity,
    noderesources,
    nodeunschedulable,
    tainttoleration,
)

#: the default profile, in kube-scheduler's default plugin order (the ones kubetwin models)
DEFAULT_PLUGINS = ["PrioritySort", "NodeUnschedulable", "TaintToleration", "NodeAffinity", "NodeResourcesFit",
                   "DefaultPreemption"]
#: gang plugins a cluster runs when it has gangs of that policy (scheduler-plugins' Coscheduling is
#: out of tree; upstream GangScheduling is behind a feature gate): enabled by the builder on demand
GANG_PLUGINS = {"coscheduling": "Coscheduling", "workload-api": "GangScheduling"}
