"""naga: reproducible, scalable research scripts without changing how they are written.

Four explicit tools, usable alone or together:

- :func:`clicfg`: a full command line from a config class.
- :func:`runlock`: a ``run.lock`` receipt of a run (config, code, data, environment, lineage).
- :func:`mlflow_lock`: an MLflow run for a run directory, one active run per directory.
- :func:`unsafe_debug`: post-mortem debugging with the failing frame's locals at hand.

``import naga`` is light: each name is imported when first used, and heavy libraries (MLflow,
Dask, submitit, IPython, rich) load only when the feature that needs them runs.
"""

from __future__ import annotations

from naga._lazy import lazy_exports as _lazy_exports
from naga._version import __version__ as __version__

TYPE_CHECKING = False

# Public name -> module that defines it. Each name is imported on first access.
_EXPORTS: dict[str, str] = {
    "ConfigError": "naga._errors",
    "GitError": "naga._errors",
    "LockError": "naga._errors",
    "NagaError": "naga._errors",
    "TaskError": "naga._errors",
    "TrackingError": "naga._errors",
    "clicfg": "naga.config",
    "load_lock": "naga.lock",
    "mlflow_lock": "naga.tracking",
    "runlock": "naga.lock",
    "unsafe_debug": "naga._debug",
}

__all__ = [
    "ConfigError",
    "GitError",
    "LockError",
    "NagaError",
    "TaskError",
    "TrackingError",
    "__version__",
    "clicfg",
    "load_lock",
    "mlflow_lock",
    "runlock",
    "unsafe_debug",
]

if TYPE_CHECKING:
    # `X as X`: explicit re-exports, so a user's `mypy --strict` sees every name typed.
    from naga._debug import unsafe_debug as unsafe_debug
    from naga._errors import ConfigError as ConfigError
    from naga._errors import GitError as GitError
    from naga._errors import LockError as LockError
    from naga._errors import NagaError as NagaError
    from naga._errors import TaskError as TaskError
    from naga._errors import TrackingError as TrackingError
    from naga.config import clicfg as clicfg
    from naga.lock import load_lock as load_lock
    from naga.lock import runlock as runlock
    from naga.tracking import mlflow_lock as mlflow_lock


__getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())
