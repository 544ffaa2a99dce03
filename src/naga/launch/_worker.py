"""The worker side of a sweep: run one task of a ``@clicfg`` function in this process.

``run_task(job)`` is what every backend calls in its worker. A job is plain data (it pickles for
any backend)::

    {"index": 3, "label": "param=3", "config": {...resolved config...},
     "log": "/abs/sweep/logs/param=3.log", "cwd": "/abs/where/the/sweep/started",
     "entry": {"file": "/abs/process.py", "module": "__main__", "name": "main"}}

The user's script is imported once per worker process under the module name ``__naga_task__``
(so its ``if __name__ == '__main__':`` block does not run), the clicfg function is found by name
(following ``__wrapped__`` through outer decorators such as ``unsafe_debug``), and its
``run_resolved`` is called with the task's config while file descriptors 1 and 2 point at the
task's log file. Run as ``python -m naga.launch._worker``, this module is the local backend's
long-lived worker: jobs arrive as length-prefixed pickles on stdin, results leave on the file
descriptor named by ``NAGA_RESULT_FD``, and stdin is then replaced by /dev/null.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pickle
import struct
import sys
import traceback
from typing import IO, Any

__all__ = ["entry_of", "read_frame", "run_task", "write_frame"]

_MODULES: dict[str, Any] = {}


def entry_of(command: Any) -> dict[str, Any]:
    """The importable reference of a clicfg function: its script file, module and name."""
    func = command.__wrapped__
    code = getattr(func, "__code__", None)
    return {
        "file": os.path.abspath(code.co_filename) if code else None,
        "module": command.__module__,
        "name": command.__name__,
    }


def _load(entry: dict[str, Any]) -> Any:
    key = f"{entry['module']}:{entry['file']}"
    module = _MODULES.get(key)
    if module is None:
        if entry["module"] not in ("__main__", "__mp_main__", None):
            module = importlib.import_module(entry["module"])
        else:
            folder = os.path.dirname(entry["file"])
            if folder not in sys.path:
                sys.path.insert(0, folder)
            spec = importlib.util.spec_from_file_location("__naga_task__", entry["file"])
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules["__naga_task__"] = module
            spec.loader.exec_module(module)
        _MODULES[key] = module
    target = getattr(module, entry["name"])
    while not hasattr(target, "run_resolved") and hasattr(target, "__wrapped__"):
        target = target.__wrapped__
    return target


def run_task(job: dict[str, Any]) -> dict[str, Any]:
    """Run one task; return ``{"ok": True}`` or ``{"ok": False, "error": "Type: message"}``."""
    os.environ["NAGA_WORKER"] = "1"
    os.makedirs(os.path.dirname(job["log"]), exist_ok=True)
    # A task runs where the sweep was started, as it would on the user's machine: relative paths
    # in its config mean the same on a Dask worker started elsewhere. Restored afterwards.
    previous_cwd = os.getcwd()
    os.chdir(job.get("cwd") or previous_cwd)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log_fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        _load(job["entry"]).run_resolved(job["config"])
        return {"ok": True}
    except KeyboardInterrupt:  # Ctrl-C reached the task: the sweep is being stopped
        traceback.print_exc()
        return {"ok": False, "error": "interrupted", "interrupted": True}
    except SystemExit as exc:  # sys.exit() in a task: its status decides, as for a script
        if exc.code in (None, 0):
            return {"ok": True}
        traceback.print_exc()
        return {"ok": False, "error": f"SystemExit: {exc.code}"}
    except BaseException as exc:  # the task's failure is reported, the worker lives on
        traceback.print_exc()
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()}
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        os.chdir(previous_cwd)


def read_frame(stream: IO[bytes]) -> Any:
    """Read one length-prefixed pickle; None at end of stream."""
    head = stream.read(4)
    if len(head) < 4:
        return None
    (size,) = struct.unpack(">I", head)
    return pickle.loads(stream.read(size))


def write_frame(stream: IO[bytes], obj: Any) -> None:
    """Write one length-prefixed pickle and flush."""
    data = pickle.dumps(obj)
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def main() -> None:
    """The local backend's worker loop."""
    jobs = os.fdopen(os.dup(0), "rb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    results = os.fdopen(int(os.environ["NAGA_RESULT_FD"]), "wb")
    try:
        while (job := read_frame(jobs)) is not None:
            result = run_task(job)
            write_frame(results, result)
            if result.get("interrupted"):
                return
    except (BrokenPipeError, KeyboardInterrupt):
        return  # the sweep was stopped (Ctrl-C): leave quietly, the parent reports it


if __name__ == "__main__":
    main()
