"""Every file and folder naga writes, named in one place.

A run folder (``save_dir``) holds::

    run.lock                the receipt (runlock)
    config.json             the resolved config, written before the function runs (clicfg)
    .naga/                  naga's own bookkeeping: mlflow.json (the MLflow run id), locks

A sweep folder also holds ``tasks.yaml`` (which task went where) and ``logs/<label>.log``.
naga's cache (hash manifests, first-contact locks) lives in :func:`cache_dir`.

These names are never data or outputs of a run.
"""

from __future__ import annotations

import os

__all__ = [
    "CONFIG_NAME",
    "LOCK_NAME",
    "LOGS_DIR",
    "MLFLOW_LOCK_NAME",
    "MLFLOW_RUN_NAME",
    "NAGA_DIR",
    "SLURM_DIR",
    "SWEEPS_DIR",
    "TASKS_NAME",
    "cache_dir",
    "is_naga_file",
]

#: The receipt of a run.
LOCK_NAME = "run.lock"
#: The resolved config of a run, written before the function runs.
CONFIG_NAME = "config.json"
#: naga's own folder inside a run folder (and, for sweeps without a save_dir, in the cwd).
NAGA_DIR = ".naga"
#: Inside ``.naga/``: the MLflow run naga logged for this folder.
MLFLOW_RUN_NAME = "mlflow.json"
#: Inside ``.naga/``: the lock that serialises MLflow logging of one folder.
MLFLOW_LOCK_NAME = "mlflow.lock"
#: A sweep's state: which task went where, its status and error.
TASKS_NAME = "tasks.yaml"
#: A sweep's folder of task logs (``logs/<label>.log``).
LOGS_DIR = "logs"
#: A sweep's folder of Slurm job files (submitit's folder).
SLURM_DIR = "slurm"
#: Inside ``.naga/`` of the working directory: sweeps whose config has no save_dir.
SWEEPS_DIR = "sweeps"

_OWN_TOP = frozenset({LOCK_NAME, CONFIG_NAME, NAGA_DIR, TASKS_NAME})


def cache_dir() -> str:
    """naga's cache folder: ``$NAGA_CACHE_DIR``, else ``$XDG_CACHE_HOME/naga``, else ~/.cache/naga."""
    explicit = os.environ.get("NAGA_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "naga")


def is_naga_file(relative: str) -> bool:
    """True when ``relative`` (a path inside a run folder, ``/``-separated) is naga's own file.

    Example:
        >>> [is_naga_file(p) for p in ["run.lock", ".naga/mlflow.json", "out.txt"]]
        [True, True, False]
    """
    top = relative.split("/", 1)[0]
    return top in _OWN_TOP
