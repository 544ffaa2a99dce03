"""MLflow's active run: naga's run made active for the block, and ended at its own time.

``mlflow.start_run(run_id=...)`` and ``mlflow.end_run()`` would cost three store requests more
and end the run at the time of logging; these do what they do for the fluent API (the stack of
active runs, ``mlflow.last_active_run()``), and fall back to them on an MLflow whose internals
moved.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from typing import Any

from naga._urls import redact

__all__ = ["activate", "redacted_stdout", "terminate"]


def activate(run: Any) -> Any:
    """Make ``run`` MLflow's active run (what ``mlflow.start_run(run_id=...)`` does).

    ``start_run`` on an existing run reads it twice and marks it running again: three store
    requests for a run naga has just created, running, with its tags. naga pushes it on
    MLflow's stack of active runs instead, and falls back to ``start_run`` when an MLflow
    version keeps that stack elsewhere.
    """
    import mlflow
    from mlflow.tracking import fluent

    stack = getattr(fluent, "_active_run_stack", None)
    if stack is None or not hasattr(stack, "get"):
        return mlflow.start_run(run_id=run.info.run_id, nested=True)
    active = fluent.ActiveRun(run)
    stack.get().append(active)
    return active


def terminate(client: Any, uri: str, run_id: str, status: str, end: int | None) -> None:
    """End the run with ``status`` at ``end`` (ms; None: now) and take it off MLflow's stack.

    Runs the block started and left open end with it, as ``mlflow.end_run`` would end them.
    The run link MLflow prints (for a server) loses the URI's credentials.
    """
    import mlflow
    from mlflow.tracking import fluent

    stack = getattr(fluent, "_active_run_stack", None)
    with redacted_stdout(uri):
        if stack is not None and hasattr(stack, "get"):
            runs = stack.get()
            ours = [i for i, r in enumerate(runs) if r.info.run_id == run_id]
            while ours and len(runs) > ours[-1] + 1:
                mlflow.end_run(status)
            if ours:
                runs.pop()
                last = getattr(fluent, "_last_active_run_id", None)
                if last is not None and hasattr(last, "set"):
                    last.set(run_id)  # mlflow.last_active_run()
        else:
            mlflow.end_run(status)  # an MLflow without the stack: the end time is set below
        client.set_terminated(run_id, status, end_time=end)


@contextlib.contextmanager
def redacted_stdout(uri: str) -> Iterator[None]:
    """What MLflow prints inside the block, without ``uri``'s credentials."""
    if redact(uri, uri) == uri:
        yield
        return
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            yield
    finally:
        sys.stdout.write(redact(printed.getvalue(), uri))
