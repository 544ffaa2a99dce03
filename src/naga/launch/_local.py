"""The local backend: ``n_jobs`` long-lived worker processes, each fed one task at a time.

A worker imports the user's script once and runs task after task, so short tasks cost little.
When a worker dies (segfault, ``kill -9``, out of memory), only the task it was running fails:
the parent sees the worker's pipe close, records the signal, and starts a fresh worker for the
remaining tasks.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from naga.launch._worker import read_frame, write_frame

__all__ = ["run_local"]

_INTERRUPTED = {"ok": False, "error": "interrupted", "interrupted": True}


def run_local(
    jobs: list[dict[str, Any]],
    n_jobs: int,
    report: Callable[[str, dict[str, Any], dict[str, Any] | None], None],
) -> None:
    """Run ``jobs`` on ``n_jobs`` worker processes; ``report(event, job, result)`` per event.

    Events are ``"start"`` (result None) and ``"end"`` (result ``{"ok", "error"?}``).
    """
    pending: queue.Queue[dict[str, Any]] = queue.Queue()
    for job in jobs:
        pending.put(job)
    lock = threading.Lock()
    stop = threading.Event()
    workers: set[_Worker] = set()

    def locked_report(event: str, job: dict[str, Any], result: dict[str, Any] | None) -> None:
        with lock:
            report(event, job, result)

    # Each driver thread says when it is done on this queue. Waiting on it rather than on
    # Thread.join matters: a Ctrl-C that interrupts join() marks the thread stopped while it
    # still runs (CPython bpo-45274), and the interrupted tasks would go unreported.
    finished: queue.Queue[None] = queue.Queue()
    count = max(1, min(n_jobs, len(jobs)))
    for _ in range(count):
        threading.Thread(
            target=_drive, args=(pending, locked_report, stop, workers, finished), daemon=True
        ).start()
    remaining = count
    try:
        while remaining:
            finished.get()
            remaining -= 1
    except KeyboardInterrupt:
        # Ctrl-C: no new task starts, running ones are stopped and reported as interrupted.
        stop.set()
        for worker in list(workers):
            worker.proc.kill()
        deadline = time.monotonic() + 10
        while remaining and time.monotonic() < deadline:
            try:
                finished.get(timeout=max(0.0, deadline - time.monotonic()))
                remaining -= 1
            except queue.Empty:
                break
        raise


class _Worker:
    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        env = {**os.environ, "NAGA_WORKER": "1", "NAGA_RESULT_FD": str(write_fd)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "naga.launch._worker"],
            stdin=subprocess.PIPE,
            pass_fds=(write_fd,),
            env=env,
        )
        os.close(write_fd)
        self.results = os.fdopen(read_fd, "rb")

    def run(self, job: dict[str, Any]) -> dict[str, Any] | None:
        assert self.proc.stdin is not None
        try:
            write_frame(self.proc.stdin, job)
            result: dict[str, Any] | None = read_frame(self.results)
            return result
        except (BrokenPipeError, EOFError, OSError):
            return None

    def died(self) -> str:
        code = self.proc.wait()
        self.results.close()
        if code < 0:
            return f"worker process killed by {signal.Signals(-code).name}"
        return f"worker process exited with status {code}"

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait()
        self.results.close()


def _drive(
    pending: queue.Queue[dict[str, Any]],
    report: Callable[..., None],
    stop: threading.Event,
    workers: set[_Worker],
    finished: queue.Queue[None],
) -> None:
    worker: _Worker | None = None
    try:
        while not stop.is_set():
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            if worker is None:
                worker = _Worker()
                workers.add(worker)
            report("start", job, None)
            result = worker.run(job)
            if result is not None and result.get("interrupted"):
                stop.set()  # Ctrl-C reached the task: the user is stopping the sweep
            if result is None or result.get("interrupted"):  # the worker is gone or going
                error = worker.died()
                workers.discard(worker)
                worker = None
                result = _INTERRUPTED if stop.is_set() else {"ok": False, "error": error}
            report("end", job, result)
    finally:
        if worker is not None:
            worker.close()
        finished.put(None)
