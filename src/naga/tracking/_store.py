"""Connecting to MLflow: the tracking server's health, the store, the experiment.

Every way a store cannot be used becomes a ``TrackingError`` that names the URI without its
credentials and says what to do.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from naga._errors import TrackingError
from naga._paths import cache_dir
from naga._urls import basic_auth_header, redact, strip_credentials, url_credentials

__all__ = ["connect", "file_lock", "logical_hash"]

# sqlite stores this process has opened: MLflow keeps each open store for the process's life,
# so the first-contact lock is needed once per process and store.
_OPENED: set[str] = set()


def logical_hash(save_dir: Path) -> str:
    """The look-up key of a run directory: xxh3-64 of its resolved path (quotes-safe)."""
    import xxhash

    return xxhash.xxh3_64_hexdigest(str(save_dir).encode())


def connect(uri: str, experiment: str | None) -> tuple[Any, str]:
    """An ``MlflowClient`` for ``uri`` and the id of ``experiment``, or a ``TrackingError``.

    A server is asked for ``/health`` first (5 s); a new sqlite store is opened under a lock;
    a store MLflow refuses (the file store, a corrupt database) is explained with its fix.
    """
    from mlflow.exceptions import MlflowException

    _check_reachable(uri)
    try:
        client = _client(uri)
        return client, _experiment_id(client, uri, experiment)
    except MlflowException as exc:
        raise TrackingError(_store_error(uri, exc), value=strip_credentials(uri)) from exc


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
        with file_lock(Path(cache_dir()) / "locks" / f"mlflow-{logical_hash(Path(db))}.lock"):
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


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created, with its folder) for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
