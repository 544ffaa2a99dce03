"""Launching many runs of one function: task sources and backends.

``run_sweep`` is imported lazily by ``@clicfg`` only when a task source is given, so this
package's ``__init__`` stays light: it exposes ``SweepOptions`` eagerly and the rest on demand.
"""

from __future__ import annotations

from naga.launch._options import SweepOptions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from naga.launch._sweep import SweepResult, run_sweep

__all__ = ["SweepOptions", "SweepResult", "run_sweep"]


def __getattr__(name: str) -> Any:
    if name in ("run_sweep", "SweepResult"):
        from naga.launch import _sweep

        return getattr(_sweep, name)
    raise AttributeError(f"module 'naga.launch' has no attribute {name!r}")
