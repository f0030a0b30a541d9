"""kubetwin's data models: the scenario, the Kubernetes objects we read, and the timeline schema.

Nothing here imports ``sim`` or ``validator``; both build on it.
"""

from models.native import load as _load_native

_load_native("models", __path__)  # the compiled modules, when built (models/native.py)
