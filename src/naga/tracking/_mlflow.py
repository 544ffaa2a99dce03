"""``mlflow_lock``: an MLflow run for a run directory, exactly one active run per directory.

MLflow is imported when the context manager is entered, never when naga is imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from naga._atomic import atomic_write_text
from naga._errors import LockError, TrackingError, require
from naga._paths import LOCK_NAME, MLFLOW_LOCK_NAME, MLFLOW_RUN_NAME, NAGA_DIR
from naga._record import read_record, read_result
from naga._urls import redact, strip_credentials
from naga.lock import load_lock
from naga.tracking._content import (
    MAX_TAG,
    config_params,
    data_inputs,
    describe,
    lock_tags,
    metric_values,
    run_times,
)
from naga.tracking._fluent import activate, terminate
from naga.tracking._store import connect, file_lock, logical_hash

__all__ = ["TAG_HASH", "TAG_ID", "TAG_STATUS", "mlflow_lock", "remembered_run"]

TAG_ID = "naga.logical_run_id"
TAG_HASH = "naga.logical_run_hash"
TAG_STATUS = "naga.run_status"
TAG_SUPERSEDES = "naga.supersedes_run_id"
TAG_SUPERSEDED_BY = "naga.superseded_by_run_id"
#: When naga logged the run (ms since the epoch): the newest log of a directory wins. The
#: MLflow start time cannot tell: it is the experiment's own, the same for every log of it.
TAG_LOGGED = "naga.logged_at"
#: The end of a deprecated run's name, so the run list reads right at a glance.
SUPERSEDED = " (superseded)"
#: run.lock again under a name the MLflow UI previews (it shows only known extensions).
YAML_NAME = LOCK_NAME + ".yaml"
MEMORY_FILE = Path(NAGA_DIR) / MLFLOW_RUN_NAME
_BATCH = 100  # params per log_batch (MLflow's limit)
_METRICS = 800  # metrics per log_batch: with 100 params and a tag, under MLflow's 1,000


@contextlib.contextmanager
def mlflow_lock(
    save_dir: str | os.PathLike[str],
    *,
    experiment: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> Iterator[Any]:
    """Start the MLflow run of a finished run directory; yields MLflow's active run.

    The run is tagged with the directory (``naga.logical_run_id``) and, when the block ends
    without an exception, becomes the directory's only ``active`` run: the previous active run
    is marked ``deprecated``, its name gets `` (superseded)``, and the two are linked both ways.
    (When logs of one directory race, the run logged last wins.) The
    active run's id is remembered in ``<save_dir>/.naga/mlflow.json``. An exception ends the
    run FAILED, propagates, and leaves the previous active run active.

    The MLflow run carries the experiment's own times (the run record's start and end, so the
    UI's duration is the run's), run.lock (also as ``run.lock.yaml``, which the UI previews),
    a markdown description, the config as params, ``result.json``'s numbers as metrics and the
    data as dataset inputs.

    A tracking URI may carry ``user:password@``: it is sent as basic auth, as MLflow does, and
    never printed or written by naga (messages and mlflow.json name scheme, host, port, path).

    Args:
        save_dir: The run directory (it normally holds the run.lock written by ``runlock``).
        experiment: MLflow experiment name; default ``MLFLOW_EXPERIMENT_NAME`` or MLflow's own.
        run_name: The run's name; default the last two parts of ``save_dir``.
        tags: Extra tags for the run.

    Raises:
        TrackingError: ``save_dir`` is not a directory, the tracking server is unreachable or
            refuses the credentials, or the store cannot be used.

    Example:
        >>> with mlflow_lock("results/process") as run:  # doctest: +SKIP
        ...     mlflow.log_artifact("results/process/out.txt")
    """
    folder = Path(save_dir).resolve()
    if not folder.is_dir():
        raise TrackingError(
            f"save_dir '{os.fspath(save_dir)}' is not a directory: pass the run directory "
            f"that holds {LOCK_NAME}."
        )
    require("mlflow", "mlflow", "mlflow_lock", TrackingError)
    import mlflow

    uri = mlflow.get_tracking_uri()
    client, experiment_id = connect(uri, experiment)
    lock = _read_lock(folder)
    record, result = read_record(folder), read_result(folder)
    upstream = {
        str(path): _upstream_run((folder / str(path)).resolve(), client, uri)
        for path in (lock or {}).get("prevs") or {}
    }  # a receipt stores an upstream relative to its own folder (absolute in version 1)
    start, end = run_times(record, lock)
    name = run_name or "/".join(folder.parts[-2:])
    run_tags = {
        TAG_ID: str(folder),
        TAG_HASH: logical_hash(folder),
        TAG_STATUS: "running",
        TAG_LOGGED: str(_now_ms()),
        "mlflow.runName": name,
        "mlflow.note.content": describe(folder, lock, record, result, upstream),
        **(lock_tags(lock, upstream) if lock is not None else {}),
        **(tags or {}),
    }
    parent = mlflow.active_run()
    if parent is not None:
        run_tags.setdefault("mlflow.parentRunId", parent.info.run_id)
    run = client.create_run(experiment_id, start_time=start, tags=run_tags, run_name=name)
    _log_inputs(client, run, uri, folder, lock)
    batch = _Batch.of(lock, result, end)  # sent with the final status, in one request
    active = activate(run)
    try:
        yield active
    except BaseException:
        _fail(client, uri, run.info.run_id, batch, end)
        raise
    terminate(client, uri, run.info.run_id, "FINISHED", end)
    _settle(client, uri, folder, experiment_id, run, batch, end)


def _fail(client: Any, uri: str, run_id: str, batch: _Batch, end: int | None) -> None:
    """End ``run_id`` FAILED after an exception in the block, its params and metrics logged."""
    from mlflow.exceptions import MlflowException

    try:
        batch.send(client, run_id, {TAG_STATUS: "failed"})
    except MlflowException:  # the block logged a param of the config with another value
        client.set_tag(run_id, TAG_STATUS, "failed")
    terminate(client, uri, run_id, "FAILED", end)


def _settle(
    client: Any,
    uri: str,
    folder: Path,
    experiment_id: str,
    run: Any,
    batch: _Batch,
    end: int | None,
) -> None:
    """Log the finished run's params, metrics and status, promote it, remember the winner.

    One writer at a time per directory: the promotion and the memory of the active run are
    decided together, from what the store says, under the directory's lock.
    """
    from mlflow.exceptions import MlflowException

    run_id = run.info.run_id
    with file_lock(folder / NAGA_DIR / MLFLOW_LOCK_NAME):
        previous = _remembered(folder, uri, experiment_id)
        # Marked active before the look-up (see _promote), linked to the run the directory
        # remembers; the link is corrected only when the look-up disagrees.
        status = {TAG_STATUS: "active", **({TAG_SUPERSEDES: previous} if previous else {})}
        try:
            batch.send(client, run_id, status)
        except MlflowException as exc:
            if exc.error_code != "INVALID_PARAMETER_VALUE":
                raise
            client.set_tag(run_id, TAG_STATUS, "failed")
            terminate(client, uri, run_id, "FAILED", end)
            raise TrackingError(
                f"MLflow refused the config params of {folder}: {redact(str(exc.message), uri)} "
                f"The block logged a param of the config with another value: log it under "
                f"another name (naga logs the config when the block ends).",
                path=str(folder),
            ) from exc
        winner = _promote(client, experiment_id, logical_hash(folder), run, previous)
        memory = {
            "run_id": winner,
            "experiment_id": experiment_id,
            "tracking_uri": strip_credentials(uri),
        }
        # Not fsynced: the store is the truth, this is a cache of its answer (a lost file only
        # makes the next look-up ask the store).
        atomic_write_text(folder / MEMORY_FILE, json.dumps(memory, indent=2) + "\n", durable=False)


def remembered_run(save_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What ``mlflow_lock`` remembered in a run directory: ``{run_id, experiment_id, tracking_uri}``.

    ``run_id`` is the directory's active run; ``tracking_uri`` has no credentials (user,
    password, query), so the file can be read by anyone who can read the directory.
    """
    try:
        data = json.loads((Path(save_dir) / MEMORY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _remembered(folder: Path, uri: str, experiment_id: str | None = None) -> str | None:
    """The run id ``folder`` remembers for this store (and experiment, when given)."""
    memory = _memory(folder, uri)
    if memory is None or (experiment_id is not None and memory["experiment_id"] != experiment_id):
        return None
    return memory["run_id"]


def _memory(folder: Path, uri: str) -> dict[str, str] | None:
    """``folder``'s remembered run and experiment, when recorded for this tracking URI."""
    memory = remembered_run(folder) or {}
    if strip_credentials(str(memory.get("tracking_uri"))) != strip_credentials(uri):
        return None
    if not memory.get("run_id"):
        return None
    return {"run_id": str(memory["run_id"]), "experiment_id": str(memory.get("experiment_id"))}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _read_lock(folder: Path) -> dict[str, Any] | None:
    if not (folder / LOCK_NAME).is_file():
        warnings.warn(
            f"{folder} has no {LOCK_NAME}: the MLflow run is created without config, code or "
            f"data. Call naga.runlock in the run first.",
            stacklevel=4,
        )
        return None
    try:
        return load_lock(folder)
    except LockError as exc:
        raise TrackingError(str(exc)) from exc


def _upstream_run(folder: Path, client: Any, uri: str) -> tuple[str, str] | None:
    """The active run of a previous stage, ``(experiment_id, run_id)``: the one its folder
    remembers for this store, else the store's active run of that folder."""
    memory = _memory(folder, uri)
    if memory is not None:
        return memory["experiment_id"], memory["run_id"]
    runs = client.search_runs(
        experiment_ids=[e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`{TAG_HASH}` = '{logical_hash(folder)}' and tags.`{TAG_STATUS}` = 'active'",
        max_results=1,
    )
    return (str(runs[0].info.experiment_id), runs[0].info.run_id) if runs else None


def _log_inputs(client: Any, run: Any, uri: str, folder: Path, lock: dict[str, Any] | None) -> None:
    """The data as dataset inputs, run.lock and run.lock.yaml in one artifact upload."""
    from mlflow.entities import Dataset, DatasetInput, InputTag
    from mlflow.exceptions import MlflowException

    if lock is None:
        return
    inputs = [
        DatasetInput(
            Dataset(name, digest, "local", source, profile=profile),
            tags=[InputTag("mlflow.data.context", "input")],
        )
        for name, digest, source, profile in data_inputs(lock, folder)
    ]
    for attempt in range(3) if inputs else ():
        try:
            client.log_inputs(run.info.run_id, datasets=inputs)
            break
        except MlflowException:
            # MLflow adds a dataset new to the experiment after checking it is not there: two
            # processes logging the same new data at once, one fails on the unique key (seen 1
            # in 6 with 4 processes on a server). Again, the dataset is found and reused.
            if attempt == 2:
                raise
    with tempfile.TemporaryDirectory(prefix="naga-mlflow-") as tmp:
        shutil.copyfile(folder / LOCK_NAME, Path(tmp) / LOCK_NAME)
        shutil.copyfile(folder / LOCK_NAME, Path(tmp) / YAML_NAME)
        _artifacts(run, uri).log_artifacts(tmp)


class _Batch(NamedTuple):
    """The config's params, the result's metrics and the skipped-params tag, sent with the
    run's final status in one ``log_batch`` (more only past 100 params or 800 metrics).

    MLflow stores a ``log_batch`` as a transaction per kind of entity, empty ones included:
    one batch of everything costs a request less than params first and the status later.
    """

    params: list[Any]
    metrics: list[Any]
    tags: dict[str, str]

    @classmethod
    def of(cls, lock: dict[str, Any] | None, result: Any, end: int | None) -> _Batch:
        from mlflow.entities import Metric, Param

        params, skipped = config_params(lock) if lock is not None else ({}, [])
        stamp = end if end is not None else _now_ms()
        return cls(
            [Param(k, v) for k, v in params.items()],
            [Metric(k, v, stamp, 0) for k, v in metric_values(result).items()],
            {"naga.skipped_params": ", ".join(skipped)[:MAX_TAG]} if skipped else {},
        )

    def send(self, client: Any, run_id: str, status: dict[str, str]) -> None:
        """Log everything, with ``status`` tags, in as few requests as MLflow's limits allow."""
        from mlflow.entities import RunTag

        params, metrics = self.params, self.metrics
        tags = [RunTag(k, v) for k, v in {**self.tags, **status}.items()]
        while True:
            client.log_batch(run_id, metrics=metrics[:_METRICS], params=params[:_BATCH], tags=tags)
            params, metrics, tags = params[_BATCH:], metrics[_METRICS:], []
            if not params and not metrics:
                return


def _promote(client: Any, experiment_id: str, key: str, run: Any, previous: str | None) -> str:
    """Settle the directory's active run now that ``run`` finished; return the active run.

    Every writer applies the same rule: the run logged last (by ``naga.logged_at``, else the
    start time of runs logged before that tag existed, then run id) is the one active run;
    every other run that is active is deprecated, named `` (superseded)``, and points at it,
    and the winner points back at the run it replaced. A run logged before the active one but
    finished after it loses: it is deprecated at once and the active run is left as it is.

    The caller holds the per-directory file lock, so the one look-up below sees every finished
    run of the directory and the run returned is the active one, to be remembered. The rule is
    also safe without the lock: the caller marks ``run`` active before the look-up, so of two
    concurrent writers at least one sees the other, and both deprecate the same runs.

    Args:
        client: The MLflow client.
        experiment_id: The experiment of ``run``.
        key: The directory's :func:`logical_hash`.
        run: The run that just finished (as ``create_run`` returned it).
        previous: The active run the directory remembers, which the caller linked ``run`` to
            (``naga.supersedes_run_id``) with the status: corrected when the look-up disagrees.
    """
    from mlflow.entities import RunTag

    run_id = run.info.run_id
    runs = client.search_runs(  # the other active runs: this one is known (not read back)
        experiment_ids=[experiment_id],
        filter_string=f"tags.`{TAG_HASH}` = '{key}' and tags.`{TAG_STATUS}` = 'active' "
        f"and attributes.run_id != '{run_id}'",
        max_results=50,
    )
    order = {r.info.run_id: _logged_order(r) for r in runs}
    order[run_id] = _logged_order(run)
    names = {r.info.run_id: r.info.run_name for r in [run, *runs]}
    winner = max(order, key=order.__getitem__)
    older = sorted((r for r in order if r != winner), key=order.__getitem__)
    for old in older:  # one request per run: this matters against a remote server
        tags = [RunTag(TAG_STATUS, "deprecated"), RunTag(TAG_SUPERSEDED_BY, winner)]
        name = names.get(old) or ""
        if not name.endswith(SUPERSEDED):  # the rename goes with the tags, in one request
            tags.append(RunTag("mlflow.runName", name + SUPERSEDED))
        client.log_batch(old, tags=tags)
    replaced = older[-1] if winner == run_id and older else None
    if replaced and replaced != previous:
        client.set_tag(run_id, TAG_SUPERSEDES, replaced)
    elif previous and not replaced:
        client.delete_tag(run_id, TAG_SUPERSEDES)  # lost the race, or nothing was active
    return winner


def _artifacts(run: Any, uri: str) -> Any:
    """The run's artifact repository, from the URI ``create_run`` returned.

    ``MlflowClient.log_artifacts`` reads the run back for it (a store request); these are the
    two calls it makes after that read.
    """
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.utils.uri import add_databricks_profile_info_to_artifact_uri

    location = add_databricks_profile_info_to_artifact_uri(run.info.artifact_uri, uri)
    return get_artifact_repository(location, tracking_uri=uri)


def _logged_order(run: Any) -> tuple[int, str]:
    """When ``run`` was logged: its ``naga.logged_at``, else (older naga) its start time."""
    try:
        logged = int(run.data.tags[TAG_LOGGED])
    except (KeyError, ValueError):
        logged = run.info.start_time or 0
    return logged, run.info.run_id
