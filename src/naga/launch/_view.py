"""A sweep's state as ``naga tasks`` shows it: tasks.yaml, brought up to date with Slurm.

When no sweep process holds the folder (a detached sweep, or one whose process was killed),
reading it reattaches as a sweep started again would: each task whose Slurm job was queued is
asked about (``squeue``, ``sacct`` where there is accounting, submitit's result files); a job
that ended is collected (its status, error, result and duration written to tasks.yaml) and a job
that left the queue without a result is marked ``lost``, for the next run of the sweep's command
to run again. When a sweep process holds the folder, it keeps tasks.yaml current itself, and
the file is only read.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from naga._atomic import atomic_write_text
from naga._errors import TaskError
from naga._paths import TASKS_NAME
from naga._record import read_record, read_result
from naga._yaml import YAMLError, dump_yaml, load_yaml
from naga.launch._backend import TaskStatus
from naga.launch._fresh import SweepLock
from naga.launch._jobs import JobState, check_jobs
from naga.launch._state import parse_stamp

__all__ = ["SweepView", "read_sweep"]

_UNFINISHED = frozenset({"pending", "running"})
_QUEUED = frozenset({"pending", "running", "interrupted"})


def _status_in(task: dict[str, Any], statuses: frozenset[str]) -> bool:
    """True when the task's ``status`` is one of ``statuses``; a status of another shape (a
    list, a mapping, a number in a hand-edited tasks.yaml) is none of them."""
    status = task.get("status")
    return isinstance(status, str) and status in statuses


@dataclass
class SweepView:
    """A sweep's tasks, as of now.

    Attributes:
        folder: The sweep's folder.
        tasks: Each task's entry of tasks.yaml (``label``, ``status``, ``job``, ``start``,
            ``duration_s``, ``log``, ``save_dir``, ``error``, ...), with ``queue``: its job's
            ``squeue`` state when it is queued, and ``running_s`` for a running task.
        holder: The sweep process that runs it (``pid 12 on host``), or None.
        collected: How many tasks this reading found ended or lost (and wrote to tasks.yaml).
    """

    folder: Path
    tasks: list[dict[str, Any]] = field(default_factory=list)
    holder: str | None = None
    collected: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """How many tasks have each status, every status named (zeros included)."""
        counts = {status.value: 0 for status in TaskStatus}
        for task in self.tasks:
            status = str(task.get("status"))
            counts[status] = counts.get(status, 0) + 1
        return counts

    @property
    def finished(self) -> bool:
        """True when no task is pending or running any more (as far as anyone can tell)."""
        if any(_status_in(task, _UNFINISHED) and task.get("job") for task in self.tasks):
            return False
        return self.holder is None or not any(_status_in(task, _UNFINISHED) for task in self.tasks)

    @property
    def orphaned(self) -> list[str]:
        """Labels of the tasks left ``running`` or ``pending`` by a local or Dask sweep whose
        process is gone: nothing runs them any more."""
        if self.holder is not None:
            return []
        return [
            str(task.get("label"))
            for task in self.tasks
            if _status_in(task, _UNFINISHED) and not task.get("job")
        ]

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "sweep": str(self.folder),
            "holder": self.holder,
            "counts": self.counts,
            "tasks": self.tasks,
        }


def read_sweep(folder: str | os.PathLike[str], *, collect: bool = True) -> SweepView:
    """The sweep in ``folder`` (its save_dir, or its tasks.yaml) as of now.

    Args:
        folder: The sweep's folder, or its tasks.yaml.
        collect: Ask Slurm about queued jobs and save what ended to tasks.yaml, when no sweep
            process holds the folder.

    Raises:
        TaskError: No readable tasks.yaml there.

    Example:
        >>> view = read_sweep("results/sweep")  # doctest: +SKIP
        >>> view.counts["done"], view.finished  # doctest: +SKIP
        (4, True)
    """
    path = Path(folder)
    if path.name == TASKS_NAME and path.is_file():
        path = path.parent
    file = path / TASKS_NAME
    data = _load(file, str(folder))
    view = SweepView(path, data["tasks"])
    lock = SweepLock(path)
    owned = collect and os.access(path, os.W_OK) and lock.acquire()
    try:
        view.holder = None if owned else lock.holder()
        if owned:
            data = _load(file, str(folder))  # as the last sweep left it, now that none runs
            view.tasks = data["tasks"]
            queues: dict[int, str] = {}
            changed, view.collected = _collect(view.tasks, path, queues)
            if changed:
                atomic_write_text(file, dump_yaml(data))
            for index, queue in queues.items():  # squeue's word, for this reading only
                view.tasks[index]["queue"] = queue
    finally:
        lock.release()
    now = time.time()
    for task in view.tasks:
        if task.get("status") == TaskStatus.RUNNING.value and task.get("start"):
            began = parse_stamp(task["start"])
            if began is not None:
                task["running_s"] = round(now - began, 1)
    return view


def _load(file: Path, given: str) -> dict[str, Any]:
    try:
        data = load_yaml(file.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise TaskError(
            f"'{given}' holds no {TASKS_NAME}: give the folder of a sweep (the config's "
            f"save_dir, where tasks.yaml and logs/ are).",
            path=given,
        ) from exc
    except (OSError, UnicodeDecodeError, YAMLError) as exc:
        raise TaskError(f"cannot read '{file}': {exc}.", path=str(file)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), list):
        raise TaskError(
            f"'{file}' is not a sweep's {TASKS_NAME} (no list of tasks): give the folder of a "
            f"sweep.",
            path=str(file),
        )
    data["tasks"] = [t for t in data["tasks"] if isinstance(t, dict)]
    return data


def _collect(tasks: list[dict[str, Any]], folder: Path, queues: dict[int, str]) -> tuple[int, int]:
    """Bring the entries of queued jobs up to date (their ``squeue`` state into ``queues``);
    how many entries changed, and how many of them ended or were lost."""
    jobs = {
        str(index): str(task["job"])
        for index, task in enumerate(tasks)
        if task.get("job") and _status_in(task, _QUEUED)
    }
    if not jobs:
        return 0, 0
    changed = ended = 0
    for index, check in check_jobs(jobs, folder).items():
        task = tasks[int(index)]
        if check.state is JobState.LIVE:
            queues[int(index)] = str(check.queue)
            status = TaskStatus.RUNNING if check.running else TaskStatus.PENDING
            if task.get("status") != status.value:
                task["status"] = status.value
                changed += 1
            continue
        if check.outcome is None:  # squeue failed: nothing can be said
            continue
        if check.state is JobState.LOST and task.get("status") == TaskStatus.INTERRUPTED.value:
            continue  # cancelled with its sweep: interrupted it stays
        changed += 1
        ended += 1
        task["status"] = check.outcome.status.value
        task.pop("error", None)
        if check.outcome.status is not TaskStatus.DONE:
            task["error"] = check.outcome.error
        save_dir = task.get("save_dir")
        if check.state is JobState.ENDED and save_dir:
            record = read_record(str(save_dir)) or {}
            if isinstance(record.get("duration_s"), (int, float)):
                task["duration_s"] = record["duration_s"]
            if check.outcome.status is TaskStatus.DONE:
                result = read_result(str(save_dir))
                if result is not None:
                    task["result"] = result
    return changed, ended
