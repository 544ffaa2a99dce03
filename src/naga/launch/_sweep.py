"""``run_sweep``: one run of a ``@clicfg`` function per task, each in its own save_dir.

Layout, for a config whose ``save_dir`` is ``results/process`` and ``--task_to param``::

    results/process/tasks.yaml          which task went where, its status and error
    results/process/param=1/            task 1's save_dir (config.json, its outputs)
    results/process/logs/param=1.log    task 1's stdout and stderr

Without a ``save_dir`` in the config, the sweep's folder is ``.naga/sweeps/<hash>`` in the
working directory. A task is finished when its function returned normally; rerunning the same
command runs only the tasks whose resolved config has not finished yet.

The steps: read the tasks (``_sources``), resolve and place them (``_plan``), pick the backend
(``_local``, ``_slurm``, ``_dask``, behind ``_backend.Backend``), run them while :class:`_Sweep`
records each event in tasks.yaml (``_state``) and on stderr (``_progress``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from naga._errors import TaskError, require
from naga._paths import LOGS_DIR, TASKS_NAME
from naga._record import read_result
from naga.launch._backend import Backend, Entry, Event, EventKind, Outcome, Task, TaskStatus
from naga.launch._fresh import SweepLock, decide_reruns
from naga.launch._options import SweepOptions
from naga.launch._plan import PlannedTask, place_tasks, resolve_tasks, sweep_dir_of
from naga.launch._progress import Progress, print_summary
from naga.launch._signals import StopSignals
from naga.launch._sources import load_tasks
from naga.launch._state import StateFile, TaskRecord, load_state
from naga.launch._worker import entry_of

__all__ = ["SweepResult", "run_sweep", "select_backend"]


class SweepResult:
    """What a sweep did.

    Attributes:
        exit_code: 0 when every task finished, 1 when any failed or timed out.
        done: Labels of the tasks that finished in this run.
        skipped: Labels of the tasks already finished by an earlier run.
        failures: ``{label: {"status": "failed" | "timeout", "error": ..., "log": ...}}`` of
            the tasks that failed.
        sweep_dir: The sweep's folder (tasks.yaml, logs).
    """

    def __init__(self, sweep_dir: Path) -> None:
        self.sweep_dir = sweep_dir
        self.done: list[str] = []
        self.skipped: list[str] = []
        self.failures: dict[str, dict[str, str]] = {}

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    def __repr__(self) -> str:
        return (
            f"SweepResult(done={len(self.done)}, skipped={len(self.skipped)}, "
            f"failed={len(self.failures)}, sweep_dir='{self.sweep_dir}')"
        )


def run_sweep(command: Any, base: dict[str, Any], options: SweepOptions) -> SweepResult:
    """Run ``command`` (a clicfg function) once per task of ``options``.

    Every task is read, typed and given its save_dir before any starts: a bad task file is a
    ``TaskError``/``ConfigError`` with nothing started and nothing written.

    Returns:
        A :class:`SweepResult`; its ``exit_code`` is 1 when any task failed.

    Raises:
        KeyboardInterrupt: Ctrl-C (SIGINT) stopped the sweep; tasks.yaml is saved.
        SystemExit: SIGTERM or SIGHUP stopped the sweep: status 143 or 129, tasks.yaml saved.
    """
    resolved = resolve_tasks(command.spec, base, load_tasks(options, base), options.task_to)
    sweep_dir = sweep_dir_of(base, [config for _, config in resolved])
    backend = select_backend(options, sweep_dir)
    with SweepLock(sweep_dir, wait=options.wait):
        return _run(command, base, options, resolved, sweep_dir, backend)


def _run(
    command: Any,
    base: dict[str, Any],
    options: SweepOptions,
    resolved: Any,
    sweep_dir: Path,
    backend: Backend,
) -> SweepResult:
    previous = load_state(sweep_dir / TASKS_NAME)
    planned = place_tasks(resolved, base, options.task_to, previous)
    rerun = decide_reruns(planned, previous, options)
    sweep = _Sweep(sweep_dir, planned, previous, rerun)
    tasks = sweep.start(entry_of(command), options.task_timeout)
    stopped = False
    with StopSignals() as stop:
        try:
            backend.run(tasks, options.n_jobs, sweep.report)
        except KeyboardInterrupt:
            stopped = True
        finally:  # whatever comes now (an error, another signal), the final state is saved
            stop.hold()
            if stopped:
                sweep.stopped(stop.received)
            sweep.close()
    if not stopped:  # (a signal after every task ended changes nothing)
        sweep.summary()
        return sweep.result
    if stop.received is not None and stop.received != signal.SIGINT:
        raise SystemExit(stop.exit_code)
    raise KeyboardInterrupt


def select_backend(options: SweepOptions, sweep_dir: Path) -> Backend:
    """The backend ``options`` ask for; its options checked (a ``TaskError`` names the fix)."""
    if options.slurm_config is not None and options.dask is not None:
        raise TaskError("--slurm_config and --dask both given: choose one backend.")
    if options.slurm_config is not None:
        require("submitit", "slurm", "--slurm_config (tasks on Slurm)", TaskError)
        from naga.launch._slurm import SlurmBackend, load_slurm_options

        return SlurmBackend(
            load_slurm_options(options.slurm_config), sweep_dir.resolve(), options.task_timeout
        )
    if options.dask is not None:
        require("distributed", "dask", "--dask (tasks on a Dask cluster)", TaskError)
        from naga.launch._dask import DaskBackend

        return DaskBackend(options.dask)
    from naga.launch._local import LocalBackend

    return LocalBackend()


class _Sweep:
    """One sweep while its backend runs: every task's record, the result, the progress display
    and tasks.yaml, updated by each event (from any thread)."""

    def __init__(
        self,
        sweep_dir: Path,
        planned: Sequence[PlannedTask],
        previous: Mapping[str, Mapping[str, Any]],
        rerun: Mapping[str, str] | None = None,
    ) -> None:
        self.result = SweepResult(sweep_dir)
        self.planned = planned
        self.records: dict[str, TaskRecord] = {}
        for task in planned:
            log = str((sweep_dir / LOGS_DIR / f"{task.label}.log").resolve())
            save_dir = task.config.get("save_dir")
            record = TaskRecord(task.label, task.origin, save_dir, task.key, log)
            before = previous.get(task.key, {})
            if before.get("status") == TaskStatus.DONE.value and task.key not in (rerun or {}):
                record.status = TaskStatus.DONE
                record.result = before.get("result")
                self.result.skipped.append(task.label)
            self.records[task.key] = record
        self._lock = threading.RLock()
        self.state = StateFile(sweep_dir / TASKS_NAME, self._render, self._lock)
        self.progress: Progress | None = None

    def _render(self) -> dict[str, Any]:
        return {"tasks": [record.to_plain() for record in self.records.values()]}

    def start(self, entry: Entry, timeout_min: float | None) -> list[Task]:
        """Save the initial state and start the progress display; the tasks left to run."""
        cwd = os.getcwd()
        tasks = [
            Task(index, p.key, p.label, p.config, self.records[p.key].log, entry, cwd, timeout_min)
            for index, p in enumerate(self.planned)
            if self.records[p.key].status is not TaskStatus.DONE
        ]
        self.state.save()
        self.progress = Progress(len(tasks), len(self.result.skipped))
        return tasks

    def report(self, event: Event) -> None:
        """Record ``event`` (a backend's ``report``)."""
        with self._lock:
            record = self.records[event.task.key]
            if event.kind is EventKind.START:
                record.status = TaskStatus.RUNNING
            else:
                self._finish(record, event.outcome or Outcome.failed("no outcome"))
            if self.progress is not None:
                self.progress.update(event)
            self.state.changed()

    def _finish(self, record: TaskRecord, outcome: Outcome) -> None:
        record.status = outcome.status
        record.error = outcome.error if outcome.status.is_failure else None
        if outcome.status is TaskStatus.DONE:
            self.result.done.append(record.label)
            if record.save_dir:
                record.result = read_result(record.save_dir)
        elif outcome.status.is_failure:
            self.result.failures[record.label] = {
                "status": outcome.status.value,
                "error": outcome.error or "unknown error",
                "log": record.log,
            }

    def stopped(self, received: signal.Signals | None) -> None:
        """The sweep was stopped: tasks still running are interrupted; say what was left."""
        with self._lock:
            for record in self.records.values():
                if record.status is TaskStatus.RUNNING:
                    record.status = TaskStatus.INTERRUPTED
            left = sum(
                r.status in (TaskStatus.INTERRUPTED, TaskStatus.PENDING)
                for r in self.records.values()
            )
        if self.progress is not None:
            self.progress.close()
        how = "interrupted"
        if received is not None and received != signal.SIGINT:
            how = f"stopped by {received.name}"
        print(
            f"\nnaga: {how}: {len(self.result.done)} task(s) done, {len(self.result.failures)} "
            f"failed, {left} stopped or not started. State: {self.state.path}\n"
            f"naga: rerun the same command to run only the tasks that did not finish.",
            file=sys.stderr,
        )

    def close(self) -> None:
        """Write the final tasks.yaml and stop the progress display."""
        self.state.close()
        if self.progress is not None:
            self.progress.close()

    def summary(self) -> None:
        print_summary(
            len(self.planned),
            len(self.result.done),
            len(self.result.skipped),
            self.result.failures,
            str(self.state.path),
        )
