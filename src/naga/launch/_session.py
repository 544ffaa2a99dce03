"""One sweep while its backend runs: every task's record, the result, the progress display and
tasks.yaml, updated by each event a backend reports (from any thread)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from naga._paths import LOGS_DIR, TASKS_NAME
from naga._record import read_record, read_result
from naga.launch._backend import Entry, Event, EventKind, Outcome, Task, TaskStatus
from naga.launch._jobs import JobCheck
from naga.launch._plan import PlannedTask
from naga.launch._progress import Progress, print_summary
from naga.launch._reattach import task_fate
from naga.launch._state import StateFile, TaskRecord, now_stamp, parse_stamp

__all__ = ["SweepResult", "SweepSession"]


class SweepResult:
    """What a sweep did.

    Attributes:
        exit_code: 0 when every task finished (or, detached, was submitted), 1 when any failed
            or timed out.
        done: Labels of the tasks that finished in this run (or ended while it was detached).
        skipped: Labels of the tasks already finished by an earlier run.
        failures: ``{label: {"status": "failed" | "timeout", "error": ..., "log": ...}}`` of
            the tasks that failed.
        submitted: ``{label: job id}`` of the tasks submitted to Slurm by this run.
        sweep_dir: The sweep's folder (tasks.yaml, logs).
    """

    def __init__(self, sweep_dir: Path) -> None:
        self.sweep_dir = sweep_dir
        self.done: list[str] = []
        self.skipped: list[str] = []
        self.failures: dict[str, dict[str, str]] = {}
        self.submitted: dict[str, str] = {}

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    def __repr__(self) -> str:
        return (
            f"SweepResult(done={len(self.done)}, skipped={len(self.skipped)}, "
            f"failed={len(self.failures)}, sweep_dir='{self.sweep_dir}')"
        )


class SweepSession:
    """One sweep while its backend runs: every task's record, the result, the progress display
    and tasks.yaml, updated by each event (from any thread)."""

    def __init__(
        self,
        sweep_dir: Path,
        planned: Sequence[PlannedTask],
        previous: Mapping[str, Mapping[str, Any]],
        rerun: Mapping[str, str] | None = None,
        checks: Mapping[str, JobCheck] | None = None,
    ) -> None:
        self.result = SweepResult(sweep_dir)
        self.planned = planned
        self.records: dict[str, TaskRecord] = {}
        self._began: dict[str, float] = {}
        self.watched: list[str] = []
        self.lost: list[str] = []
        collected = []
        for task in planned:
            log = str((sweep_dir / LOGS_DIR / f"{task.label}.log").resolve())
            save_dir = task.config.get("save_dir")
            record = TaskRecord(task.label, task.origin, save_dir, task.key, log)
            before = previous.get(task.key, {})
            check = (checks or {}).get(task.key)
            action, why = task_fate(task, before, check, rerun or {})
            if action == "skip":
                record.status = TaskStatus.DONE
                record.result = before.get("result")
                for name in ("job", "start", "duration_s"):
                    setattr(record, name, before.get(name))
                self.result.skipped.append(task.label)
            elif check is not None and action in ("watch", "collect"):
                record.job, record.start = check.job, before.get("start")
                if action == "collect" and check.outcome is not None:
                    collected.append((record, check.outcome))
                else:
                    record.status = TaskStatus.RUNNING if check.running else TaskStatus.PENDING
                    self.watched.append(check.job)
                    began = parse_stamp(record.start)
                    if began is not None:
                        self._began[task.key] = began
            elif check is not None and why.startswith("lost"):
                self.lost.append(f"{task.label} (job {check.job})")
            self.records[task.key] = record
        for record, outcome in collected:
            self._finish(record, outcome)
            run = read_record(record.save_dir) if record.save_dir else None
            if run and isinstance(run.get("duration_s"), (int, float)):
                record.duration_s = run["duration_s"]
        self._announce(collected)
        self._lock = threading.RLock()
        self.state = StateFile(sweep_dir / TASKS_NAME, self._render, self._lock)
        self.progress: Progress | None = None
        self._to_submit = 0

    def _announce(self, collected: Sequence[tuple[TaskRecord, Outcome]]) -> None:
        if collected:
            done = sum(outcome.status is TaskStatus.DONE for _, outcome in collected)
            print(
                f"naga: collected {len(collected)} task(s) whose Slurm job ended while no sweep "
                f"watched it: {done} done, {len(collected) - done} failed.",
                file=sys.stderr,
            )
        if self.watched:
            print(
                f"naga: following {len(self.watched)} task(s) already queued or running on "
                f"Slurm ({_first_few(self.watched)}): not submitted again.",
                file=sys.stderr,
            )
        if self.lost:
            print(
                f"naga: {len(self.lost)} task(s) lost (their Slurm job left the queue without a "
                f"result): {_first_few(self.lost)}. They run again.",
                file=sys.stderr,
            )

    def _render(self) -> dict[str, Any]:
        return {"tasks": [record.to_plain() for record in self.records.values()]}

    def start(
        self, entry: Entry, timeout_min: float | None, *, progress: bool = True
    ) -> list[Task]:
        """Save the initial state and start the progress display; the tasks left to run (and
        those to watch, with their ``job``)."""
        cwd = os.getcwd()
        resources = {p.key: p.resources for p in self.planned}
        tasks = []
        for index, p in enumerate(self.planned):
            record = self.records[p.key]
            if record.status not in (TaskStatus.PENDING, TaskStatus.RUNNING):
                continue
            tasks.append(
                Task(
                    index,
                    p.key,
                    p.label,
                    p.config,
                    record.log,
                    entry,
                    cwd,
                    timeout_min,
                    job=record.job,
                    resources=resources[p.key],
                    provenance=p.provenance,
                )
            )
        self._to_submit = sum(task.job is None for task in tasks)
        self.state.save()
        if progress:
            self.progress = Progress(len(tasks), len(self.result.skipped))
        return tasks

    def report(self, event: Event) -> None:
        """Record ``event`` (a backend's ``report``)."""
        with self._lock:
            record = self.records[event.task.key]
            if event.kind is EventKind.SUBMIT:
                record.job = event.job
                self.result.submitted[record.label] = str(event.job)
                self._to_submit -= 1
                if self._to_submit <= 0:  # every job id on disk before anything else happens
                    self.state.save()
                else:
                    self.state.changed()
                return
            if event.kind is EventKind.START:
                record.status = TaskStatus.RUNNING
                if event.task.key not in self._began:
                    self._began[event.task.key] = time.time()
                    record.start = now_stamp()
            else:
                began = self._began.pop(event.task.key, None)
                if began is not None:
                    record.duration_s = round(time.time() - began, 3)
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

    def detached_summary(self) -> None:
        """What ``--detach`` left behind: the jobs submitted and how to follow them."""
        submitted = self.result.submitted
        arrays = sorted({job.split("_", 1)[0] for job in submitted.values()}, key=int)
        where = (
            f" (job array {', '.join(arrays)})"
            if len(arrays) == 1
            else (f" (job arrays {', '.join(arrays)})" if arrays else "")
        )
        parts = [f"{len(submitted)} submitted to Slurm{where}"]
        if self.watched:
            parts.append(f"{len(self.watched)} already queued or running")
        if self.result.done:
            parts.append(f"{len(self.result.done)} ended done")
        parts.append(f"{len(self.result.skipped)} done before")
        if self.result.failures:
            parts.append(f"{len(self.result.failures)} failed")
        print(
            f"naga: {len(self.planned)} task(s): {', '.join(parts)}. State: {self.state.path}",
            file=sys.stderr,
        )
        for label, failure in self.result.failures.items():
            print(
                f"  FAILED {label}: {failure['error']}\n    log: {failure['log']}", file=sys.stderr
            )
        folder = self.result.sweep_dir
        if submitted or self.watched:
            print(
                f"naga: follow the sweep with `naga tasks {folder} --watch`, or rerun the same "
                f"command to wait for it.",
                file=sys.stderr,
            )
        elif not self.result.failures:
            print("naga: nothing left to run: every task is done.", file=sys.stderr)


def _first_few(labels: Sequence[str]) -> str:
    """The first five labels, and ``...`` when there are more."""
    return ", ".join(labels[:5]) + (", ..." if len(labels) > 5 else "")
