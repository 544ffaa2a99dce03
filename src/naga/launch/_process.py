"""A worker process: ``python -m naga.launch._worker``, fed one task at a time over a pipe.

The local backend keeps ``n_jobs`` of them alive for the whole sweep; the Dask and Slurm
backends start one per task that has a time limit (:func:`run_limited`), since only a process
can be stopped whatever its task is doing.

A worker runs in a session of its own: Ctrl-C in a terminal reaches the sweep's process alone
(which then stops its workers), so a ``KeyboardInterrupt`` inside a task is that task's own
doing, and stopping a worker stops every process its task started. On Linux a worker is also
killed when the thread that started it dies, so it never outlives its sweep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from naga.launch._backend import Outcome, Task
from naga.launch._worker import read_frame, run_task, write_frame

__all__ = ["WorkerProcess", "outcome_file", "run_isolated", "run_limited"]


class WorkerProcess:
    """One worker process.

    Attributes:
        alive: False once the worker has died (or was killed) and been reaped.
        killed_by: The signal that ended a dead worker, if one did.
    """

    def __init__(self) -> None:
        read_fd, write_fd = os.pipe()
        env = {
            **os.environ,
            "NAGA_WORKER": "1",
            "NAGA_RESULT_FD": str(write_fd),
            "NAGA_PARENT_PID": str(os.getpid()),
        }
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "naga.launch._worker"],
                stdin=subprocess.PIPE,
                pass_fds=(write_fd,),
                env=env,
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        self._results = os.fdopen(read_fd, "rb")
        self._timed_out = False
        self.alive = True
        self.killed_by: signal.Signals | None = None

    def run(self, task: Task) -> Outcome:
        """Run ``task``; its outcome, or ``TIMEOUT`` past its limit, or ``FAILED`` naming how
        the worker died (``alive`` is then False)."""
        self._timed_out = False
        timer = None
        if task.timeout_min is not None:
            timer = threading.Timer(task.timeout_min * 60, self._expire)
            timer.daemon = True
            timer.start()
        try:
            outcome = self._exchange(task)
        finally:
            if timer is not None:
                timer.cancel()
                timer.join()  # a kill under way has happened once this returns
        if isinstance(outcome, Outcome):
            if self._timed_out:  # it ended as its time ran out: its outcome stands
                self._reap()
            return outcome
        death = self._reap()
        if self._timed_out and task.timeout_min is not None:
            return Outcome.timeout(task.timeout_min)
        return Outcome.failed(death)

    def _exchange(self, task: Task) -> object:
        assert self._proc.stdin is not None
        try:
            write_frame(self._proc.stdin, task)
            return read_frame(self._results)
        except (OSError, EOFError):  # the worker is gone: BrokenPipeError, a cut-off frame
            return None

    def _expire(self) -> None:
        self._timed_out = True
        self.kill()

    def kill(self) -> None:
        """Kill the worker and every process of its session (its task's children too)."""
        if self._proc.returncode is None:  # not reaped yet: its group id is still its own
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _reap(self) -> str:
        """Wait for a dead (or dying) worker; say how it died.

        A worker that closed its end of the results is exiting: it is given a moment to end on
        its own (and is not reaped yet, so its session can still be killed), so that its own
        exit status is what is reported, not the SIGKILL that then takes what it left running.
        """
        if not self._timed_out:
            self._exited(within=2.0)
        self.kill()  # what its task left running goes with it
        code = self._proc.wait()
        self._close_pipes()
        self.alive = False
        if code < 0:
            self.killed_by = signal.Signals(-code)
            return f"worker process killed by {self.killed_by.name}"
        return f"worker process exited with status {code}"

    def _exited(self, within: float) -> bool:
        """True once the worker has exited, waiting up to ``within`` seconds, without reaping
        it (``WNOWAIT``); False where ``os.waitid`` is missing."""
        waitid = getattr(os, "waitid", None)
        if waitid is None or self._proc.returncode is not None:
            return self._proc.returncode is not None
        deadline = time.monotonic() + within
        while True:
            try:
                if waitid(os.P_PID, self._proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                    return True
            except ChildProcessError:  # reaped elsewhere
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def close(self) -> None:
        """Let the worker finish: it exits when its stdin closes."""
        self._close_pipes()
        self._proc.wait()
        self.alive = False

    def _close_pipes(self) -> None:
        if self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except OSError:  # BrokenPipeError flushing to a dead worker
                pass
        self._results.close()


def run_limited(task: Task) -> Outcome:
    """Run ``task`` in this process, or, when it has a time limit, in a worker process that is
    killed at the limit (the worker side of the Dask and Slurm backends)."""
    if task.timeout_min is None:
        return run_task(task)
    worker = WorkerProcess()
    try:
        return worker.run(task)
    except BaseException:  # the job is being stopped or requeued: its task goes with it
        worker.kill()
        raise
    finally:
        if worker.alive:
            worker.close()
        else:
            worker.kill()


def outcome_file(task: Task) -> str:
    """Where the Dask backend keeps ``task``'s finished outcome: ``<sweep>/.naga/outcomes/``."""
    from naga._paths import NAGA_DIR

    sweep_dir = os.path.dirname(os.path.dirname(task.log))
    return os.path.join(sweep_dir, NAGA_DIR, "outcomes", f"{task.key}.json")


def run_isolated(task: Task) -> Outcome:
    """The worker side of the Dask backend: ``task`` in a process of its own, its outcome
    recorded durably before it is returned.

    A process per task: a task that crashes (a segfault, ``os._exit``) takes only its own
    process down, never the Dask worker with other tasks' results in its memory, and on a
    worker with several threads each task's output goes to its own log (a process's stdout,
    working directory and environment are its own). A recorded outcome is returned as it is:
    when Dask computes a finished task again (its result was lost with a worker), its side
    effects do not happen twice.
    """
    import json

    from naga._atomic import atomic_write_text
    from naga.launch._backend import TaskStatus

    record = outcome_file(task)
    try:
        with open(record, encoding="utf-8") as handle:
            data = json.load(handle)
        return Outcome(TaskStatus(data["status"]), data.get("error"))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    _say_started(task)
    worker = WorkerProcess()
    try:
        outcome = worker.run(task)
    finally:
        if worker.alive:
            worker.close()
        else:
            worker.kill()
    if outcome.status is not TaskStatus.INTERRUPTED:
        atomic_write_text(
            record, json.dumps({"status": outcome.status.value, "error": outcome.error})
        )
    return outcome


def _say_started(task: Task) -> None:
    """Tell the sweep that this Dask worker starts ``task`` now (a task handed to a worker may
    wait in its queue: the scheduler's view cannot tell)."""
    try:
        from distributed import get_worker

        get_worker().log_event("naga-task-start", {"key": task.key})
    except (ImportError, ValueError):  # not on a Dask worker
        pass
