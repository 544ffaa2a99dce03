"""``mlflow_lock``: an MLflow run for a run directory, exactly one active run per directory.

MLflow is imported when the context manager is entered, never when naga is imported.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from naga._atomic import atomic_write_text
from naga._errors import LockError, TrackingError, require
from naga._paths import LOCK_NAME, MLFLOW_LOCK_NAME, MLFLOW_RUN_NAME, NAGA_DIR, cache_dir
from naga._plain import flatten
from naga._urls import basic_auth_header, redact, strip_credentials, url_credentials
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
# sqlite stores this process has opened: MLflow keeps each open store for the process's life,
# so the first-contact lock is needed once per process and store.
_OPENED: set[str] = set()


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
    is marked ``deprecated`` and the two are linked both ways. (When logs of one directory race,
    the run that started last wins; see :func:`_promote`.) The active run's id is remembered in
    ``<save_dir>/.naga/mlflow.json``. An exception ends the run FAILED, propagates, and leaves the
    previous active run active.

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
    from mlflow.exceptions import MlflowException

    uri = mlflow.get_tracking_uri()
    _check_reachable(uri)
    try:
        client = _client(uri)
        experiment_id = _experiment_id(client, uri, experiment)
    except MlflowException as exc:
        raise TrackingError(_store_error(uri, exc), value=strip_credentials(uri)) from exc
    lock = _read_lock(folder)
    key = logical_hash(folder)
    name = run_name or "/".join(folder.parts[-2:])
    run_tags = {
        TAG_ID: str(folder),
        TAG_HASH: key,
        TAG_STATUS: "running",
        "mlflow.runName": name,
        **_lock_tags(lock, client, folder, uri),
        **(tags or {}),
    }
    run = client.create_run(experiment_id, tags=run_tags, run_name=name)
    run_id = run.info.run_id
    _log_lock(client, run_id, folder, lock)
    nested = mlflow.active_run() is not None
    active = mlflow.start_run(run_id=run_id, nested=nested)
    try:
        yield active
    except BaseException:
        client.set_tag(run_id, TAG_STATUS, "failed")
        _end_run(uri, "FAILED")
        raise
    _end_run(uri, "FINISHED")
    # One writer at a time per directory: the promotion and the memory of the active run are
    # decided together, from what the server says under the lock.
    with _file_lock(folder / NAGA_DIR / MLFLOW_LOCK_NAME):
        winner = _promote(client, experiment_id, key, run, _remembered(folder, uri, experiment_id))
        memory = {
            "run_id": winner,
            "experiment_id": experiment_id,
            "tracking_uri": strip_credentials(uri),
        }
        atomic_write_text(folder / MEMORY_FILE, json.dumps(memory, indent=2) + "\n")


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
    memory = remembered_run(folder) or {}
    if strip_credentials(str(memory.get("tracking_uri"))) != strip_credentials(uri):
        return None
    if experiment_id is not None and str(memory.get("experiment_id")) != experiment_id:
        return None
    return str(memory["run_id"]) if memory.get("run_id") else None


def _check_reachable(uri: str) -> None:
    """A 5 s ``/health`` request to an http(s) server, with the credentials MLflow would send.

    MLflow's HTTP client sends the URI's ``user:password@`` as basic auth, else
    ``MLFLOW_TRACKING_USERNAME``/``MLFLOW_TRACKING_PASSWORD``, else ``MLFLOW_TRACKING_TOKEN`` as a
    bearer token; so does this check. Messages name the URI without its credentials.
    """
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request

    shown = strip_credentials(uri)
    request = urllib.request.Request(shown.rstrip("/") + "/health")
    authorization = _authorization(uri)
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=5):
            return
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in (401, 403):
            raise TrackingError(
                f"MLflow tracking server {shown} refused naga's credentials (HTTP {exc.code}): "
                f"put user:password@ in MLFLOW_TRACKING_URI, or set MLFLOW_TRACKING_USERNAME "
                f"and MLFLOW_TRACKING_PASSWORD.",
                value=shown,
            ) from exc
        if exc.code < 500:
            return  # the server answered: MLflow itself says what it makes of the requests
        raise TrackingError(_unreachable(shown, f"HTTP {exc.code}"), value=shown) from exc
    except (urllib.error.URLError, OSError) as exc:
        why = redact(str(getattr(exc, "reason", exc)), uri)
        raise TrackingError(_unreachable(shown, why), value=shown) from exc


def _unreachable(shown: str, why: str) -> str:
    return (
        f"MLflow tracking server {shown} is unreachable ({why}): start it, or set "
        f"MLFLOW_TRACKING_URI to a reachable server (unset: a local mlflow.db)."
    )


def _authorization(uri: str) -> str | None:
    """The ``Authorization`` header MLflow's client sends to ``uri`` (none for no credentials)."""
    in_uri = url_credentials(uri)
    if in_uri:
        return basic_auth_header(*in_uri)
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        return basic_auth_header(user, password)
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    return f"Bearer {token}" if token else None


