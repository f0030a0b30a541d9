"""The benchmark harness: scale scenarios run through ``kubetwin simulate``, one subprocess each.

``python -m bench [NAMES...] [--json FILE] [--out DIR] [--quick]`` runs the scenarios in
``bench/scenarios/`` (or the files and names given) and reports, per scenario, pods scheduled per
wall second, timeline events per wall second, wall seconds and peak resident memory, against the
targets each scenario file carries in ``metadata.annotations`` (``bench.kubetwin.dev/target-*``).
Every scenario runs in a fresh Python process so its peak memory is its own; see
:mod:`bench.harness` and ``docs/benchmarks.md``.
"""
