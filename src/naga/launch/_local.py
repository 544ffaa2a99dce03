"""The local backend: ``n_jobs`` long-lived worker processes, each fed one task at a time.

A worker imports the user's script once and runs task after task, so short tasks cost little.
When a worker dies (segfault, ``kill -9``, out of memory) or its task passes its time limit,
only that task fails: the worker's pipe closes, the driver thread records why, and starts a
fresh worker for the remaining tasks.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Sequence

from naga.launch._backend import Event, Outcome, Report, Task
from naga.launch._process import WorkerProcess

__all__ = ["LocalBackend"]

#: How long a stopped sweep waits for its driver threads to report the tasks they stopped.
_STOP_GRACE_S = 10.0
#: How long a worker killed by a stop signal waits for the sweep's own stop (see _stopped_with).
_SIGNAL_GRACE_S = 0.5
_STOP_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class LocalBackend:
    """Runs tasks on worker processes of this machine (:class:`~naga.launch._backend.Backend`).

    A thread per worker takes the next task, reports its start, sends it to its worker and
    reports its end. On ``KeyboardInterrupt`` no new task starts, every worker is killed, and
    the tasks they ran are reported ``INTERRUPTED`` before the exception propagates.
    """

    def run(self, tasks: Sequence[Task], n_jobs: int, report: Report) -> None:
        pool = _Pool(tasks, report)
        count = max(1, min(n_jobs, len(tasks)))
        for _ in range(count):
            threading.Thread(target=pool.drive, daemon=True).start()
        remaining = count
        # Each driver thread says when it is done on `pool.finished`. Waiting on it rather than
        # on Thread.join matters: a Ctrl-C that interrupts join() marks the thread stopped while
        # it still runs (CPython bpo-45274), and the interrupted tasks would go unreported.
        try:
            while remaining:
                pool.finished.get()
                remaining -= 1
        except KeyboardInterrupt:
            pool.stop()
            deadline = time.monotonic() + _STOP_GRACE_S
            while remaining and time.monotonic() < deadline:
                try:
                    pool.finished.get(timeout=max(0.0, deadline - time.monotonic()))
                    remaining -= 1
                except queue.Empty:
                    break
            raise


class _Pool:
    """The tasks left to run and the workers running them, shared by the driver threads."""

    def __init__(self, tasks: Sequence[Task], report: Report) -> None:
        self.pending: queue.Queue[Task] = queue.Queue()
        for task in tasks:
            self.pending.put(task)
        self.report = report
        self.finished: queue.Queue[None] = queue.Queue()
        self._stopped = threading.Event()
        self._lock = threading.Lock()  # a worker is started, or the pool stopped, not both
        self._workers: set[WorkerProcess] = set()

    def stop(self) -> None:
        """No new task starts; every worker is killed with what its task started."""
        with self._lock:
            self._stopped.set()
            for worker in self._workers:
                worker.kill()

    def _start_worker(self) -> WorkerProcess | None:
        with self._lock:
            if self._stopped.is_set():
                return None
            worker = WorkerProcess()
            self._workers.add(worker)
            return worker

    def _forget(self, worker: WorkerProcess) -> None:
        with self._lock:
            self._workers.discard(worker)

    def _stopped_with(self, worker: WorkerProcess) -> bool:
        """Whether a dead worker went down with the sweep. A worker killed by a stop signal
        (``scancel`` of a job running the sweep signals every process of the job) waits a
        moment for the sweep's own signal to be handled before it counts as its task's failure."""
        if worker.killed_by in _STOP_SIGNALS:
            return self._stopped.wait(_SIGNAL_GRACE_S)
        return self._stopped.is_set()

    def drive(self) -> None:
        """One driver thread: run tasks on one worker (replaced when it dies) until none is left."""
        worker: WorkerProcess | None = None
        try:
            while not self._stopped.is_set():
                try:
                    task = self.pending.get_nowait()
                except queue.Empty:
                    return
                if worker is None and (worker := self._start_worker()) is None:
                    return
                self.report(Event.start(task))
                outcome = worker.run(task)
                if not worker.alive:
                    self._forget(worker)
                    if self._stopped_with(worker):  # killed by stop(), not by its task
                        outcome = Outcome.interrupted()
                    worker = None
                self.report(Event.end(task, outcome))
        finally:
            if worker is not None:
                self._forget(worker)
                worker.close()
            self.finished.put(None)
