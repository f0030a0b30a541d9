"""Running the ``kubetwin`` CLI in-process, the way a user's shell would, for tests."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout

from kubetwin.cli import main


def run_cli(*args: str) -> tuple[int, str, str]:
    """``kubetwin ARGS…``: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, out.getvalue(), err.getvalue()
