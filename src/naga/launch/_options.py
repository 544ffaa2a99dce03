"""The options of a task sweep, as parsed from the command line by ``@clicfg``.

A plain class rather than a dataclass: this module is imported on every command line, and
``dataclasses`` pulls in ``inspect`` (several milliseconds of start-up).
"""

from __future__ import annotations

__all__ = ["SweepOptions"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class SweepOptions:
    """What the sweep flags asked for (``--tasks``, ``--sweep``, ``--n_jobs``, ...).

    Attributes:
        tasks: Path of a task file (text, YAML, JSON, CSV or TSV), or None.
        tasks_key: Dotted key of a list inside the resolved config to use as tasks, or None.
        task_to: Dotted config key each task value is assigned to; None merges dict tasks at
            the root.
        n_jobs: How many tasks run at once (local processes, or the Slurm array's parallelism).
        slurm_config: Path of a YAML file of Slurm options; selects the Slurm backend.
        dask: A Dask scheduler address (``tcp://host:port``), or ``"local"`` for a local
            cluster; selects the Dask backend.
        task_timeout: Minutes a task may run (a float: 0.5 is 30 s) before it is stopped and
            marked ``timeout``, on every backend; None for no limit.
        force: Rerun every task, done ones included.
        rerun: ``"failed"``: rerun only tasks that did not finish (failed, died, timed out,
            interrupted, never started), not done tasks that went stale.
        wait: When another sweep uses the folder, wait for it instead of refusing.
        sweep: ``--sweep`` grids, each ``KEY=V1,V2,...``: the tasks are their cartesian
            product (times the tasks of ``tasks``/``tasks_key`` when given).
        dry_run: List what would run or be skipped, and why; run, submit and write nothing.
        debug_task: The label of one task to run in this process (for a debugger), or None.
        detach: Submit the tasks to Slurm and return without waiting for them.
    """

    __slots__ = (
        "dask",
        "debug_task",
        "detach",
        "dry_run",
        "force",
        "n_jobs",
        "rerun",
        "slurm_config",
        "sweep",
        "task_timeout",
        "task_to",
        "tasks",
        "tasks_key",
        "wait",
    )

    def __init__(
        self,
        tasks: str | None = None,
        tasks_key: str | None = None,
        task_to: str | None = None,
        n_jobs: int = 1,
        slurm_config: str | None = None,
        dask: str | None = None,
        task_timeout: float | None = None,
        force: bool = False,
        rerun: str | None = None,
        wait: bool = False,
        sweep: tuple[str, ...] = (),
        dry_run: bool = False,
        debug_task: str | None = None,
        detach: bool = False,
    ) -> None:
        self.tasks = tasks
        self.tasks_key = tasks_key
        self.task_to = task_to
        self.n_jobs = n_jobs
        self.slurm_config = slurm_config
        self.dask = dask
        self.task_timeout = task_timeout
        self.force = force
        self.rerun = rerun
        self.wait = wait
        self.sweep = tuple(sweep)
        self.dry_run = dry_run
        self.debug_task = debug_task
        self.detach = detach

    @property
    def active(self) -> bool:
        """True when a sweep was asked for (a task source was given)."""
        return self.tasks is not None or self.tasks_key is not None or bool(self.sweep)

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SweepOptions) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        args = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"SweepOptions({args})"
