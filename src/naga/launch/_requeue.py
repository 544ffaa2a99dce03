"""What a Slurm job of a sweep runs: one task, requeued on timeout or preemption with submitit's
checkpoint protocol.

submitit sends a job ``USR2`` ``signal_delay_s`` seconds before its time limit (and, on
clusters set up for it, on preemption). Its handler then asks the submitted callable for a
``__submitit_checkpoint__`` or ``checkpoint`` method, calls it with the call's arguments, and
requeues the job with the callable that method returns (``scontrol requeue``), at most
``max_num_timeout`` times for timeouts. :class:`SlurmTask` is that callable. Its
``checkpoint`` counts every requeue, timeouts and preemptions alike, against ``max_num_timeout``
(0 unless the options file sets it), then asks the task's own function:

- a function with a ``checkpoint`` (or ``__submitit_checkpoint__``) attribute gets it called with
  the task's config, in the job's process while the function runs (so it sees the state the
  function keeps in its module): what it returns, a config object or a dict of the config, is
  the config the task resumes with (its ``save_dir`` stays its own); None resumes with the
  same config;
- a function without one restarts with its config.

When no requeue is left, submitit raises ``UncompletedJobError`` inside the running task: the
task ends ``timeout``. A requeue by Slurm itself (``scontrol requeue``, preemption in requeue
mode) sends no ``USR2``: the job restarts the task from the callable it was submitted with (or
the last one a checkpoint saved), and is not counted.

While a job requeued through ``checkpoint`` waits to start again, its task's run record
(``.naga/record.json``) says ``requeued``, not ``failed``: :func:`naga._record.mark_requeue`
tells the record that the ``SystemExit`` submitit raises ends the job, not the run.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import sys
import traceback
from typing import Any

from naga.launch._backend import Outcome, Task, TaskStatus

__all__ = ["SlurmTask", "find_hook"]

_HOOKS = ("__submitit_checkpoint__", "checkpoint")


class SlurmTask:
    """A task as a Slurm job runs it: ``SlurmTask(task, max_requeues)()`` is its outcome.

    Attributes:
        task: The task (its config is the one to resume with after a requeue).
        max_requeues: How many times the job may be requeued (``max_num_timeout``).
        requeues: How many times it was requeued so far.
    """

    def __init__(self, task: Task, max_requeues: int, requeues: int = 0) -> None:
        self.task = task
        self.max_requeues = max_requeues
        self.requeues = requeues

    def __call__(self) -> Outcome:
        from naga.launch._process import run_limited

        try:
            outcome = run_limited(self.task)
        except SystemExit:
            self._record_requeue()
            raise
        if outcome.status is TaskStatus.FAILED and (outcome.error or "").startswith(
            "UncompletedJobError"
        ):
            return Outcome(TaskStatus.TIMEOUT, self._limit_message())
        return outcome

    def _record_requeue(self) -> None:
        """When submitit ends the job for a requeue, the task's record says ``requeued``, not
        ``running``: a task run in a process of its own (``--task_timeout``) was killed with
        it, and wrote no end of its own (one run here wrote ``requeued`` itself)."""
        from naga._record import record_requeue, requeue_pending

        save_dir = self.task.config.get("save_dir")
        if requeue_pending() and save_dir:  # a relative save_dir is the task's, from its cwd
            record_requeue(os.path.join(self.task.cwd, str(save_dir)))

    def _limit_message(self) -> str:
        return (
            f"stopped by Slurm (time limit or preemption) after {self.requeues} requeue(s); "
            f"max_num_timeout is {self.max_requeues} (set it in --slurm_config to requeue more)"
        )

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit's hook, called from its signal handler: what to requeue, or None for no
        requeue (submitit then stops the task with ``UncompletedJobError``)."""
        from submitit.helpers import DelayedSubmission

        if self.requeues >= self.max_requeues:
            _say(f"naga: {self._limit_message()}: not requeued.")
            return None
        config = self._resume_config()
        how = "resumes from its checkpoint()" if config is not self.task.config else "restarts"
        _say(
            f"naga: Slurm signalled the time limit or a preemption: the job is requeued "
            f"({self.requeues + 1} of max_num_timeout {self.max_requeues}); the task {how}."
        )
        from naga._record import mark_requeue

        mark_requeue()  # the SystemExit submitit raises next ends the job, not the run
        task = dataclasses.replace(self.task, config=config)
        return DelayedSubmission(SlurmTask(task, self.max_requeues, self.requeues + 1))

    def _resume_config(self) -> dict[str, Any]:
        """The config the task resumes with: its function's checkpoint's, or its own."""
        try:
            found = find_hook(self.task.entry)
            if found is None:
                return self.task.config
            hook, target = found
            config = copy.deepcopy(self.task.config)
            new = hook(target.spec.instantiate(config))
            if new is None:
                return self.task.config
            from naga._plain import to_plain

            plain = to_plain(new)
            if not isinstance(plain, dict):
                raise TypeError(f"checkpoint() returned {type(new).__name__}, not a config")
            target.spec.instantiate(plain)  # a bad config fails here, not after the requeue
            if "save_dir" in self.task.config:
                plain["save_dir"] = self.task.config["save_dir"]
            return plain
        except Exception:  # the task restarts rather than dies in a signal handler
            _say("naga: the task's checkpoint() failed; it restarts from its start:")
            traceback.print_exc()
            return self.task.config


def find_hook(entry: Any) -> tuple[Any, Any] | None:
    """``(checkpoint hook, clicfg function)`` of a task's function, or None when it offers none.

    The hook is looked for on the script's object and on every function it wraps (``@clicfg``
    keeps the attributes of the function it decorates).
    """
    from naga.launch._worker import load_function, load_module

    target = load_function(entry)
    node: Any = getattr(load_module(entry), entry.name)
    seen: set[int] = set()
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        for name in _HOOKS:
            hook = getattr(node, name, None)
            if callable(hook):
                return hook, target
        node = getattr(node, "__wrapped__", None)
    return None


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
