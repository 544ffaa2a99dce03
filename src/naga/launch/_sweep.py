"""``run_sweep``: one run of a ``@clicfg`` function per task, each in its own save_dir.

Layout, for a config whose ``save_dir`` is ``results/process`` and ``--task_to param``::

    results/process/tasks.yaml          which task went where, its status and error
    results/process/param=1/            task 1's save_dir (config.json, its outputs)
    results/process/logs/param=1.log    task 1's stdout and stderr

Without a ``save_dir`` in the config, the sweep's folder is ``.naga/sweeps/<hash>`` in the
working directory. A task is finished when its function returned normally; rerunning the same
command runs only the tasks whose resolved config has not finished yet.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import xxhash

from naga._atomic import atomic_write_text
from naga._errors import TaskError, require
from naga._paths import LOGS_DIR, NAGA_DIR, SWEEPS_DIR, TASKS_NAME
from naga._plain import to_plain
from naga._yaml import YAMLError, dump_yaml, load_yaml
from naga.launch._options import SweepOptions
from naga.launch._sources import TaskValue, load_tasks
from naga.launch._worker import entry_of

__all__ = ["SweepResult", "run_sweep"]

STATE_FILE = TASKS_NAME
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+@-]+")
_MAX_LABEL = 80


class SweepResult:
    """What a sweep did.

    Attributes:
        exit_code: 0 when every task finished, 1 when any failed.
        done: Labels of the tasks that finished in this run.
        skipped: Labels of the tasks already finished by an earlier run.
        failures: ``{label: {"error": ..., "log": ...}}`` of the tasks that failed.
        sweep_dir: The sweep's folder (tasks.yaml, logs).
    """

    def __init__(self, sweep_dir: Path) -> None:
        self.sweep_dir = sweep_dir
        self.done: list[str] = []
        self.skipped: list[str] = []
        self.failures: dict[str, dict[str, str]] = {}

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0

    def __repr__(self) -> str:
        return (
            f"SweepResult(done={len(self.done)}, skipped={len(self.skipped)}, "
            f"failed={len(self.failures)}, sweep_dir='{self.sweep_dir}')"
        )


def run_sweep(command: Any, base: dict[str, Any], options: SweepOptions) -> SweepResult:
    """Run ``command`` (a clicfg function) once per task of ``options``.

    Every task is read, typed and given its save_dir before any starts: a bad task file is a
    ``TaskError``/``ConfigError`` with nothing started and nothing written.

    Returns:
        A :class:`SweepResult`; its ``exit_code`` is 1 when any task failed.
    """
    tasks, configs = [], []
    seen: set[str] = set()
    for task in load_tasks(options, base):
        config = _task_config(command.spec, base, task, options.task_to)
        if _key(config) not in seen:  # the same resolved config twice is one task
            seen.add(_key(config))
            tasks.append(task)
            configs.append(config)
    labels = _labels(tasks, configs, options.task_to)
    sweep_dir = _sweep_dir(base, configs)
    if base.get("save_dir"):
        for config, label in zip(configs, labels, strict=True):
            config["save_dir"] = os.path.join(str(base["save_dir"]), label)
    backend = _backend(options, sweep_dir)
    entry = entry_of(command)
    state = _load_state(sweep_dir)
    result = SweepResult(sweep_dir)
    jobs = []
    records: dict[str, dict[str, Any]] = {}
    for index, (task, config, label) in enumerate(zip(tasks, configs, labels, strict=True)):
        key = _key(config)
        log = str((sweep_dir / LOGS_DIR / f"{label}.log").resolve())
        record = {
            "label": label,
            "origin": task.origin,
            "save_dir": config.get("save_dir"),
            "key": key,
            "log": log,
            "status": "pending",
        }
        if state.get(key, {}).get("status") == "done":
            record["status"] = "done"
            result.skipped.append(label)
        else:
            jobs.append(
                {
                    "index": index,
                    "label": label,
                    "config": config,
                    "log": log,
                    "entry": entry,
                    "key": key,
                    "cwd": os.getcwd(),
                }
            )
        records[key] = record
    _save_state(sweep_dir, records)
    progress = _Progress(len(jobs), len(result.skipped))
    last_save = [time.monotonic()]

    def report(event: str, job: dict[str, Any], outcome: dict[str, Any] | None) -> None:
        record = records[job["key"]]
        if event == "start":
            record["status"] = "running"
        elif outcome is not None and outcome.get("ok"):
            record["status"] = "done"
            record.pop("error", None)
            result.done.append(job["label"])
        elif outcome is not None and outcome.get("interrupted"):
            record["status"] = "interrupted"
        else:
            record["status"] = "failed"
            record["error"] = (outcome or {}).get("error", "unknown error")
            result.failures[job["label"]] = {"error": record["error"], "log": job["log"]}
        progress.update(event, job["label"], outcome)
        # Saved at most once a second while tasks run (and once at the end): a sweep of many
        # short tasks would otherwise spend its time rewriting tasks.yaml.
        if event == "end" and time.monotonic() - last_save[0] > 1.0:
            _save_state(sweep_dir, records)
            last_save[0] = time.monotonic()

    try:
        backend(jobs, options.n_jobs, report)
    except KeyboardInterrupt:
        for record in records.values():
            if record["status"] == "running":
                record["status"] = "interrupted"
        progress.close()
        stopped = sum(r["status"] in ("interrupted", "pending") for r in records.values())
        print(
            f"\nnaga: interrupted: {len(result.done)} task(s) done, {len(result.failures)} "
            f"failed, {stopped} stopped or not started. State: {sweep_dir / STATE_FILE}\n"
            f"naga: rerun the same command to run only the tasks that did not finish.",
            file=sys.stderr,
        )
        raise
    finally:
        _save_state(sweep_dir, records)
        progress.close()
    _summary(result, len(tasks))
    return result


def _backend(options: SweepOptions, sweep_dir: Path) -> Any:
    import functools

    if options.slurm_config is not None and options.dask is not None:
        raise TaskError("--slurm_config and --dask both given: choose one backend.")
    if options.slurm_config is not None:
        require("submitit", "slurm", "--slurm_config (tasks on Slurm)", TaskError)
        from naga.launch._slurm import load_slurm_options, run_slurm

        slurm_options = load_slurm_options(options.slurm_config)
        return functools.partial(run_slurm, options=slurm_options, folder=sweep_dir.resolve())
    if options.dask is not None:
        require("distributed", "dask", "--dask (tasks on a Dask cluster)", TaskError)
        from naga.launch._dask import run_dask

        return functools.partial(run_dask, address=options.dask)
    from naga.launch._local import run_local

    return run_local


def _task_config(
    spec: Any, base: dict[str, Any], task: TaskValue, task_to: str | None
) -> dict[str, Any]:
    config = copy.deepcopy(base)
    apply = spec.apply_text if task.text else spec.apply
    if task_to is not None:
        if not spec.has(task_to):
            raise TaskError(
                spec.unknown_key_message(task_to, f"--task_to {task_to}", can_add=False)
            )
        if task.text and isinstance(task.value, dict):
            raise TaskError(
                f"{task.origin}: a table row cannot go to --task_to {task_to}: drop --task_to to merge its columns."
            )
        apply(config, task_to, task.value, origin=task.origin)
    elif isinstance(task.value, dict):
        for key, value in task.value.items():
            apply(config, str(key), value, origin=task.origin)
    else:
        raise TaskError(
            f"{task.origin}: the task {task.value!r} is a single value: say which config key it "
            f"sets with --task_to KEY (for example --task_to param)."
        )
    return config


def _labels(
    tasks: list[TaskValue], configs: list[dict[str, Any]], task_to: str | None
) -> list[str]:
    raw = []
    for task in tasks:
        if task_to is not None:
            raw.append(f"{task_to.rsplit('.', 1)[-1]}={_text(task.value)}")
        else:
            raw.append(",".join(f"{k}={_text(v)}" for k, v in task.value.items()))
    labels = []
    for text, config in zip(raw, configs, strict=True):
        label = _UNSAFE.sub("_", text).strip("._") or "task"
        if len(label) > _MAX_LABEL:
            label = f"{label[:_MAX_LABEL]}-{_key(config)[:8]}"
        labels.append(label)
    seen: dict[str, int] = {}
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
    return [
        f"{label}-{_key(config)[:8]}" if seen[label] > 1 else label
        for label, config in zip(labels, configs, strict=True)
    ]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(to_plain(value), separators=(",", ":"))


def _key(config: dict[str, Any]) -> str:
    return xxhash.xxh3_64_hexdigest(json.dumps(to_plain(config), sort_keys=True).encode())


def _sweep_dir(base: dict[str, Any], configs: list[dict[str, Any]]) -> Path:
    if base.get("save_dir"):
        return Path(str(base["save_dir"]))
    digest = xxhash.xxh3_64_hexdigest(
        json.dumps([to_plain(c) for c in configs], sort_keys=True).encode()
    )
    return Path(NAGA_DIR, SWEEPS_DIR, digest[:12])


def _load_state(sweep_dir: Path) -> dict[str, dict[str, Any]]:
    try:
        data = load_yaml((sweep_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, YAMLError):
        return {}
    tasks = data.get("tasks") if isinstance(data, dict) else None
    return {t["key"]: t for t in tasks or [] if isinstance(t, dict) and "key" in t}


def _save_state(sweep_dir: Path, records: dict[str, dict[str, Any]]) -> None:
    atomic_write_text(sweep_dir / STATE_FILE, dump_yaml({"tasks": list(records.values())}))


class _Progress:
    """done / failed / running and elapsed time: a rich progress bar on a terminal, else one
    plain line per finished task (logs and CI output stay readable)."""

    def __init__(self, total: int, skipped: int) -> None:
        self.total, self.done, self.failed, self.running = total, 0, 0, 0
        self.start = time.monotonic()
        if skipped:
            print(f"naga: {skipped} task(s) already done, skipped", file=sys.stderr)
        self.bar: Any = None
        if sys.stderr.isatty() and total:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("naga tasks"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self.bar.start()
            self.task = self.bar.add_task("tasks", total=total, counts=self._counts())

    def _counts(self) -> str:
        return f"done {self.done}, failed {self.failed}, running {self.running}"

    def update(self, event: str, label: str, outcome: dict[str, Any] | None) -> None:
        ok = outcome is not None and outcome.get("ok")
        interrupted = outcome is not None and outcome.get("interrupted")
        if event == "start":
            self.running += 1
        else:
            self.running -= 1
            if ok:
                self.done += 1
            elif not interrupted:
                self.failed += 1
        finished = self.done + self.failed
        if self.bar is not None:
            self.bar.update(self.task, completed=finished, counts=self._counts())
        elif event == "end":
            elapsed = time.monotonic() - self.start
            print(
                f"naga: {'done' if ok else 'interrupted' if interrupted else 'FAILED'} {label} "
                f"[{finished}/{self.total}] "
                f"{self._counts()}, {elapsed:.1f}s",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _summary(result: SweepResult, total: int) -> None:
    print(
        f"naga: {total} task(s): {len(result.done)} done, {len(result.skipped)} skipped "
        f"(done before), {len(result.failures)} failed. State: {result.sweep_dir / STATE_FILE}",
        file=sys.stderr,
    )
    for label, failure in result.failures.items():
        print(f"  FAILED {label}: {failure['error']}\n    log: {failure['log']}", file=sys.stderr)
    if result.failures:
        print(
            "naga: rerun the same command to run only the tasks that did not finish.",
            file=sys.stderr,
        )