def _end_run(uri: str, status: str) -> None:
    """``mlflow.end_run``; the run link MLflow prints loses the URI's credentials."""
    import mlflow

    if redact(uri, uri) == uri:
        mlflow.end_run(status)
        return
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            mlflow.end_run(status)
    finally:
        sys.stdout.write(redact(printed.getvalue(), uri))


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
    why = redact(str(getattr(exc, "message", exc)), uri)
    return f"MLflow tracking store {strip_credentials(uri)} cannot be used: {why}"


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:///") and uri not in _OPENED:
        # Several processes creating a brand-new sqlite store at once corrupt it for good
        # (alembic migrations race): the first contact is serialised with a lock beside it.
        # The lock lives in naga's cache, keyed by the store's path, not beside the user's files.
        db = os.path.abspath(uri[len("sqlite:///") :])
        _check_sqlite_path(db)
        with _file_lock(Path(cache_dir()) / "locks" / f"mlflow-{logical_hash(Path(db))}.lock"):
            try:
                client = MlflowClient(uri)
                client.search_experiments(max_results=1)
            except Exception as exc:  # sqlalchemy's or sqlite's own error: a corrupt store
                if type(exc).__name__ == "MlflowException":
                    raise
                raise TrackingError(
                    f"the MLflow store {db} cannot be opened ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0]}): it is not a usable sqlite database; move it "
                    f"aside, or set MLFLOW_TRACKING_URI to another file.",
                    path=db,
                ) from exc
        _OPENED.add(uri)
        return client
    client = MlflowClient(uri)
    if "://" not in uri or uri.startswith("file:"):
        client.search_experiments(max_results=1)  # a refused file store says so here
    return client


def _check_sqlite_path(db: str) -> None:
    """A sqlite store under a regular file (or a folder where the file should be) is said
    plainly: MLflow would fail creating its folder with a bare FileExistsError."""
    for parent in Path(db).parents:
        if parent.exists():
            if not parent.is_dir():
                raise TrackingError(
                    f"the MLflow store {db} lies under '{parent}', which is a file, not a "
                    f"folder: set MLFLOW_TRACKING_URI to a path in a folder "
                    f"(sqlite:///mlflow.db).",
                    path=str(parent),
                )
            break
    if os.path.isdir(db):
        raise TrackingError(
            f"the MLflow store {db} is a folder: set MLFLOW_TRACKING_URI to a sqlite file "
            f"(sqlite:///{os.path.join(db, 'mlflow.db')}).",
            path=db,
        )


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
        raise TrackingError(
            f"MLflow at {strip_credentials(uri)} refused experiment {name!r}: "
            f"{redact(str(exc.message), uri)}",
            value=name,
        ) from exc


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


