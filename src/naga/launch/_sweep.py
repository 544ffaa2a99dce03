"""``run_sweep``: one run of a ``@clicfg`` function per task, each in its own save_dir.

Layout, for a config whose ``save_dir`` is ``results/process`` and ``--task_to param``::

    results/process/tasks.yaml          which task went where, its status, job and error
    results/process/param=1/            task 1's save_dir (config.json, its outputs)
    results/process/logs/param=1.log    task 1's stdout and stderr

Without a ``save_dir`` in the config, the sweep's folder is ``.naga/sweeps/<hash>`` in the
working directory. A task is finished when its function returned normally; rerunning the same
command runs only the tasks whose resolved config has not finished yet (or went stale).

The steps: read the tasks (``_sources``, ``_grid``), resolve and place them (``_plan``), see
what became of the Slurm jobs of an earlier sweep (``_jobs``: still queued ones are watched,
ended ones collected, lost ones run again), decide which done tasks are stale (``_fresh``), pick
the backend (``_local``, ``_slurm``, ``_dask``, behind ``_backend.Backend``), and run the tasks
while :class:`~naga.launch._session.SweepSession` records each event in tasks.yaml (``_state``) and on stderr
(``_progress``). ``--dry_run`` stops before running and lists what each task would do
(``_dryrun``); ``--debug_task`` runs one task in this process instead.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from naga._errors import TaskError, did_you_mean, require
from naga._paths import TASKS_NAME
from naga.launch._backend import Backend
from naga.launch._fresh import SweepLock, decide_reruns
from naga.launch._options import SweepOptions
from naga.launch._plan import PlannedTask, place_tasks, resolve_tasks, sweep_dir_of
from naga.launch._reattach import check_previous_jobs, refuse_unwatchable, task_fate
from naga.launch._session import SweepResult, SweepSession
from naga.launch._signals import StopSignals
from naga.launch._sources import load_tasks
from naga.launch._state import load_state
from naga.launch._worker import entry_of

__all__ = ["SweepResult", "debug_task_config", "plan_sweep", "run_sweep", "select_backend"]


def run_sweep(
    command: Any,
    base: dict[str, Any],
    options: SweepOptions,
    provenance: dict[str, Any] | None = None,
) -> SweepResult:
    """Run ``command`` (a clicfg function) once per task of ``options``.

    ``provenance`` says where ``base`` came from (``naga._provenance``): each task's run.lock
    then records its config files and judges them by the values they gave the task.

    Every task is read, typed and given its save_dir before any starts: a bad task file is a
    ``TaskError``/``ConfigError`` with nothing started and nothing written. With
    ``options.dry_run`` nothing runs: each task is listed with what it would do. With
    ``options.debug_task`` that one task runs here, through ``command.run_resolved``.

    Returns:
        A :class:`SweepResult`; its ``exit_code`` is 1 when any task failed.

    Raises:
        KeyboardInterrupt: Ctrl-C (SIGINT) stopped the sweep; tasks.yaml is saved.
        SystemExit: SIGTERM or SIGHUP stopped the sweep: status 143 or 129, tasks.yaml saved.

    Example:
        >>> run_sweep(main, main.spec.defaults(), SweepOptions(sweep=("lr=0.1,0.01",)))  # doctest: +SKIP
        SweepResult(done=2, skipped=0, failed=0, sweep_dir='results/train')
    """
    if options.debug_task is not None:
        config, label = _debug_task(command, base, options)
        result = SweepResult(sweep_dir_of(base, [config]))
        command.run_resolved(config)
        result.done.append(label)
        return result
    resolved = resolve_tasks(command.spec, base, load_tasks(options, base), options.task_to)
    sweep_dir = sweep_dir_of(base, [config for _, config in resolved])
    backend = select_backend(options, sweep_dir)
    _check_resources([value for value, _ in resolved], backend)
    if options.dry_run:
        from naga.launch._dryrun import show_dry_run

        previous = load_state(sweep_dir / TASKS_NAME)
        planned = place_tasks(resolved, base, options.task_to, previous)
        checks = check_previous_jobs(planned, previous, sweep_dir)
        rerun = decide_reruns(planned, previous, options, quiet=True)
        fates = {
            p.key: task_fate(p, previous.get(p.key, {}), checks.get(p.key), rerun) for p in planned
        }
        show_dry_run(sweep_dir, planned, fates, backend, options)
        return SweepResult(sweep_dir)
    with SweepLock(sweep_dir, wait=options.wait):
        return _run(command, base, options, resolved, sweep_dir, backend, provenance)


def _check_resources(values: Sequence[Any], backend: Backend) -> None:
    """Each task's own Slurm options (``_slurm``) checked and named as submitit names them; on
    another backend they cannot apply, and the sweep says so."""
    from naga.launch._slurm import SlurmBackend, check_slurm_options
    from naga.launch._sources import RESOURCES_KEY

    own = [value for value in values if value.resources]
    if not own:
        return
    if not isinstance(backend, SlurmBackend):
        print(
            f"naga: note: {len(own)} task(s) set Slurm options ({RESOURCES_KEY}); they apply "
            f"on Slurm only (--slurm_config), not here.",
            file=sys.stderr,
        )
        return
    for value in own:
        value.resources = check_slurm_options(value.resources, f"{value.origin}: {RESOURCES_KEY}")


def plan_sweep(
    command: Any, base: dict[str, Any], options: SweepOptions
) -> tuple[Path, list[PlannedTask]]:
    """The sweep's folder and its tasks as they would run (labels, configs), reading the
    previous tasks.yaml and writing nothing."""
    resolved = resolve_tasks(command.spec, base, load_tasks(options, base), options.task_to)
    sweep_dir = sweep_dir_of(base, [config for _, config in resolved])
    previous = load_state(sweep_dir / TASKS_NAME)
    return sweep_dir, place_tasks(resolved, base, options.task_to, previous)


def debug_task_config(command: Any, base: dict[str, Any], options: SweepOptions) -> dict[str, Any]:
    """The resolved config of the task labelled ``options.debug_task``, to run in this process.

    Raises:
        TaskError: No task has that label: the message lists the labels, closest first.
    """
    return _debug_task(command, base, options)[0]


def _debug_task(
    command: Any, base: dict[str, Any], options: SweepOptions
) -> tuple[dict[str, Any], str]:
    label = str(options.debug_task)
    sweep_dir, planned = plan_sweep(command, base, options)
    for task in planned:
        if task.label == label:
            print(
                f"naga: --debug_task {label}: running it in this process ({sweep_dir}/"
                f"{TASKS_NAME} untouched).",
                file=sys.stderr,
            )
            return task.config, label
    labels = [task.label for task in planned]
    shown = ", ".join(labels[:20]) + (f", ... ({len(labels)} in all)" if len(labels) > 20 else "")
    raise TaskError(
        f"--debug_task {label}: no task of this sweep has that label.{did_you_mean(label, labels)} "
        f"Its labels: {shown}.",
        value=label,
        choices=labels,
    )


def _run(
    command: Any,
    base: dict[str, Any],
    options: SweepOptions,
    resolved: Any,
    sweep_dir: Path,
    backend: Backend,
    provenance: dict[str, Any] | None,
) -> SweepResult:
    previous = load_state(sweep_dir / TASKS_NAME)
    planned = place_tasks(resolved, base, options.task_to, previous, provenance)
    checks = check_previous_jobs(planned, previous, sweep_dir)
    refuse_unwatchable(planned, checks, backend, sweep_dir)
    rerun = decide_reruns(planned, previous, options)
    sweep = SweepSession(sweep_dir, planned, previous, rerun, checks)
    tasks = sweep.start(entry_of(command), options.task_timeout, progress=not options.detach)
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
        if options.detach:
            sweep.detached_summary()
        else:
            sweep.summary()
        return sweep.result
    if stop.received is not None and stop.received != signal.SIGINT:
        raise SystemExit(stop.exit_code)
    raise KeyboardInterrupt


def select_backend(options: SweepOptions, sweep_dir: Path) -> Backend:
    """The backend ``options`` ask for; its options checked (a ``TaskError`` names the fix)."""
    if options.slurm_config is not None and options.dask is not None:
        raise TaskError("--slurm_config and --dask both given: choose one backend.")
    if options.detach and options.slurm_config is None:
        raise TaskError(
            "--detach needs --slurm_config FILE: only Slurm jobs outlive the command that "
            "submits them (local and Dask tasks end with it)."
        )
    if options.slurm_config is not None:
        require("submitit", "slurm", "--slurm_config (tasks on Slurm)", TaskError)
        from naga.launch._slurm import SlurmBackend, load_slurm_options

        return SlurmBackend(
            load_slurm_options(options.slurm_config),
            sweep_dir.resolve(),
            options.task_timeout,
            detach=options.detach,
        )
    if options.dask is not None:
        require("distributed", "dask", "--dask (tasks on a Dask cluster)", TaskError)
        from naga.launch._dask import DaskBackend

        return DaskBackend(options.dask)
    from naga.launch._local import LocalBackend

    return LocalBackend()
