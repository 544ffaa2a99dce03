"""Picking up where an earlier sweep left its Slurm jobs, and what a sweep does with each task.

A sweep started again (or ``--dry_run``) looks at the tasks the previous tasks.yaml left
``pending``, ``running`` or ``interrupted`` with a Slurm job: a job still queued is watched, one
that ended is collected, one that is gone without a result is lost and runs again
(:func:`check_previous_jobs`, with ``_jobs``). :func:`task_fate` then says, for every task,
whether it runs, is skipped, watched or collected, and why: the one decision both a sweep and
its dry run follow.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from naga._errors import TaskError
from naga._paths import LOCK_NAME
from naga.launch._backend import Backend, TaskStatus
from naga.launch._jobs import JobCheck, JobState, check_jobs
from naga.launch._plan import PlannedTask

__all__ = ["check_previous_jobs", "refuse_unwatchable", "task_fate"]

#: tasks.yaml statuses of a task whose Slurm job may still be queued.
_MAYBE_QUEUED = frozenset({"pending", "running", "interrupted"})


def check_previous_jobs(
    planned: Sequence[PlannedTask], previous: Mapping[str, Mapping[str, Any]], sweep_dir: Path
) -> dict[str, JobCheck]:
    """What became of the Slurm jobs an earlier sweep left queued, by task key (tasks of the
    previous tasks.yaml no longer in this sweep included)."""
    jobs = {
        key: str(entry["job"])
        for key, entry in previous.items()
        if entry.get("job") and entry.get("status") in _MAYBE_QUEUED
    }
    if not jobs:
        return {}
    checks = check_jobs(jobs, sweep_dir)
    keys = {task.key for task in planned}
    orphans = [c.job for k, c in checks.items() if k not in keys and c.state is JobState.LIVE]
    if orphans:
        print(
            f"naga: note: {len(orphans)} Slurm job(s) of tasks no longer in this sweep are still "
            f"queued ({', '.join(orphans[:5])}{', ...' if len(orphans) > 5 else ''}): scancel "
            f"them if they are not wanted.",
            file=sys.stderr,
        )
    return checks


def refuse_unwatchable(
    planned: Sequence[PlannedTask],
    checks: Mapping[str, JobCheck],
    backend: Backend,
    sweep_dir: Path,
) -> None:
    """A task whose job may still run is never started a second time: it is watched on Slurm;
    with another backend, or when squeue cannot be asked, the sweep refuses."""
    from naga.launch._slurm import SlurmBackend

    keys = {task.key for task in planned}
    unknown = [c.job for k, c in checks.items() if k in keys and c.state is JobState.UNKNOWN]
    if unknown:
        raise TaskError(
            f"cannot ask Slurm about the jobs of {len(unknown)} task(s) ({', '.join(unknown[:5])}"
            f"): squeue failed, and they may still run. Rerun when squeue answers, or cancel "
            f"them (scancel) first.",
        )
    live = [c.job for k, c in checks.items() if k in keys and c.state is JobState.LIVE]
    if live and not isinstance(backend, SlurmBackend):
        arrays = " ".join(sorted({job.split("_", 1)[0] for job in live}))
        raise TaskError(
            f"{len(live)} task(s) of this sweep still run as Slurm jobs ({', '.join(live[:5])}"
            f"{', ...' if len(live) > 5 else ''}): rerun with --slurm_config FILE to follow them "
            f"(or watch them with `naga tasks {sweep_dir} --watch`), or cancel them first "
            f"(scancel {arrays}).",
        )


def task_fate(
    task: PlannedTask,
    before: Mapping[str, Any],
    check: JobCheck | None,
    rerun: Mapping[str, str],
) -> tuple[str, str]:
    """What a sweep does with ``task``, and why: ``("skip", "done, up to date")``, ``("run",
    "new")``, ``("run", "stale: ...")``, ``("watch", "job 12_0 RUNNING")``, ``("collect",
    ...)`` for a job that ended while no sweep watched it.

    Example:
        >>> task = PlannedTask("tasks.txt line 1", {}, "param=1", "k")
        >>> task_fate(task, {}, None, {})
        ('run', 'new')
        >>> task_fate(task, {"status": "failed", "error": "ValueError: x"}, None, {})
        ('run', 'failed before: ValueError: x')
    """
    status = before.get("status")
    if status == TaskStatus.DONE.value:
        if task.key in rerun:
            why = rerun[task.key]
            return "run", "--force" if why == "forced" else f"stale: {why}"
        save_dir = task.config.get("save_dir")
        judged = save_dir and os.path.isfile(os.path.join(str(save_dir), LOCK_NAME))
        return "skip", "done, up to date" if judged else "done (no run.lock to judge)"
    if check is not None:
        if check.state is JobState.LIVE:
            return "watch", f"job {check.job} {check.queue}"
        if check.state is JobState.ENDED and check.outcome is not None:
            return "collect", f"job {check.job} ended: {check.outcome.status.value}"
        if check.state is JobState.LOST and status == TaskStatus.INTERRUPTED.value:
            return "run", "interrupted before"  # its job was cancelled with its sweep
        if check.state is JobState.LOST and check.outcome is not None:
            return "run", f"lost: {check.outcome.error}"
        return "?", f"job {check.job}: squeue failed, cannot tell whether it still runs"
    if status in (TaskStatus.FAILED.value, TaskStatus.TIMEOUT.value):
        return "run", f"{status} before: {before.get('error') or 'unknown error'}"
    if status in (TaskStatus.INTERRUPTED.value, TaskStatus.LOST.value):
        return "run", f"{status} before"
    if status in (TaskStatus.PENDING.value, TaskStatus.RUNNING.value):
        return "run", "did not finish before"
    return "run", "new"
