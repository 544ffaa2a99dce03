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

TYPE_CHECKING = False

__version__ = "0.1.0.dev0"

# Public name -> module that defines it. Each name is imported on first access.
_EXPORTS: dict[str, str] = {
    "ConfigError": "naga._errors",
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

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from typing import Any

    from naga._debug import unsafe_debug  # noqa: F401
    from naga._errors import (  # noqa: F401
        ConfigError,
        LockError,
        NagaError,
        TaskError,
        TrackingError,
    )
    from naga.config import clicfg  # noqa: F401
    from naga.lock import load_lock, runlock  # noqa: F401
    from naga.tracking import mlflow_lock  # noqa: F401


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'naga' has no attribute {name!r}")
    # __import__ rather than importlib: importing importlib costs start-up time.
    value = getattr(__import__(module_name, fromlist=[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
