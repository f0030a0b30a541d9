"""Everything about real clusters and about timelines: recorder, normalizer, invariant checks, comparison.

``validator.live`` holds the live-cluster I/O (API client, watchers, recorder, raw recording file,
conformance probe); the rest works on timelines only: ``validator.normalize`` (raw recording →
timeline, one translator per API), ``validator.checks``, ``validator.queues``, ``validator.report``.
An import-linter contract keeps the timeline parts away from the client, the watchers, the recorder
and the probe. ``validator`` imports ``models`` only; it never imports ``sim``.
"""
