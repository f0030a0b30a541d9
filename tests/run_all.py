"""The whole test command: ruff, mypy --strict, the import-layer contract, then pytest.

Run from the repository root: ``python tests/run_all.py``. Exits non-zero if any step fails; every
step runs even when an earlier one failed, so one run shows every problem.
"""

from __future__ import annotations

import subprocess
import sys

PACKAGES = ["models", "sim", "validator", "kubetwin", "bench"]


def main() -> int:
    py = sys.executable
    steps = [
        ("ruff", [py, "-m", "ruff", "check", *PACKAGES, "tests"]),
        ("mypy --strict", [py, "-m", "mypy", "--strict", *PACKAGES]),
        ("import layers", [py, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                           "sys.exit(lint_imports_command())"]),
        ("pytest", [py, "-m", "pytest", *sys.argv[1:]]),
    ]
    failed = []
    for name, cmd in steps:
        print(f"==> {name}", flush=True)
        rc = subprocess.call(cmd)
        if rc != 0:
            failed.append(f"{name} (exit {rc})")
    if failed:
        print("FAILED: " + ", ".join(failed), flush=True)
        return 1
    print("all checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
