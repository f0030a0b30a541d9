"""kubetwin's data models: the scenario, the Kubernetes objects we read, and the timeline schema.

Nothing here imports ``sim`` or ``validator``; both build on it.
"""
