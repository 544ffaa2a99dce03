"""``--dry_run``: each task of a sweep with its label, save_dir, resources, and what a real run
would do with it and why. Nothing runs, nothing is submitted, nothing is written.

::

    ACTION  TASK       SAVE_DIR                 RESOURCES                      WHY
    skip    param=1    results/sweep/param=1    slurm: time=60, mem=4GB        done, up to date
    run     param=2    results/sweep/param=2    slurm array 1: time=60, ...    stale: code changed: ...
    run     param=3    results/sweep/param=3    slurm array 1: time=60, ...    failed before: ValueError: x
    watch   param=4    results/sweep/param=4    slurm: time=60, mem=4GB        job 1234_3 RUNNING
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from naga.launch._backend import Backend
from naga.launch._options import SweepOptions
from naga.launch._plan import PlannedTask

__all__ = ["dry_run_rows", "show_dry_run"]


def dry_run_rows(
    planned: Sequence[PlannedTask],
    fates: Mapping[str, tuple[str, str]],
    backend: Backend,
    options: SweepOptions,
) -> tuple[list[list[str]], str]:
    """The table's rows (action, label, save_dir, resources, why) and where the tasks run."""
    describe, where = _resources(planned, fates, backend, options)
    rows = []
    for task in planned:
        action, why = fates[task.key]
        save_dir = task.config.get("save_dir")
        rows.append([action, task.label, str(save_dir or "-"), describe(task), why])
    return rows, where


def show_dry_run(
    sweep_dir: Path,
    planned: Sequence[PlannedTask],
    fates: Mapping[str, tuple[str, str]],
    backend: Backend,
    options: SweepOptions,
) -> None:
    """Print the table and one line of counts on stdout."""
    rows, where = dry_run_rows(planned, fates, backend, options)
    header = ["ACTION", "TASK", "SAVE_DIR", "RESOURCES", "WHY"]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        print("  ".join([*cells, row[-1]]).rstrip())
    counts: dict[str, int] = {}
    for action, _ in fates.values():
        counts[action] = counts.get(action, 0) + 1
    words = {"run": "would run", "skip": "skipped", "watch": "watched", "collect": "collected"}
    said = ", ".join(f"{counts[a]} {w}" for a, w in words.items() if counts.get(a))
    print(
        f"naga: dry run of {len(planned)} task(s) in {sweep_dir}{where}: {said}. Nothing was "
        f"run, submitted or written."
    )


def _resources(
    planned: Sequence[PlannedTask],
    fates: Mapping[str, tuple[str, str]],
    backend: Backend,
    options: SweepOptions,
) -> tuple[Any, str]:
    from naga.launch._dask import DaskBackend
    from naga.launch._slurm import SlurmBackend

    limit = f", timeout {options.task_timeout:g} min" if options.task_timeout else ""
    if isinstance(backend, DaskBackend):
        return (lambda task: f"dask {backend.address}{limit}"), f", on Dask ({backend.address})"
    if not isinstance(backend, SlurmBackend):
        return (lambda task: f"local process{limit}"), f", on {options.n_jobs} local worker(s)"
    from naga.launch._backend import Entry, Task
    from naga.launch._slurm import resource_groups, slurm_parameters

    def as_task(index: int, task: PlannedTask) -> Task:
        entry = Entry(None, "", "")
        return Task(index, task.key, task.label, {}, "", entry, "", resources=task.resources)

    to_run = [as_task(i, t) for i, t in enumerate(planned) if fates[t.key][0] == "run"]
    arrays = {
        task.key: number
        for number, (_, group) in enumerate(resource_groups(to_run, backend.options), start=1)
        for task in group
    }

    def describe(task: PlannedTask) -> str:
        merged = {**backend.options, **(task.resources or {})}
        parameters = slurm_parameters(merged, options.n_jobs, options.task_timeout)
        parameters.pop("array_parallelism", None)
        text = ", ".join(f"{k}={v}" for k, v in parameters.items()) or "Slurm's defaults"
        if task.key in arrays:
            return f"slurm array {arrays[task.key]}: {text}"
        return f"slurm: {text}"

    count = len(set(arrays.values()))
    return describe, f", on Slurm ({count} job array(s) to submit)"
