"""The Slurm backend: the tasks of a sweep in job arrays, through submitit.

``--slurm_config slurm.yaml`` names a YAML mapping of submitit's Slurm parameters (``time``,
``mem``, ``cpus_per_task``, ``partition``, ``gpus_per_node``, ``additional_parameters``,
``setup``, ``signal_delay_s``, ...), also under their generic names (``timeout_min``, ``mem_gb``)
or with a ``slurm_`` prefix, and ``max_num_timeout`` (how many times a job is requeued after a
timeout or preemption, see ``_requeue``). ``--n_jobs`` bounds how many array tasks run at once
unless ``array_parallelism`` is set. Tasks share one job array, except that tasks with their own
options (``_slurm`` in a tasks file) get one array per set of options.

Each task's job id (``<array id>_<index>``) is reported as it is submitted, so tasks.yaml holds
it: a sweep started again watches the jobs still queued instead of submitting them again
(``Task.job``), and ``--detach`` returns once everything is submitted.

Completion is watched through each task's result file and ``squeue`` (``_jobs``): ``sacct``
(which submitit uses) needs Slurm accounting, which many clusters, and the single-node test
cluster, lack. A task that leaves the queue without a result (killed, out of memory, node
failure) fails alone. A task with ``--task_timeout`` runs in a process of its own inside its
job, killed at the limit.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from naga._errors import TaskError, did_you_mean
from naga._paths import SLURM_DIR
from naga.launch._backend import Event, Outcome, Report, Task
from naga.launch._jobs import accounting_states, queue_states, read_outcome, result_file, slurm_log

__all__ = [
    "SlurmBackend",
    "check_slurm_options",
    "load_slurm_options",
    "resource_groups",
    "slurm_parameters",
]

#: Not an sbatch option: how many times a job is requeued (submitit's executor argument).
MAX_REQUEUES = "max_num_timeout"

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
    return check_slurm_options(data, f"Slurm options file '{path}'", path=path)


def check_slurm_options(
    data: Mapping[Any, Any], where: str, *, path: str | None = None
) -> dict[str, Any]:
    """Slurm options under submitit's names (``mem_gb: 4`` -> ``mem: 4GB``); ``where`` names
    their source in the ``TaskError`` for an unknown option or a bad ``max_num_timeout``."""
    valid = _valid_parameters()
    options: dict[str, Any] = {}
    for key, value in data.items():
        name = str(key).removeprefix("slurm_")
        name = _ALIASES.get(name, name)
        if name not in valid:
            raise TaskError(
                f"{where}: unknown option '{key}'.{did_you_mean(name, sorted(valid))} "
                f"Options are submitit's Slurm parameters (time, mem, cpus_per_task, partition, ...).",
                path=path,
                key=str(key),
                choices=sorted(valid),
            )
        if name == MAX_REQUEUES and (
            isinstance(value, bool) or not isinstance(value, int) or value < 0
        ):
            raise TaskError(
                f"{where}: {key}: {value!r}: give how many times a job may be requeued after a "
                f"timeout or preemption, a whole number, 0 or more.",
                path=path,
                key=str(key),
                value=value,
            )
        options[name] = f"{value}GB" if str(key).removeprefix("slurm_") == "mem_gb" else value
    return options


def _valid_parameters() -> set[str]:
    from submitit.slurm.slurm import SlurmExecutor

    return set(SlurmExecutor._valid_parameters()) | {"array_parallelism", MAX_REQUEUES}


def slurm_parameters(
    options: dict[str, Any], n_jobs: int, task_timeout: float | None
) -> dict[str, Any]:
    """submitit's parameters for the array: ``--n_jobs`` as ``array_parallelism`` and, when the
    options file sets no ``time``, a time limit that leaves a task its ``--task_timeout``.

    naga stops a task at its own limit; Slurm's is a backstop, 2 minutes later (room for the
    job's start-up and for submitit's warning signal, 90 s before Slurm's end).

    Example:
        >>> slurm_parameters({"mem": "4GB", "max_num_timeout": 2}, 2, 0.5)
        {'array_parallelism': 2, 'mem': '4GB', 'time': 3}
    """
    parameters = {"array_parallelism": n_jobs, **options}
    parameters.pop(MAX_REQUEUES, None)
    if task_timeout is not None and "time" not in parameters:
        parameters["time"] = math.ceil(task_timeout) + 2
    return parameters


def resource_groups(
    tasks: Sequence[Task], options: Mapping[str, Any]
) -> list[tuple[dict[str, Any], list[Task]]]:
    """The tasks by the Slurm options they run with (``options`` under each task's own), in
    the order each set of options first appears: one job array each.

    Example:
        >>> from naga.launch._backend import Entry
        >>> def task(i, resources=None):
        ...     return Task(i, str(i), str(i), {}, "", Entry(None, "m", "f"), "", resources=resources)
        >>> groups = resource_groups([task(0), task(1, {"mem": "64GB"}), task(2)], {"time": 5})
        >>> [(o, [t.index for t in ts]) for o, ts in groups]
        [({'time': 5}, [0, 2]), ({'time': 5, 'mem': '64GB'}, [1])]
    """
    groups: dict[str, tuple[dict[str, Any], list[Task]]] = {}
    for task in tasks:
        merged = {**options, **(task.resources or {})}
        key = json.dumps(merged, sort_keys=True, default=str)
        groups.setdefault(key, (merged, []))[1].append(task)
    return list(groups.values())


class SlurmBackend:
    """Submits tasks as Slurm job arrays through submitit and watches them
    (:class:`~naga.launch._backend.Backend`); Ctrl-C cancels the arrays.

    A task that has a ``job`` already (submitted by an earlier sweep, still queued) is watched,
    never submitted again.

    Args:
        options: The checked options of ``--slurm_config`` (:func:`load_slurm_options`).
        folder: The sweep's folder; submitit's files go to its ``slurm/<job id>``.
        task_timeout: ``--task_timeout`` in minutes, or None.
        detach: Return once every task is submitted, without watching them (``--detach``).
    """

    def __init__(
        self,
        options: dict[str, Any],
        folder: Path,
        task_timeout: float | None,
        *,
        detach: bool = False,
    ) -> None:
        self.options = options
        self.folder = folder
        self.task_timeout = task_timeout
        self.detach = detach

    def run(self, tasks: Sequence[Task], n_jobs: int, report: Report) -> None:
        if not tasks:
            return
        jobs = {task.job: task for task in tasks if task.job}
        submitted: list[str] = []
        try:
            for options, group in resource_groups([t for t in tasks if not t.job], self.options):
                try:
                    ids = self._submit(group, options, n_jobs)
                except TaskError as error:
                    if not submitted:
                        raise
                    _cancel(submitted)
                    raise TaskError(
                        f"{error} The {len(submitted)} task(s) submitted before were cancelled."
                    ) from error
                submitted += ids
                for task, job in zip(group, ids, strict=True):
                    jobs[job] = task
                    report(Event.submit(task, job))
            if not self.detach:
                _watch(jobs, self.folder, report)
        except KeyboardInterrupt:  # the jobs this sweep watches are cancelled with it
            attached = [task.job for task in tasks if task.job]
            _cancel(submitted, exact=attached)
            raise

    def _submit(self, tasks: Sequence[Task], options: dict[str, Any], n_jobs: int) -> list[str]:
        """Submit ``tasks`` as one array; their job ids, in order."""
        import submitit

        from naga.launch._requeue import SlurmTask

        requeues = int(options.get(MAX_REQUEUES, 0))
        try:
            executor = submitit.SlurmExecutor(
                folder=str(self.folder / SLURM_DIR / "%j"), max_num_timeout=requeues
            )
        except RuntimeError as exc:
            raise TaskError(
                f"Slurm is not available here ({exc}): run the tasks locally with --n_jobs N."
            ) from exc
        executor.update_parameters(**slurm_parameters(options, n_jobs, self.task_timeout))
        try:
            # submitit prints sbatch's stderr itself before raising: it is in our one message.
            with contextlib.redirect_stderr(io.StringIO()), executor.batch():
                futures = [executor.submit(SlurmTask(task, requeues)) for task in tasks]
        except submitit.core.utils.FailedJobError as exc:  # sbatch refused the options
            reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            where = "--slurm_config" + (
                " or _slurm in the tasks file" if tasks[0].resources else ""
            )
            raise TaskError(
                f"Slurm refused the job array: {reason}. Fix the options given with {where}."
            ) from exc
        return [str(future.job_id) for future in futures]


def _cancel(jobs: Sequence[str], exact: Sequence[str] = ()) -> None:
    """Cancel the arrays of ``jobs`` (submitted by this sweep, every task its own) and the jobs
    ``exact`` (of an earlier sweep's arrays, which may hold tasks that are not this sweep's)."""
    targets = sorted({job.split("_", 1)[0] for job in jobs}) + sorted(set(exact))
    if targets:
        subprocess.run(["scancel", *targets], capture_output=True, check=False)


def _watch(jobs: dict[str, Task], folder: Path, report: Report) -> None:
    """Report each job's start when ``squeue`` shows it running, and its end when its result
    file appears or it leaves the queue without one (a requeued job stays in the queue)."""
    pending = dict(jobs)
    started: set[str] = set()
    missing: dict[str, int] = {}
    while pending:
        states = queue_states(pending)
        if states is None:  # squeue failed this time: say nothing about any job
            time.sleep(1.0)
            continue
        for job, task in list(pending.items()):
            state = states.get(job)
            if state == "RUNNING" and job not in started:
                started.add(job)
                report(Event.start(task))
            outcome = read_outcome(result_file(folder, job))
            if outcome is None:
                if state is not None:
                    missing.pop(job, None)
                    continue
                missing[job] = missing.get(job, 0) + 1
                if missing[job] < 3:  # give the file system a moment to show the result
                    continue
                why = accounting_states([job]).get(job) or "killed, out of memory or time?"
                outcome = Outcome.failed(
                    f"Slurm job {job} ended without a result ({why}); see {slurm_log(folder, job)}"
                )
            if job not in started:
                report(Event.start(task))
            report(Event.end(task, outcome))
            del pending[job]
        if pending:
            time.sleep(1.0)