def _lock_tags(lock: dict[str, Any] | None, client: Any, folder: Path, uri: str) -> dict[str, str]:
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
            if repo.get("remote"):  # run.lock files of older naga versions kept tokens
                tags["mlflow.source.git.repoURL"] = strip_credentials(str(repo["remote"]))
        for field in ("commit", "dirty", "snapshot", "branch"):
            if repo.get(field) is not None:
                tags[_key(f"naga.repo.{name}.{field}")[:_MAX_KEY]] = str(repo[field])
    for name, entry in (lock.get("data") or {}).items():
        tags[_key(f"naga.data.{name}.hash")[:_MAX_KEY]] = str(entry.get("hash"))
    for index, path in enumerate(lock.get("prevs") or {}):
        tags[f"naga.prev.{index}.path"] = str(path)
        # A receipt stores an upstream relative to its own folder (absolute in version 1).
        run_id = _prev_run_id((folder / str(path)).resolve(), client, uri)
        if run_id:
            tags[f"naga.prev.{index}.run_id"] = run_id
    return tags


def _prev_run_id(folder: Path, client: Any, uri: str) -> str | None:
    """The active run of a previous stage: the one its folder remembers for this store."""
    remembered = _remembered(folder, uri)
    if remembered:
        return remembered
    runs = client.search_runs(
        experiment_ids=[e.experiment_id for e in client.search_experiments()],
        filter_string=f"tags.`{TAG_HASH}` = '{logical_hash(folder)}' and tags.`{TAG_STATUS}` = 'active'",
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def _log_lock(client: Any, run_id: str, folder: Path, lock: dict[str, Any] | None) -> None:
    """The config as params, with the list of skipped keys, in one ``log_batch`` per 100 params."""
    from mlflow.entities import Param, RunTag

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
    tags = [RunTag("naga.skipped_params", ", ".join(skipped)[:_MAX_VALUE])] if skipped else []
    for start in range(0, max(len(params), len(tags)), _BATCH):
        client.log_batch(run_id, params=params[start : start + _BATCH], tags=tags)
        tags = []
    client.log_artifact(run_id, str(folder / LOCK_NAME))


def _promote(client: Any, experiment_id: str, key: str, run: Any, previous: str | None) -> str:
    """Settle the directory's active run now that ``run`` finished; return the active run.

    Every writer applies the same rule: the newest finished run (by start time, then run id)
    is the one active run; every other run that is active is deprecated and points at it, and
    the winner points back at the run it replaced. A run that started before the active one
    but finished after it loses: it is deprecated at once and the active run is left as it is.

    The caller holds the per-directory file lock, so the one look-up below sees every finished
    run of the directory and the run returned is the active one, to be remembered. The rule is
    also safe without the lock: ``run`` is marked active before the look-up, so of two
    concurrent writers at least one sees the other, and both deprecate the same runs.

    Args:
        client: The MLflow client.
        experiment_id: The experiment of ``run``.
        key: The directory's :func:`logical_hash`.
        run: The run that just finished (as ``create_run`` returned it).
        previous: The active run the directory remembers: the link to it is set with the
            status in one request, and corrected only when the look-up disagrees.
    """
    from mlflow.entities import RunTag

    run_id = run.info.run_id
    guess = [RunTag(TAG_SUPERSEDES, previous)] if previous else []
    client.log_batch(run_id, tags=[RunTag(TAG_STATUS, "active"), *guess])
    runs = client.search_runs(
        experiment_ids=[experiment_id],
        filter_string=f"tags.`{TAG_HASH}` = '{key}' and tags.`{TAG_STATUS}` = 'active'",
        max_results=50,
    )
    order = {r.info.run_id: (r.info.start_time or 0, r.info.run_id) for r in runs}
    order.setdefault(run_id, (run.info.start_time or 0, run_id))  # a store that lags behind
    winner = max(order, key=order.__getitem__)
    older = sorted((r for r in order if r != winner), key=order.__getitem__)
    for old in older:  # one request per run: this matters against a remote server
        client.log_batch(
            old, tags=[RunTag(TAG_STATUS, "deprecated"), RunTag(TAG_SUPERSEDED_BY, winner)]
        )
    replaced = older[-1] if winner == run_id and older else None
    if replaced and replaced != previous:
        client.set_tag(run_id, TAG_SUPERSEDES, replaced)
    elif previous and not replaced:
        client.delete_tag(run_id, TAG_SUPERSEDES)  # lost the race, or nothing was active
    return winner


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
