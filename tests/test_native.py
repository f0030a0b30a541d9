"""The compiled engine (``models/native.py``, ``python -m kubetwin.native``).

A build for the current sources is loaded in place of the Python modules; a changed source, an unfinished
build or ``KUBETWIN_NATIVE=0`` keeps the Python ones; and the compiled modules write the same bytes as the
Python ones on every bundled scenario and on the overloaded week's first hours.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest

import kubetwin.native as build_tool
from models import native

ROOT = Path(__file__).resolve().parent.parent

# what each side runs: every bundled scenario, and the first hours of the overloaded week (preemption)
RUN = """
import json, sys
from pathlib import Path
import sim.engine
from kubetwin.cmd_simulate import simulate_to
out = Path(sys.argv[1])
for f in sorted(Path("scenarios").glob("*.yaml")):
    simulate_to(f, out / f.stem)
simulate_to(Path("bench/scenarios/week-10000n-1m-overload.yaml"), out / "overload-6h", until=6 * 3600.0)
print(json.dumps({"engine": sim.engine.__file__}))
"""


def _env(cache: Path, on: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["XDG_CACHE_HOME"] = str(cache)
    env["KUBETWIN_NATIVE"] = "1" if on else "0"
    return env


def _can_build() -> str | None:
    if importlib.util.find_spec("mypyc") is None:
        return "needs mypyc (it comes with mypy: pip install 'kubetwin[native]')"
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        return "needs a C compiler (Debian: apt-get install gcc)"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "needs the Python headers (Debian: apt-get install python3-dev)"
    return None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    why = _can_build()
    if why is not None:
        pytest.skip(why)
    cache = tmp_path_factory.mktemp("native-cache")
    proc = subprocess.run([sys.executable, "-m", "kubetwin.native"], cwd=ROOT, env=_env(cache, True),
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"compiled {len(native.COMPILED)} modules into" in proc.stdout
    return cache


def _run(cache: Path, on: bool, out: Path) -> str:
    proc = subprocess.run([sys.executable, "-c", RUN, str(out)], cwd=ROOT, env=_env(cache, on),
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    engine: str = json.loads(proc.stdout.strip().splitlines()[-1])["engine"]
    return engine


def _summary(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    doc["sim"].pop("wallSeconds")
    return doc


def test_compiled_modules_write_the_same_bytes(built: Path, tmp_path: Path) -> None:
    compiled = _run(built, True, tmp_path / "compiled")
    python = _run(built, False, tmp_path / "python")
    assert compiled.endswith(".so") and compiled.startswith(str(built))  # the build was loaded ...
    assert python == str(ROOT / "sim" / "engine.py")                  # ... and turned off
    runs = sorted(p.name for p in (tmp_path / "python").iterdir())
    assert len(runs) == len(list((ROOT / "scenarios").glob("*.yaml"))) + 1
    assert sorted(p.name for p in (tmp_path / "compiled").iterdir()) == runs
    for name in runs:
        a, b = tmp_path / "compiled" / name, tmp_path / "python" / name
        assert (a / "timeline.jsonl").read_bytes() == (b / "timeline.jsonl").read_bytes(), name
        assert _summary(a / "summary.json") == _summary(b / "summary.json"), name


def test_a_changed_source_or_an_unfinished_build_is_never_loaded(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    for pkg in ("models", "sim"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    monkeypatch.setattr(native, "ROOT", src)
    monkeypatch.setattr(native, "_fingerprint", None)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("KUBETWIN_NATIVE", "1")
    d = native.build_dir()
    assert d.parent == tmp_path / "cache" / "kubetwin" / "native"
    (d / "sim").mkdir(parents=True)

    path = ["/py/sim"]
    native.load("sim", path)
    assert path == ["/py/sim"]                     # no BUILT marker: a build cut short is not loaded
    (d / native.DONE).write_text("", encoding="utf-8")
    native.load("sim", path)
    assert path == [str(d / "sim"), "/py/sim"]     # finished: its directory comes first
    assert sys.path[-1] == str(d)                  # (the library the compiled modules share)

    monkeypatch.setenv("KUBETWIN_NATIVE", "0")
    path = ["/py/sim"]
    native.load("sim", path)
    assert path == ["/py/sim"]                     # turned off

    monkeypatch.setenv("KUBETWIN_NATIVE", "1")
    before = native.fingerprint()
    engine = src / "sim" / "engine.py"
    engine.write_bytes(engine.read_bytes() + b"\n# edited\n")
    monkeypatch.setattr(native, "_fingerprint", None)
    assert native.fingerprint() != before          # an edited module: another build directory ...
    path = ["/py/sim"]
    native.load("sim", path)
    assert path == ["/py/sim"]                     # ... which does not exist: the Python modules run

    # so does an edit to a module that is not compiled (compiled code relies on the types it imports)
    edited = native.fingerprint()
    framework = src / "sim" / "framework.py"
    framework.write_bytes(framework.read_bytes() + b"\n# edited\n")
    monkeypatch.setattr(native, "_fingerprint", None)
    assert native.fingerprint() not in (before, edited)


def test_building_without_mypyc_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mypyc" else real(name, *a))
    assert build_tool.main([]) == 1
    err = capsys.readouterr().err
    assert err == "error: mypyc is not installed: pip install 'kubetwin[native]' (it comes with mypy)\n"
    assert list((tmp_path / "cache" / "kubetwin" / "native").iterdir()) == []  # nothing built, nothing half-built


def test_an_unwritable_cache_is_one_line_before_any_compiling(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("compiled although it cannot write"))
    assert build_tool.main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write the build to {blocker / 'kubetwin' / 'native'}: ")
    assert err.endswith("(set XDG_CACHE_HOME to a writable directory)\n")
