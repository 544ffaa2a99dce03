"""The options of a task sweep, as parsed from the command line by ``@clicfg``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SweepOptions:
    """What ``--tasks``, ``--tasks_key``, ``--task_to``, ``--n_jobs``, ``--slurm_config`` and
    ``--dask`` asked for.

    Attributes:
        tasks: Path of a task file (text, YAML, JSON, CSV or TSV), or None.
        tasks_key: Dotted key of a list inside the resolved config to use as tasks, or None.
        task_to: Dotted config key each task value is assigned to; None merges dict tasks at
            the root.
        n_jobs: How many tasks run at once (local processes, or the Slurm array's parallelism).
        slurm_config: Path of a YAML file of Slurm options; selects the Slurm backend.
        dask: A Dask scheduler address (``tcp://host:port``), or ``"local"`` for a local
            cluster; selects the Dask backend.
    """

    tasks: str | None = None
    tasks_key: str | None = None
    task_to: str | None = None
    n_jobs: int = 1
    slurm_config: str | None = None
    dask: str | None = None

    @property
    def active(self) -> bool:
        """True when a sweep was asked for (a task source was given)."""
        return self.tasks is not None or self.tasks_key is not None
