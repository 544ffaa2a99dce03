"""``mlflow_lock``: an MLflow run for a run directory, exactly one active run per directory.

MLflow is imported when the context manager is entered, never when naga is imported.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from naga._atomic import atomic_write_text
from naga._errors import LockError, TrackingError, require
from naga._paths import LOCK_NAME, MLFLOW_LOCK_NAME, MLFLOW_RUN_NAME, NAGA_DIR, cache_dir
from naga._plain import flatten
from naga.lock import load_lock

__all__ = ["TAG_HASH", "TAG_ID", "TAG_STATUS", "mlflow_lock", "remembered_run"]

TAG_ID = "naga.logical_run_id"
TAG_HASH = "naga.logical_run_hash"
TAG_STATUS = "naga.run_status"
TAG_SUPERSEDES = "naga.supersedes_run_id"
TAG_SUPERSEDED_BY = "naga.superseded_by_run_id"
MEMORY_FILE = Path(NAGA_DIR) / MLFLOW_RUN_NAME
_MAX_KEY = 250
_MAX_VALUE = 6000
_BATCH = 100
_KEY_CHARS = re.compile(r"[^\w\-. /]")


def logical_hash(save_dir: Path) -> str:
    """The look-up key of a run directory: xxh3-64 of its resolved path (quotes-safe)."""
    import xxhash

    return xxhash.xxh3_64_hexdigest(str(save_dir).encode())


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
    is marked ``deprecated`` and the two are linked both ways. An exception ends the run FAILED,
    propagates, and leaves the previous active run active.

    Args:
        save_dir: The run directory (it normally holds the run.lock written by ``runlock``).
        experiment: MLflow experiment name; default ``MLFLOW_EXPERIMENT_NAME`` or MLflow's own.
        run_name: The run's name; default the last two parts of ``save_dir``.
        tags: Extra tags for the run.

    Raises:
        TrackingError: ``save_dir`` is not a directory, or the tracking server is unreachable.

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
    from mlflow.exceptions import MlflowException

    uri = mlflow.get_tracking_uri()
    _check_reachable(uri)
    try:
        client = _client(uri)
        experiment_id = _experiment_id(client, uri, experiment)
    except MlflowException as exc:
        raise TrackingError(_store_error(uri, exc)) from exc
    lock = _read_lock(folder)
    key = logical_hash(folder)
    run_tags = {
        TAG_ID: str(folder),
        TAG_HASH: key,
        TAG_STATUS: "running",
        "mlflow.runName": run_name or "/".join(folder.parts[-2:]),
        **_lock_tags(lock, client, folder),
        **(tags or {}),
    }
    run = client.create_run(experiment_id, tags=run_tags, run_name=run_tags["mlflow.runName"])
    run_id = run.info.run_id
    _log_lock(client, run_id, folder, lock)
    nested = mlflow.active_run() is not None
    active = mlflow.start_run(run_id=run_id, nested=nested)
    try:
        yield active
    except BaseException:
        client.set_tag(run_id, TAG_STATUS, "failed")
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")
    with _file_lock(folder / NAGA_DIR / MLFLOW_LOCK_NAME):
        _promote(client, experiment_id, key, run_id)
        memory = {"run_id": run_id, "experiment_id": experiment_id, "tracking_uri": uri}
        import json

        atomic_write_text(folder / MEMORY_FILE, json.dumps(memory, indent=2) + "\n")


def remembered_run(save_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What ``mlflow_lock`` remembered in a run directory: ``{run_id, experiment_id, tracking_uri}``."""
    import json

    try:
        data = json.loads((Path(save_dir) / MEMORY_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _check_reachable(uri: str) -> None:
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5):
            pass
    except (urllib.error.URLError, OSError) as exc:
        raise TrackingError(
            f"MLflow tracking server {uri} is unreachable ({getattr(exc, 'reason', exc)}): start "
            f"it, or set MLFLOW_TRACKING_URI to a reachable server (unset: a local mlflow.db)."
        ) from exc


def _store_error(uri: str, exc: Any) -> str:
    """Why the tracking store cannot be used, and what to do."""
    file_store = "://" not in uri or uri.startswith("file:")
    if file_store and os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() != "true":
        why = (
            " (MLflow chose it because an mlruns folder exists in the working directory)"
            if not os.environ.get("MLFLOW_TRACKING_URI")
            else ""
        )
        return (
            f"MLflow's tracking store is the file store '{uri}'{why}, which MLflow refuses "
            f"without MLFLOW_ALLOW_FILE_STORE=true: set MLFLOW_TRACKING_URI=sqlite:///mlflow.db "
            f"(`mlflow migrate-filestore` moves old runs there), or set "
            f"MLFLOW_ALLOW_FILE_STORE=true to keep the file store."
        )
    return f"MLflow tracking store {uri} cannot be used: {getattr(exc, 'message', exc)}"


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:///"):
        # Several processes creating a brand-new sqlite store at once corrupt it for good
        # (alembic migrations race): the first contact is serialised with a lock beside it.
        # The lock lives in naga's cache, keyed by the store's path, not beside the user's files.

        db = os.path.abspath(uri[len("sqlite:///") :])
        with _file_lock(Path(cache_dir()) / "locks" / f"mlflow-{logical_hash(Path(db))}.lock"):
            client = MlflowClient(uri)
            client.search_experiments(max_results=1)
        return client
    client = MlflowClient(uri)
    if "://" not in uri or uri.startswith("file:"):
        client.search_experiments(max_results=1)  # a refused file store says so here
    return client


def _experiment_id(client: Any, uri: str, name: str | None) -> str:
    from mlflow.exceptions import MlflowException

    name = name or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    try:
        if not name:
            return str(os.environ.get("MLFLOW_EXPERIMENT_ID") or "0")
        found = client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(client.create_experiment(name))
        except MlflowException:  # created by a concurrent process meanwhile
            return str(client.get_experiment_by_name(name).experiment_id)
    except MlflowException as exc:
        raise TrackingError(f"MLflow at {uri} refused experiment {name!r}: {exc.message}") from exc


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


def _key(text: str) -> str:
    return _KEY_CHARS.sub("_", text)


def _lock_tags(lock: dict[str, Any] | None, client: Any, folder: Path) -> dict[str, str]:
    if lock is None:
        return {}
    tags: dict[str, str] = {}
    caller = lock.get("caller") or {}
    if caller.get("file"):
        tags["mlflow.source.name"] = str(caller["file"])
        tags["mlflow.source.type"] = "LOCAL"
    for index, (name, repo) in enumerate((lock.get("repos") or {}).items()):
        if index == 0 and repo.get("commit"):
            tags["mlflow.source.git.commit"] = repo["commit"]
            if repo.get("remote"):
                tags["mlflow.source.git.repoURL"] = repo["remote"]
        for field in ("commit", "dirty", "snapshot", "branch"):
            if repo.get(field) is not None:
                tags[_key(f"naga.repo.{name}.{field}")[:_MAX_KEY]] = str(repo[field])
    for name, entry in (lock.get("data") or {}).items():
        tags[_key(f"naga.data.{name}.hash")[:_MAX_KEY]] = str(entry.get("hash"))
    for index, path in enumerate(lock.get("prevs") or {}):
        tags[f"naga.prev.{index}.path"] = str(path)
        # A receipt stores an upstream relative to its own folder (absolute in version 1).
        run_id = _prev_run_id((folder / str(path)).resolve(), client)
        if run_id:
            tags[f"naga.prev.{index}.run_id"] = run_id
    return tags


def _prev_run_id(folder: Path, client: Any) -> str | None:
    memory = remembered_run(folder)
    if memory and memory.get("run_id"):
        return str(memory["run_id"])
    runs = client.search_runs(
        experiment_ids=[e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`{TAG_HASH}` = '{logical_hash(folder)}' and tags.`{TAG_STATUS}` = 'active'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def _log_lock(client: Any, run_id: str, folder: Path, lock: dict[str, Any] | None) -> None:
    from mlflow.entities import Param

    if lock is None:
        return
    params, skipped = [], []
    for key, raw in flatten(lock.get("config") or {}).items():
        value = str(raw)
        if len(key) > _MAX_KEY or "`" in key:
            skipped.append(key)
            continue
        if len(value) > _MAX_VALUE:
            value = value[: _MAX_VALUE - 14] + "...[truncated]"
        params.append(Param(key, value))
    for start in range(0, len(params), _BATCH):
        client.log_batch(run_id, params=params[start : start + _BATCH])
    if skipped:
        client.set_tag(run_id, "naga.skipped_params", ", ".join(skipped)[:_MAX_VALUE])
    client.log_artifact(run_id, str(folder / LOCK_NAME))


def _promote(client: Any, experiment_id: str, key: str, run_id: str) -> None:
    """Make ``run_id`` the active run of its directory; every writer applies the same rule.

    The newest finished run (by start time, then run id) stays active; every other active run
    of the directory is deprecated and linked to it. Run under a per-directory file lock, and
    safe without it: concurrent writers converge on the same newest run.
    """
    client.set_tag(run_id, TAG_STATUS, "active")
    runs = client.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.`{TAG_HASH}` = '{key}' and tags.`{TAG_STATUS}` = 'active'",
        max_results=50,
    )
    if not runs:
        return
    from mlflow.entities import RunTag

    newest = max(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id)).info.run_id
    older = [run.info.run_id for run in runs if run.info.run_id != newest]
    for old in older:  # one request per run: this matters against a remote server
        client.log_batch(
            old, tags=[RunTag(TAG_STATUS, "deprecated"), RunTag(TAG_SUPERSEDED_BY, newest)]
        )
    if older:
        client.set_tag(newest, TAG_SUPERSEDES, older[-1])


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
