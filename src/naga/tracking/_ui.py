"""How to open the MLflow UI on a tracking store: the command for a local store, else the URL."""

from __future__ import annotations

import importlib.util
import os
from urllib.parse import quote

from naga._urls import strip_credentials, url_credentials

__all__ = ["ui_hint"]

_DATABASES = ("sqlite", "postgresql", "mysql", "mssql")


def ui_hint(tracking_uri: str | None = None, experiment_id: str | None = None) -> str:
    """One line that says how to open the MLflow UI on ``tracking_uri``; never credentials.

    A server is named by its URL (the experiment's page when ``experiment_id`` is given). A
    local store (sqlite, a database, the file store) gets the ``mlflow ui`` command, with the
    path made absolute so it works from any folder; the UI needs full MLflow (the ``mlflow``
    extra installs mlflow-skinny, which has no UI), so the hint says so when Flask is missing.

    Args:
        tracking_uri: The tracking URI; default MLflow's current one.
        experiment_id: The experiment to open.

    Example:
        >>> ui_hint("http://me:pw@127.0.0.1:5000", "3")
        'MLflow UI: http://127.0.0.1:5000/#/experiments/3'
    """
    if tracking_uri is None:
        import mlflow

        tracking_uri = mlflow.get_tracking_uri()
    page = f"/#/experiments/{quote(experiment_id)}" if experiment_id else ""
    shown = strip_credentials(tracking_uri)
    scheme = tracking_uri.partition("://")[0] if "://" in tracking_uri else ""
    if tracking_uri.startswith("databricks"):
        scheme = "databricks"  # ``databricks``, ``databricks://profile``: not a path
    if scheme in ("http", "https"):
        return f"MLflow UI: {shown.rstrip('/')}{page}"
    if scheme.split("+")[0] not in (*_DATABASES, "file", ""):
        return f"MLflow UI: the one serving tracking URI {shown}"
    store = _absolute(tracking_uri) if scheme in ("sqlite", "file", "") else shown
    hint = (
        f"MLflow UI: mlflow ui --backend-store-uri {store}, then open http://127.0.0.1:5000{page}"
    )
    if url_credentials(tracking_uri):
        hint += " (add the database credentials, left out here)"
    if importlib.util.find_spec("flask") is None:
        hint += '; the UI needs full MLflow: pip install "naga-runs[mlflow-ui]"'
    return hint


def _absolute(uri: str) -> str:
    """A sqlite or file store URI with an absolute path (``sqlite:///x.db`` is relative)."""
    if uri.startswith("sqlite:///"):
        path, query = uri[len("sqlite:///") :], ""
        if "?" in path:
            path, _, query = path.partition("?")
            query = "?" + query
        return f"sqlite:///{os.path.abspath(path)}{query}" if path != ":memory:" else uri
    if uri.startswith("file://"):
        return uri
    if uri.startswith("file:"):
        return f"file://{os.path.abspath(uri[len('file:') :])}"
    return f"file://{os.path.abspath(uri)}"
