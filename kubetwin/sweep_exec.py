"""Sweep executors: where the independent runs of a sweep execute, the way a Job's pods land on nodes.

Every executor takes the same list of :class:`kubetwin.sweep.RunTask` and yields ``(task, result)`` as
runs finish, in whatever order they finish; the driver records and sorts them, so the choice of
executor never changes ``runs.csv``.

- ``local`` — a process pool (``spawn``, so workers start clean whatever threads the driver runs).
- ``ray`` — Ray tasks, one CPU each. Without ``--address`` ``ray.init()`` joins the cluster named by
  ``RAY_ADDRESS`` (set inside a KubeRay RayJob) or starts a local Ray instance on this machine; with
  ``--address`` it joins that cluster. Ray is an optional extra: ``pip install 'kubetwin[ray]'``.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from kubetwin.sweep import RunTask, run_one
from models.errors import InputError

Outcome = tuple[RunTask, dict[str, Any]]


def run_local(tasks: list[RunTask], workers: int) -> Iterator[Outcome]:
    """Run ``tasks`` on a pool of ``workers`` processes; yields as they finish."""
    if not tasks:
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(tasks))), mp_context=ctx) as pool:
        futs: dict[Future[dict[str, Any]], RunTask] = {pool.submit(run_one, t): t for t in tasks}
        pending = set(futs)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in sorted(done, key=lambda f: futs[f].index):
                    t = futs[f]
                    try:
                        res = f.result()
                    except Exception as e:
                        res = {"run": t.run, "status": "failed", "error": f"worker died: {type(e).__name__}: {e}",
                               "summary": None, "wallSeconds": None}
                    yield t, res
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _ray_module() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("the ray executor needs Ray, which is not installed", field="--executor",
                         fix="pip install 'kubetwin[ray]' (or use --executor local)") from None
    return ray


def run_ray(tasks: list[RunTask], workers: int | None, address: str | None) -> Iterator[Outcome]:
    """Run ``tasks`` as Ray tasks (one CPU each); yields as they finish."""
    if not tasks:
        return
    ray = _ray_module()
    import logging

    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "logging_level": logging.WARNING, "configure_logging": False}
        if address:
            kwargs["address"] = address
        elif workers and not os.environ.get("RAY_ADDRESS"):
            kwargs["num_cpus"] = workers  # only when this call starts a local instance, not when joining one
        try:
            ray.init(**kwargs)
        except ConnectionError as e:
            raise InputError(f"cannot reach the Ray cluster: {e}", field="--address",
                             fix="give the head's address, e.g. ray://head:10001, or omit it for a local Ray")\
                from None
    remote = ray.remote(num_cpus=1, max_retries=0)(run_one)
    refs = {remote.remote(t): t for t in tasks}
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                t = refs[ref]
                try:
                    res = ray.get(ref)
                except Exception as e:
                    res = {"run": t.run, "status": "failed", "error": f"ray task failed: {type(e).__name__}",
                           "summary": None, "wallSeconds": None}
                yield t, res
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()
