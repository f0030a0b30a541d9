"""Sweep executors: where the independent runs of a sweep execute, the way a Job's pods land on nodes.

Every executor takes the same list of :class:`kubetwin.sweep.RunTask` and yields ``(task, result)`` as
runs finish, in whatever order they finish; the driver records and sorts them, so the choice of
executor never changes ``runs.csv``. Each also takes the driver's stop event (set on Ctrl-C): no new
run starts, runs in flight are stopped (they come back ``interrupted`` and are not recorded), and the
executor returns.

- ``local`` — a process pool (``spawn``, so workers start clean whatever threads the driver runs).
- ``ray`` — Ray tasks, one CPU each. Without ``--address`` ``ray.init()`` joins the cluster named by
  ``RAY_ADDRESS`` (set inside a KubeRay RayJob) or starts a local Ray instance on this machine; with
  ``--address`` it joins that cluster. Ray is an optional extra: ``pip install 'kubetwin[ray]'``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from kubetwin.sweep import INTERRUPTED, RunTask, run_one, worker_init
from models.errors import InputError

Outcome = tuple[RunTask, dict[str, Any]]

#: how often (seconds) an executor looks at the stop event while runs are in flight
POLL = 0.2


def _interrupted(t: RunTask, why: str) -> dict[str, Any]:
    return {"run": t.run, "status": INTERRUPTED, "error": why, "summary": None, "wallSeconds": None}


def _signal_workers(pool: ProcessPoolExecutor) -> None:
    """SIGINT, once, to every live worker — for a SIGINT that reached only the driver: a run in its
    simulation ends at the current instant (with a terminal's Ctrl-C, which the workers got too, it is
    their second and quits the run at once); a worker between runs ignores it
    (:func:`kubetwin.sweep.worker_init`) and starts no other run (the stop event)."""
    procs: dict[int, Any] = dict(getattr(pool, "_processes", None) or {})
    for pid in sorted(procs):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGINT)


def run_local(tasks: list[RunTask], workers: int, stop: threading.Event | None = None) -> Iterator[Outcome]:
    """Run ``tasks`` on a pool of ``workers`` processes; yields as they finish.

    Once ``stop`` is set: runs not started are cancelled, runs in flight are told to stop (SIGINT) and
    come back ``interrupted`` unless they had already finished; the generator then returns."""
    if not tasks:
        return
    stop = stop or threading.Event()
    ctx = multiprocessing.get_context("spawn")
    stop_workers = ctx.Event()
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(tasks))), mp_context=ctx,
                             initializer=worker_init, initargs=(stop_workers,)) as pool:
        futs: dict[Future[dict[str, Any]], RunTask] = {pool.submit(run_one, t): t for t in tasks}
        pending = set(futs)
        stopping = False
        try:
            while pending:
                if stop.is_set():
                    if not stopping:
                        stopping = True
                        stop_workers.set()
                        for f in pending:
                            f.cancel()
                        pending = {f for f in pending if not f.cancelled()}
                        _signal_workers(pool)
                    if not pending:
                        break
                done, pending = wait(pending, timeout=POLL, return_when=FIRST_COMPLETED)
                for f in sorted(done, key=lambda f: futs[f].index):
                    t = futs[f]
                    try:
                        res = f.result()
                    except BaseException as e:
                        res = _interrupted(t, "stopped") if stopping else \
                            {"run": t.run, "status": "failed", "error": f"worker died: {type(e).__name__}: {e}",
                             "summary": None, "wallSeconds": None}
                    yield t, res
        except BaseException:
            stop_workers.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _ray_module() -> Any:
    try:
        import ray
    except ImportError:
        raise InputError("the ray executor needs Ray, which is not installed", field="--executor",
                         fix="pip install 'kubetwin[ray]' (or use --executor local)") from None
    return ray


def run_ray(tasks: list[RunTask], workers: int | None, address: str | None,
            stop: threading.Event | None = None) -> Iterator[Outcome]:
    """Run ``tasks`` as Ray tasks (one CPU each); yields as they finish. Once ``stop`` is set every task
    not finished is cancelled (a running one gets KeyboardInterrupt and comes back ``interrupted``)."""
    if not tasks:
        return
    stop = stop or threading.Event()
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
            if stop.is_set():
                for ref in pending:
                    ray.cancel(ref, force=False)
                break
            done, pending = ray.wait(pending, num_returns=1, timeout=POLL)
            for ref in done:
                t = refs[ref]
                try:
                    res = ray.get(ref)
                except Exception as e:
                    res = _interrupted(t, "cancelled") if stop.is_set() else \
                        {"run": t.run, "status": "failed", "error": f"ray task failed: {type(e).__name__}",
                         "summary": None, "wallSeconds": None}
                yield t, res
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started_here:
            ray.shutdown()
