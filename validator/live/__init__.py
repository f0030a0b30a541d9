"""Live-cluster I/O: the read-only API client, the list-then-watch reflectors, the recorder, the raw
recording file and the conformance probe.

Everything here talks to a real (or fake) API server or writes what it saw; the pure timeline parts of
:mod:`validator` (the normalizer, the checks, queue summaries, reports) never import the client, the
watchers, the recorder or the probe — only the raw file reader (:mod:`validator.live.raw`).
"""
