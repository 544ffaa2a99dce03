"""The Dask backend: tasks as futures on a Dask distributed cluster.

``--dask tcp://host:8786`` uses a running scheduler (its workers must see the script and the
sweep's folder at the same paths, as on a shared file system); ``--dask`` alone starts a
``LocalCluster`` of ``--n_jobs`` worker processes. Tasks are submitted with ``retries=0``. On the
local cluster a worker killed by its task fails only that task (``allowed-failures`` is 0); an
external scheduler applies its own ``distributed.scheduler.allowed-failures``, so a task that
kills its worker may be retried there before it is reported failed.

Every task runs in a process of its own on the Dask worker (killed at its time limit, if it has
one): a crashing task takes only its own process down, a worker with several threads keeps each
task's output in its own log, and each finished outcome is recorded durably
(``<sweep>/.naga/outcomes/``) before it is returned, so a task Dask computes again after losing
a worker is not run twice.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from naga._errors import TaskError
from naga.launch._backend import Event, Outcome, Report, Task

__all__ = ["DaskBackend"]

#: How long the watcher waits for a start before it looks for ended tasks again.
_POLL_S = 0.1


class DaskBackend:
    """Runs tasks as futures on the cluster at ``address`` (``"local"``: a new local cluster of
    ``n_jobs`` processes); see :class:`~naga.launch._backend.Backend`."""

    def __init__(self, address: str) -> None:
        self.address = address

    def run(self, tasks: Sequence[Task], n_jobs: int, report: Report) -> None:
        from naga.launch._process import outcome_file, run_isolated

        if not tasks:
            return
        for task in tasks:  # outcomes of an earlier sweep are not this one's
            try:
                os.unlink(outcome_file(task))
            except FileNotFoundError:
                pass
        client, cluster = self._connect(n_jobs)
        try:
            futures = {
                client.submit(
                    run_isolated, task, key=f"naga-{task.key}-{task.index}", pure=False, retries=0
                ): task
                for task in tasks
            }
            _watch(client, futures, report)
        finally:  # on Ctrl-C too: closing the client cancels its futures
            client.close()
            if cluster is not None:
                cluster.close()

    def _connect(self, n_jobs: int) -> tuple[Any, Any]:
        import dask
        from distributed import Client, LocalCluster

        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            if self.address == "local":
                cluster = LocalCluster(
                    n_workers=n_jobs,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,  # its start/stop chatter is not the user's news
                )
                return Client(cluster), cluster
            try:
                return Client(self.address, timeout="10s"), None
            except (OSError, TimeoutError) as exc:
                raise TaskError(
                    f"--dask {self.address}: no Dask scheduler answered ({exc}): start one "
                    f"(dask scheduler) or check the address.",
                    value=self.address,
                ) from exc


#: The topic on which a Dask worker says that it starts a task (see run_isolated).
START_TOPIC = "naga-task-start"


def _watch(client: Any, futures: dict[Any, Task], report: Report) -> None:
    """Report each task's start when a worker begins running it (the worker says so on a
    topic: a task queued on a worker is not running yet), and its end as it completes; one
    failure never stops the others.

    Both are reported from this thread, ends first: a worker says it starts a task only after
    the task before it ended, so flushing the ended ones before each start keeps the count of
    running tasks within the workers' threads.
    """
    import queue

    from distributed import as_completed

    by_key = {task.key: task for task in futures.values()}
    started: set[str] = set()
    starts: queue.SimpleQueue[str] = queue.SimpleQueue()
    completed = as_completed(futures)
    left = len(futures)

    def start(key: str) -> None:
        if key not in started and key in by_key:
            started.add(key)
            report(Event.start(by_key[key]))

    def flush_ended() -> int:
        ended = 0
        for future in completed.next_batch(block=False) if completed.has_ready() else []:
            task = futures[future]
            start(task.key)
            report(Event.end(task, _outcome(future)))
            ended += 1
        return ended

    def on_start(event: Any) -> None:  # called on the client's event loop: hand it over
        _, message = event
        if isinstance(message, dict):
            starts.put(str(message.get("key")))

    client.subscribe_topic(START_TOPIC, on_start)
    try:
        while left:
            left -= flush_ended()
            try:
                key = starts.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            left -= flush_ended()
            start(key)
    finally:
        client.unsubscribe_topic(START_TOPIC)


def _outcome(future: Any) -> Outcome:
    try:
        outcome = future.result()
    except Exception as exc:  # KilledWorker and the like: this task failed, others go on
        return Outcome.failed(f"{type(exc).__name__}: {exc}")
    if isinstance(outcome, Outcome):
        return outcome
    return Outcome.failed(f"unexpected result {outcome!r}")
