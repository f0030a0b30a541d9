"""Everything about real clusters and about timelines: recorder, normalizer, invariant checks, comparison.

``validator`` imports ``models`` only; it never imports ``sim``.
"""
