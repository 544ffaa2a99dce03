"""The Slurm backend: every task of a sweep in one job array, through submitit.

``--slurm_config slurm.yaml`` names a YAML mapping of submitit's Slurm parameters (``time``,
``mem``, ``cpus_per_task``, ``partition``, ``gpus_per_node``, ``additional_parameters``,
``setup``, ...), also under their generic names (``timeout_min``, ``mem_gb``) or with a ``slurm_``
prefix. ``--n_jobs`` bounds how many array tasks run at once unless ``array_parallelism`` is set.

Completion is watched through each task's result file and ``squeue``: ``sacct`` (which submitit
uses) needs Slurm accounting, which many clusters, and the single-node test cluster, lack. A task
that leaves the queue without a result (killed, out of memory, node failure) fails alone. A task
with ``--task_timeout`` runs in a process of its own inside its job, killed at the limit.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from naga._errors import TaskError, did_you_mean
from naga._paths import SLURM_DIR
from naga.launch._backend import Event, Outcome, Report, Task

__all__ = ["SlurmBackend", "load_slurm_options", "slurm_parameters"]

_ALIASES = {
    "timeout_min": "time",
    "mem_gb": "mem",
    "name": "job_name",
    "tasks_per_node": "ntasks_per_node",
}


def load_slurm_options(path: str) -> dict[str, Any]:
    """Read and check the Slurm options file. Raises ``TaskError`` naming file, line or key."""
    from naga._yaml import YAMLError, load_yaml, yaml_problem

    if not os.path.isfile(path):
        raise TaskError(
            f"Slurm options file '{path}' does not exist: check the path given to --slurm_config.",
            path=path,
        )
    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskError(f"cannot read Slurm options file '{path}': {exc}.", path=path) from exc
    except YAMLError as exc:
        line, problem = yaml_problem(exc)
        raise TaskError(
            f"Slurm options file '{path}'{line} is not valid YAML: {problem}.", path=path
        ) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TaskError(
            f"Slurm options file '{path}' must be a mapping of option: value, e.g. `time: 60`.",
            path=path,
        )
    valid = _valid_parameters()
    options: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).removeprefix("slurm_")
        name = _ALIASES.get(name, name)
        if name not in valid:
            raise TaskError(
                f"Slurm options file '{path}': unknown option '{key}'.{did_you_mean(name, sorted(valid))} "
                f"Options are submitit's Slurm parameters (time, mem, cpus_per_task, partition, ...).",
                path=path,
                key=str(key),
                choices=sorted(valid),
            )
        options[name] = f"{value}GB" if str(key) == "mem_gb" else value
    return options


def _valid_parameters() -> set[str]:
    from submitit.slurm.slurm import SlurmExecutor

    return set(SlurmExecutor._valid_parameters()) | {"array_parallelism"}


def slurm_parameters(
    options: dict[str, Any], n_jobs: int, task_timeout: float | None
) -> dict[str, Any]:
    """submitit's parameters for the array: ``--n_jobs`` as ``array_parallelism`` and, when the
    options file sets no ``time``, a time limit that leaves a task its ``--task_timeout``.

    naga stops a task at its own limit; Slurm's is a backstop, 2 minutes later (room for the
    job's start-up and for submitit's warning signal, 90 s before Slurm's end).

    Example:
        >>> slurm_parameters({"mem": "4GB"}, 2, 0.5)
        {'array_parallelism': 2, 'mem': '4GB', 'time': 3}
    """
    parameters = {"array_parallelism": n_jobs, **options}
    if task_timeout is not None and "time" not in parameters:
        parameters["time"] = math.ceil(task_timeout) + 2
    return parameters


class SlurmBackend:
    """Submits every task as one Slurm job array through submitit and watches it
    (:class:`~naga.launch._backend.Backend`); Ctrl-C cancels the array.

    Args:
        options: The checked options of ``--slurm_config`` (:func:`load_slurm_options`).
        folder: The sweep's folder; submitit's files go to its ``slurm/<job id>``.
        task_timeout: ``--task_timeout`` in minutes, or None.
    """

    def __init__(self, options: dict[str, Any], folder: Path, task_timeout: float | None) -> None:
        self.options = options
        self.folder = folder
        self.task_timeout = task_timeout

    def run(self, tasks: Sequence[Task], n_jobs: int, report: Report) -> None:
        if not tasks:
            return
        futures = self._submit(tasks, n_jobs)
        array_id = futures[0].job_id.split("_")[0]
        try:
            _watch(futures, tasks, array_id, report)
        except KeyboardInterrupt:  # the array this sweep submitted is cancelled with it
            subprocess.run(["scancel", array_id], capture_output=True, check=False)
            raise

    def _submit(self, tasks: Sequence[Task], n_jobs: int) -> list[Any]:
        import submitit

        from naga.launch._process import run_limited

        try:
            executor = submitit.SlurmExecutor(
                folder=str(self.folder / SLURM_DIR / "%j"), max_num_timeout=0
            )
        except RuntimeError as exc:
            raise TaskError(
                f"Slurm is not available here ({exc}): run the tasks locally with --n_jobs N."
            ) from exc
        executor.update_parameters(**slurm_parameters(self.options, n_jobs, self.task_timeout))
        try:
            # submitit prints sbatch's stderr itself before raising: it is in our one message.
            with contextlib.redirect_stderr(io.StringIO()), executor.batch():
                futures = [executor.submit(run_limited, task) for task in tasks]
        except submitit.core.utils.FailedJobError as exc:  # sbatch refused the options
            reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            raise TaskError(
                f"Slurm refused the job array: {reason}. Fix the options given with --slurm_config."
            ) from exc
        return futures


def _watch(futures: list[Any], tasks: Sequence[Task], array_id: str, report: Report) -> None:
    """Report each array task's start when ``squeue`` shows it running, and its end when its
    result file appears or it leaves the queue without one."""
    pending = dict(zip((f.job_id for f in futures), zip(futures, tasks, strict=True), strict=True))
    started: set[str] = set()
    missing: dict[str, int] = {}
    while pending:
        states = _queue_states(array_id)
        for job_id, (future, task) in list(pending.items()):
            state = states.get(job_id)
            if state == "RUNNING" and job_id not in started:
                started.add(job_id)
                report(Event.start(task))
            if future.paths.result_pickle.exists():
                outcome = _outcome(future.paths.result_pickle)
            elif state is None:
                missing[job_id] = missing.get(job_id, 0) + 1
                if missing[job_id] < 3:  # give the file system a moment to show the result
                    continue
                outcome = Outcome.failed(
                    f"Slurm job {job_id} ended without a result (killed, out of memory or "
                    f"time?); see {future.paths.stderr}"
                )
            else:
                continue
            if job_id not in started:
                report(Event.start(task))
            report(Event.end(task, outcome))
            del pending[job_id]
        if pending:
            time.sleep(1.0)


def _outcome(path: Path) -> Outcome:
    from submitit.core.utils import pickle_load

    for _ in range(3):
        try:
            kind, value = pickle_load(path)
            break
        except EOFError:  # written as we read
            time.sleep(1.0)
    else:
        return Outcome.failed(f"unreadable result file {path}")
    if kind == "success" and isinstance(value, Outcome):
        return value
    return Outcome.failed(str(value).strip().splitlines()[-1] if value else "failed")


def _queue_states(array_id: str) -> dict[str, str]:
    """``{"<array>_<index>": state}`` of the array's tasks still in the queue."""
    done = subprocess.run(
        ["squeue", "-h", "-r", "-j", array_id, "-o", "%i %T"],
        capture_output=True,
        text=True,
        check=False,
    )
    states = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states
