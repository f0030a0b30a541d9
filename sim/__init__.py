"""The simpy engine: cluster state, the kube-scheduler pipeline, workload generators and metrics.

simpy is used only for time (the clock, timeouts, controller processes); cluster state is plain
typed data. ``sim`` never imports ``validator`` (and has no asyncio).
"""

from models.native import load as _load_native

_load_native("sim", __path__)  # the compiled modules, when built (models/native.py)
