"""``python -m kubetwin.native``: compile the engine's hot modules with mypyc (see :mod:`models.native`).

The modules of :data:`models.native.COMPILED` are compiled together in a scratch copy of the project's
packages (the source tree is never written to) and the extensions land in the build directory named by
the sources' fingerprint; ``sim`` and ``models`` load them from there from then on. Building again for
the same sources does nothing. Needs mypy (``pip install 'kubetwin[native]'``) and a C compiler.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from models import native


class BuildError(Exception):
    """The compiled modules could not be built; the message says why and what to do."""


def build(*, quiet: bool = False) -> Path:
    """Build the compiled modules for the current sources (if not built yet); return their directory."""
    target = native.build_dir()
    if (target / native.DONE).is_file():
        return target
    native.cache_root().mkdir(parents=True, exist_ok=True)  # (fails now, not after compiling, if it cannot)
    if importlib.util.find_spec("mypyc") is None:
        raise BuildError("mypyc is not installed: pip install 'kubetwin[native]' (it comes with mypy)")
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        raise BuildError("no C compiler (cc or gcc) on PATH: install one (Debian: apt-get install gcc)")
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.is_file():
        raise BuildError(f"no Python headers ({headers} is missing): install them (Debian: apt-get install "
                         f"python3-dev)")
    shutil.rmtree(target, ignore_errors=True)  # (no BUILT marker: whatever is there is not a build)
    with tempfile.TemporaryDirectory(prefix="kubetwin-native-") as tmp:
        work = Path(tmp)
        for pkg in native.SOURCES:
            shutil.copytree(native.ROOT / pkg, work / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        proc = subprocess.run([sys.executable, "-m", "mypyc", *native.COMPILED], cwd=work,
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise BuildError(f"mypyc failed (exit {proc.returncode}):\n{tail}")
        built = sorted(work.glob("build/lib.*"))
        if not built:
            raise BuildError(f"mypyc made no extensions in {work / 'build'}")
        # complete in a directory of its own, then one rename: a build cut short, or two running at once,
        # never leave a half-filled directory under the fingerprint's name
        partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(built[0], partial)
        (partial / native.DONE).write_text("".join(f"{rel}\n" for rel in native.COMPILED), encoding="utf-8")
        try:
            partial.rename(target)
        except OSError:  # another build of the same sources finished first: keep that one
            shutil.rmtree(partial, ignore_errors=True)
            if not (target / native.DONE).is_file():
                raise
    if not quiet:
        print(f"compiled {len(native.COMPILED)} modules into {target}")
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kubetwin.native",
                                 description="compile the engine's hot modules with mypyc (models/native.py)")
    ap.add_argument("--status", action="store_true", help="say whether compiled modules are built and in use")
    args = ap.parse_args(argv)
    if args.status:
        d = native.build_dir()
        use = "in use" if native.active() else "off (KUBETWIN_NATIVE=0)" if (d / native.DONE).is_file() else "not built"
        print(f"compiled modules for these sources: {use} ({d})")
        return 0
    try:
        build()
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # the cache directory cannot be written, the disk is full, ...
        print(f"error: cannot write the build to {native.cache_root()}: {e} (set XDG_CACHE_HOME to a "
              f"writable directory)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
