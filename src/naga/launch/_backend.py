"""The interface between a sweep and its backends: the records they exchange, and the protocol.

A sweep hands a backend a list of :class:`Task` (plain data: it pickles for any backend), how
many may run at once, and a ``report`` callable. The backend calls ``report`` with an
:class:`Event` when a task starts and when it ends, the end carrying the task's
:class:`Outcome`::

    sweep ──[Task, ...], n_jobs, report──▶ Backend.run
          ◀──Event(SUBMIT, task, job)────  (Slurm: the task's job id, once submitted)
          ◀──Event(START, task)──────────
          ◀──Event(END, task, Outcome)───

Every status a task can have is a :class:`TaskStatus`; its value is the string tasks.yaml
holds. A backend that sees ``KeyboardInterrupt`` (the sweep's process got Ctrl-C or SIGTERM)
stops what it started, may report the stopped tasks as ``INTERRUPTED``, and lets it propagate.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = ["Backend", "Entry", "Event", "EventKind", "Outcome", "Report", "Task", "TaskStatus"]


class TaskStatus(str, enum.Enum):
    """A task's status, as tasks.yaml spells it."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    TIMEOUT = "timeout"
    #: Its Slurm job left the queue without an outcome while no sweep watched it.
    LOST = "lost"

    @property
    def is_failure(self) -> bool:
        """True for the statuses that make a sweep exit 1 (failed, timeout)."""
        return self in (TaskStatus.FAILED, TaskStatus.TIMEOUT)


@dataclass(frozen=True)
class Entry:
    """Where a worker finds the ``@clicfg`` function: its script file, module and name."""

    file: str | None
    module: str
    name: str


@dataclass(frozen=True)
class Task:
    """One run of the function, as a backend gets it.

    Attributes:
        index: Its position in the sweep (0-based).
        key: A hash of its resolved config: its identity in tasks.yaml across reruns.
        label: Its folder and log name (``param=3``).
        config: The resolved config it runs with (its own ``save_dir`` included).
        log: Absolute path of the file that gets its stdout and stderr.
        entry: The function to run.
        cwd: The folder it runs in (where the sweep started).
        timeout_min: Minutes it may run before it is stopped and marked ``timeout``; None for
            no limit.
        job: The Slurm job (``<array id>_<index>``) already running it, submitted by an earlier
            sweep: the Slurm backend watches that job instead of submitting the task again.
        resources: The task's own Slurm options (``_slurm`` in a tasks file), over those of
            ``--slurm_config``; None for none. Tasks with different options go in different
            job arrays.
        provenance: Where its config came from (``naga._provenance``), for its run.lock.
    """

    index: int
    key: str
    label: str
    config: dict[str, Any] = field(compare=False)
    log: str
    entry: Entry
    cwd: str
    timeout_min: float | None = None
    job: str | None = None
    resources: dict[str, Any] | None = field(default=None, compare=False)
    provenance: dict[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Outcome:
    """How a task ended: ``DONE``, ``FAILED``, ``TIMEOUT`` or ``INTERRUPTED``, and why."""

    status: TaskStatus
    error: str | None = None

    @classmethod
    def done(cls) -> Outcome:
        return cls(TaskStatus.DONE)

    @classmethod
    def failed(cls, error: str) -> Outcome:
        return cls(TaskStatus.FAILED, error)

    @classmethod
    def interrupted(cls) -> Outcome:
        return cls(TaskStatus.INTERRUPTED, "interrupted")

    @classmethod
    def timeout(cls, minutes: float) -> Outcome:
        return cls(TaskStatus.TIMEOUT, f"timed out after {minutes:g} min (--task_timeout)")


class EventKind(enum.Enum):
    """What happened to a task: it was submitted as a job, it started on a worker, it ended."""

    SUBMIT = "submit"
    START = "start"
    END = "end"


@dataclass(frozen=True)
class Event:
    """A task was submitted (``job`` set), started (``outcome`` None) or ended (with its
    ``outcome``)."""

    kind: EventKind
    task: Task
    outcome: Outcome | None = None
    job: str | None = None

    @classmethod
    def submit(cls, task: Task, job: str) -> Event:
        return cls(EventKind.SUBMIT, task, job=job)

    @classmethod
    def start(cls, task: Task) -> Event:
        return cls(EventKind.START, task)

    @classmethod
    def end(cls, task: Task, outcome: Outcome) -> Event:
        return cls(EventKind.END, task, outcome)


#: What a backend calls for each event; safe to call from any thread.
Report = Callable[[Event], None]


class Backend(Protocol):
    """Runs the tasks of a sweep somewhere: local processes, a Slurm job array, a Dask cluster."""

    def run(self, tasks: Sequence[Task], n_jobs: int, report: Report) -> None:
        """Run every task, at most ``n_jobs`` at once, and ``report`` each start and end.

        One task's failure never stops the others. Returns when every task has ended (a
        detached Slurm backend: once every task is submitted, each reported as ``SUBMIT``).

        Raises:
            KeyboardInterrupt: The sweep was stopped (Ctrl-C, SIGTERM); what this backend
                started has been stopped or cancelled.
            TaskError: The backend cannot run here (no scheduler, options refused).
        """
        ...
