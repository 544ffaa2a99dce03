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
    "RECORD_NAME",
    "RESULT_NAME",
    "SLURM_DIR",
    "SWEEPS_DIR",
    "TASKS_NAME",
    "cache_dir",
    "is_naga_file",
    "is_own_temp",
    "own_names",
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
#: The JSON return value of a run, beside run.lock.
RESULT_NAME = "result.json"
#: Inside ``.naga/``: the run's record (status, times, host, pid, failure).
RECORD_NAME = "record.json"

_RUN_OWN = frozenset({LOCK_NAME, CONFIG_NAME, NAGA_DIR, RESULT_NAME})
_SWEEP_OWN = frozenset({TASKS_NAME, LOGS_DIR, SLURM_DIR})
_OWN_TOP = _RUN_OWN | _SWEEP_OWN


def cache_dir() -> str:
    """naga's cache folder: ``$NAGA_CACHE_DIR``, else ``$XDG_CACHE_HOME/naga``, else ~/.cache/naga."""
    explicit = os.environ.get("NAGA_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "naga")


def own_names(names: set[str] | frozenset[str]) -> frozenset[str]:
    """Which of a folder's entry ``names`` are naga's own (empty unless it is a run folder).

    A run folder holds run.lock or ``.naga/``; a sweep folder holds tasks.yaml. In them, naga's
    files (run.lock, config.json, result.json, ``.naga/``; tasks.yaml, ``logs/``, ``slurm/``) are
    never data or outputs. Anywhere else every name is the user's.

    Example:
        >>> sorted(own_names({"run.lock", "config.json", "out.txt"}))
        ['config.json', 'run.lock']
        >>> sorted(own_names({"config.json", "out.txt"}))
        []
    """
    found: frozenset[str] = frozenset()
    own: frozenset[str] = frozenset()
    if LOCK_NAME in names or NAGA_DIR in names:
        own = _RUN_OWN
    if TASKS_NAME in names:
        own = _SWEEP_OWN | _RUN_OWN
    if own:
        found = own & names
        # The temp files a killed writer left beside them (``.config.json.<pid>.<ns>.0.tmp``).
        found |= {n for n in names if is_own_temp(n)}
    return found


def is_own_temp(name: str) -> bool:
    """True for the temp file of an atomic write of one of naga's files (see naga._atomic).

    Example:
        >>> is_own_temp(".config.json.4242.123.0.tmp"), is_own_temp(".data.csv.tmp")
        (True, False)
    """
    if not (name.startswith(".") and name.endswith(".tmp")):
        return False
    return any(name.startswith(f".{own}.") for own in (*_RUN_OWN, TASKS_NAME))


def is_naga_file(relative: str) -> bool:
    """True when ``relative`` (a path inside a run folder, ``/``-separated) is naga's own file.

    Example:
        >>> [is_naga_file(p) for p in ["run.lock", ".naga/mlflow.json", "out.txt"]]
        [True, True, False]
    """
    top = relative.split("/", 1)[0]
    return top in _OWN_TOP
