"""The worker side of a sweep: run one task of a ``@clicfg`` function in this process.

``run_task(task)`` is what every worker calls; a :class:`~naga.launch._backend.Task` is plain
data (it pickles for any backend) and the result is an
:class:`~naga.launch._backend.Outcome`.

The user's script is imported once per worker process under the module name ``__naga_task__``
(so its ``if __name__ == '__main__':`` block does not run), the clicfg function is found by name
(following ``__wrapped__`` through outer decorators such as ``unsafe_debug``), and its
``run_resolved`` is called with the task's config while file descriptors 1 and 2 point at the
task's log file.

Run as ``python -m naga.launch._worker``, this module is a long-lived worker process (see
``_process``): tasks arrive as length-prefixed pickles on stdin, outcomes leave on the file
descriptor named by ``NAGA_RESULT_FD``, and stdin is then replaced by /dev/null.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import signal
import struct
import sys
import traceback
from typing import IO, Any

from naga._record import requeue_pending
from naga.launch._backend import Entry, Outcome, Task

__all__ = [
    "entry_of",
    "load_function",
    "load_module",
    "read_frame",
    "run_task",
    "write_frame",
]

_MODULES: dict[str, Any] = {}


def entry_of(command: Any) -> Entry:
    """The importable reference of a clicfg function: its script file, module and name."""
    func = command.__wrapped__
    code = getattr(func, "__code__", None)
    return Entry(
        file=os.path.abspath(code.co_filename) if code else None,
        module=command.__module__,
        name=command.__name__,
    )


def load_module(entry: Entry) -> Any:
    """The module of a task's function, imported once per process (a script as
    ``__naga_task__``)."""
    key = f"{entry.module}:{entry.file}"
    module = _MODULES.get(key)
    if module is None:
        if entry.module not in ("__main__", "__mp_main__", None):
            module = importlib.import_module(entry.module)
        else:
            assert entry.file is not None
            folder = os.path.dirname(entry.file)
            if folder not in sys.path:
                sys.path.insert(0, folder)
            spec = importlib.util.spec_from_file_location("__naga_task__", entry.file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules["__naga_task__"] = module
            spec.loader.exec_module(module)
        _MODULES[key] = module
    return module


def load_function(entry: Entry) -> Any:
    """The clicfg function of a task (found through outer decorators such as unsafe_debug)."""
    target = getattr(load_module(entry), entry.name)
    while not hasattr(target, "run_resolved") and hasattr(target, "__wrapped__"):
        target = target.__wrapped__
    return target


def run_task(task: Task) -> Outcome:
    """Run one task here, its output in its log; return how it ended.

    Whatever the task raises is its own failure, ``KeyboardInterrupt`` included: a stop of the
    sweep is decided by the sweep's process, which stops its workers itself. ``sys.exit()`` and
    ``sys.exit(0)`` are success, as for a script.
    """
    os.environ["NAGA_WORKER"] = "1"
    os.makedirs(os.path.dirname(task.log), exist_ok=True)
    # A task runs where the sweep was started, as it would on the user's machine: relative paths
    # in its config mean the same on a Dask worker started elsewhere. Restored afterwards.
    previous_cwd = os.getcwd()
    os.chdir(task.cwd or previous_cwd)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log_fd = os.open(task.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        load_function(task.entry).run_resolved(task.config, task.provenance)
        return Outcome.done()
    except SystemExit as exc:  # sys.exit() in a task: its status decides, as for a script
        if requeue_pending():  # submitit ends the job it requeues (``_requeue``): not the task
            raise
        if exc.code in (None, 0):
            return Outcome.done()
        traceback.print_exc()
        return Outcome.failed(f"SystemExit: {exc.code}")
    except BaseException as exc:  # the task's failure is reported, the worker lives on
        traceback.print_exc()
        return Outcome.failed(describe(exc))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        os.chdir(previous_cwd)


def describe(exc: BaseException) -> str:
    """``Type: message``, or ``Type`` alone when the message is empty."""
    message = str(exc).strip()
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def read_frame(stream: IO[bytes]) -> Any:
    """Read one length-prefixed pickle; None at end of stream (or of a cut-off frame)."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack(">I", head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def write_frame(stream: IO[bytes], obj: Any) -> None:
    """Write one length-prefixed pickle and flush."""
    data = pickle.dumps(obj)
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def _die_with_parent() -> None:
    """Have Linux kill this worker when the process that started it dies (even by SIGKILL),
    so a worker never outlives its sweep; elsewhere, a no-op."""
    parent = int(os.environ.pop("NAGA_PARENT_PID", "0"))
    if not sys.platform.startswith("linux") or not parent:
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def main() -> None:
    """The worker loop: run the tasks that arrive on stdin until it closes."""
    _die_with_parent()
    tasks = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    result_fd = int(os.environ.pop("NAGA_RESULT_FD"))
    os.set_inheritable(result_fd, False)  # a task's own child processes must not hold it open
    results = os.fdopen(result_fd, "wb")
    try:
        while True:
            try:
                task = read_frame(tasks)
            except Exception as exc:  # a task this process cannot unpickle: it alone fails
                write_frame(results, Outcome.failed(f"cannot read the task: {describe(exc)}"))
                continue
            if task is None:
                break
            write_frame(results, run_task(task))
    except (BrokenPipeError, KeyboardInterrupt):
        return  # the sweep is gone or stopping: leave quietly, the parent reports it


if __name__ == "__main__":
    main()
