"""The Dask backend: tasks as futures on a Dask distributed cluster.

``--dask tcp://host:8786`` uses a running scheduler (its workers must see the script and the
sweep's folder at the same paths, as on a shared file system); ``--dask`` alone starts a
``LocalCluster`` of ``--n_jobs`` worker processes. Tasks are submitted with ``retries=0``. On the
local cluster a worker killed by its task fails only that task (``allowed-failures`` is 0); an
external scheduler applies its own ``distributed.scheduler.allowed-failures``, so a task that
kills its worker may be retried there before it is reported failed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from naga._errors import TaskError

__all__ = ["run_dask"]


def run_dask(
    jobs: list[dict[str, Any]],
    n_jobs: int,
    report: Callable[[str, dict[str, Any], dict[str, Any] | None], None],
    *,
    address: str,
) -> None:
    """Run ``jobs`` as futures on the cluster at ``address`` (``"local"``: a new local cluster)."""
    import dask
    from distributed import Client, LocalCluster

    from naga.launch._worker import run_task

    if not jobs:
        return
    cluster = None
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        if address == "local":
            cluster = LocalCluster(
                n_workers=n_jobs,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,  # its own start/stop chatter is not the user's news
            )
            client = Client(cluster)
        else:
            try:
                client = Client(address, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise TaskError(
                    f"--dask {address}: no Dask scheduler answered ({exc}): start one "
                    f"(dask scheduler) or check the address."
                ) from exc
    try:
        futures = {}
        for job in jobs:
            future = client.submit(
                run_task, job, key=f"naga-{job['key']}-{job['index']}", pure=False, retries=0
            )
            futures[future] = job
        _watch(client, futures, report)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _watch(
    client: Any,
    futures: dict[Any, dict[str, Any]],
    report: Callable[[str, dict[str, Any], dict[str, Any] | None], None],
) -> None:
    """Report each task's start when a worker begins it (the scheduler's ``processing``), not
    when it is queued, and its end as it completes; one failure never stops the others."""
    from distributed import as_completed

    by_key = {future.key: future for future in futures}
    started: set[str] = set()

    def start(key: str) -> None:
        if key not in started:
            started.add(key)
            report("start", futures[by_key[key]], None)

    completed = as_completed(futures)
    while not completed.is_empty():
        for keys in client.processing().values():
            for key in keys:
                if key in by_key:
                    start(key)
        if not completed.has_ready():
            time.sleep(0.2)
            continue
        for future in completed.next_batch(block=False):
            try:
                outcome = future.result()
            except Exception as exc:  # KilledWorker and the like: this task failed, others go on
                outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            start(future.key)
            report("end", futures[future], outcome)
