"""Launching many runs of one function: task sources and backends.

``run_sweep`` is imported lazily by ``@clicfg`` only when a task source is given, so this
package's ``__init__`` stays light: it exposes ``SweepOptions`` eagerly and the rest on demand.

A backend implements :class:`Backend`: it gets a list of :class:`Task`, runs them, and reports
each start and end as an :class:`Event` carrying the task's :class:`Outcome` (a
:class:`TaskStatus` and an error). :func:`read_sweep` reads a sweep's state back (``naga
tasks``), reattaching to its Slurm jobs; :func:`debug_task_config` picks one task's config to
run in the current process (``--debug_task``).
"""

from __future__ import annotations

from naga.launch._options import SweepOptions

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from naga.launch._backend import Backend, Event, EventKind, Outcome, Task, TaskStatus
    from naga.launch._sweep import SweepResult, debug_task_config, run_sweep
    from naga.launch._view import SweepView, read_sweep

__all__ = [
    "Backend",
    "Event",
    "EventKind",
    "Outcome",
    "SweepOptions",
    "SweepResult",
    "SweepView",
    "Task",
    "TaskStatus",
    "debug_task_config",
    "read_sweep",
    "run_sweep",
]

_LAZY = {
    "Backend": "_backend",
    "Event": "_backend",
    "EventKind": "_backend",
    "Outcome": "_backend",
    "SweepResult": "_sweep",
    "SweepView": "_view",
    "Task": "_backend",
    "TaskStatus": "_backend",
    "debug_task_config": "_sweep",
    "read_sweep": "_view",
    "run_sweep": "_sweep",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'naga.launch' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"naga.launch.{module}"), name)
