"""The compiled engine: where the mypyc build of the hot modules lives, and loading it in their place.

Not a Kubernetes concept — how kubetwin runs fast. ``python -m kubetwin.native`` compiles the modules of
:data:`COMPILED` with mypyc into a directory named by a fingerprint of the sources of ``models`` and ``sim``
(and the interpreter); when that directory exists, importing ``models``, ``sim`` or ``sim.plugins`` puts it
first on the package's ``__path__``, so the compiled modules load instead of the ``.py`` files. A changed
source changes the fingerprint, so a stale build is never loaded: the pure-Python modules run until it is
built again. ``KUBETWIN_NATIVE=0`` in the environment turns the compiled modules off (the test suite does,
to test the Python it reads). Both give byte-identical timelines (``tests/test_native.py``).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

#: the modules compiled, relative to the project root (mypyc compiles them together; the engine, the
#: scheduler and the workload sources must be among them: compiling only the layers below them gains nothing)
COMPILED = ("models/timeline.py", "sim/buckets.py", "sim/clock.py", "sim/cluster.py", "sim/engine.py",
            "sim/metrics.py", "sim/pods.py", "sim/preemption.py", "sim/scheduler.py", "sim/workloads.py",
            "sim/plugins/noderesources.py")
#: the packages whose sources the fingerprint covers, and the build compiles (the compiled modules import
#: nothing of ours outside them)
SOURCES = ("models", "sim")
#: the file a finished build leaves in its directory (a build interrupted half-way is never loaded)
DONE = "BUILT"
ROOT = Path(__file__).resolve().parent.parent

_fingerprint: str | None = None


def fingerprint() -> str:
    """sha256 of the interpreter's ABI tag, the list of compiled modules and the path and bytes of every
    module of ``models`` and ``sim`` (first 20 hex digits). Not only the compiled ones: compiled code is
    checked against the types of what it imports, so an edit anywhere there asks for a new build."""
    global _fingerprint
    if _fingerprint is None:
        h = hashlib.sha256(f"{sys.implementation.cache_tag}:{sys.platform}:{sys.maxsize}".encode())
        h.update("\n".join(COMPILED).encode() + b"\0")
        sources = sorted(p.relative_to(ROOT).as_posix() for pkg in SOURCES for p in (ROOT / pkg).rglob("*.py"))
        for rel in sources:
            h.update(rel.encode() + b"\0" + (ROOT / rel).read_bytes() + b"\0")
        _fingerprint = h.hexdigest()[:20]
    return _fingerprint


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/kubetwin/native`` (``~/.cache`` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kubetwin" / "native"


def build_dir() -> Path:
    return cache_root() / fingerprint()


def enabled() -> bool:
    return os.environ.get("KUBETWIN_NATIVE", "1") != "0"


def active() -> Path | None:
    """The build for these sources when it exists and is not turned off, else None."""
    if not enabled() or not cache_root().is_dir():  # (never built here: no need to read the sources)
        return None
    try:
        d = build_dir()
    except OSError:  # a source unreadable (an unusual install): run the Python modules
        return None
    return d if (d / DONE).is_file() else None


def load(package: str, path: list[str]) -> None:
    """Called by ``package``'s ``__init__`` with its ``__path__``: look in the build first."""
    d = active()
    if d is None:
        return
    if str(d) not in sys.path:
        sys.path.append(str(d))  # the shared library mypyc makes for the modules compiled together
    sub = d.joinpath(*package.split("."))
    if sub.is_dir() and str(sub) not in path:
        path.insert(0, str(sub))
