"""The record of a run: its status, times, host and pid, command line, failure, and result.

Every run started through ``@clicfg`` with a ``save_dir`` keeps ``<save_dir>/.naga/record.json``,
written atomically when it starts and when it ends, and writes the function's JSON return value
to ``<save_dir>/result.json``. A run whose process died (kill -9, a lost node) still says
``running`` on disk; :func:`read_record` reports it as ``died`` when its pid is gone on this host.
A run whose Slurm job submitit requeues (the time limit, a preemption) ends ``requeued``, not
``failed``: it starts again, ``running``, when the job does.

Written on the start-up path of every script: only ``os``, ``json`` and ``time`` are used.
"""

from __future__ import annotations

import json
import os
import sys
import time

from naga._atomic import atomic_write_text
from naga._paths import NAGA_DIR, RECORD_NAME, RESULT_NAME

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "RunRecord",
    "is_metrics",
    "mark_requeue",
    "read_record",
    "read_result",
    "record_requeue",
    "requeue_pending",
    "start_record",
    "write_result",
]

#: The statuses a record can hold; ``died`` is only ever read, never written.
STATUSES = ("running", "done", "failed", "interrupted", "requeued", "died")

#: Set in a Slurm job that submitit is requeueing (``naga.launch._requeue``): the ``SystemExit``
#: it then raises in the running task ends the job, not the run, which starts again with the job.
_REQUEUE = {"pending": False}


def mark_requeue() -> None:
    """This process is ending because its Slurm job is being requeued: a run it stops now is
    ``requeued``, and its exit goes through the worker to submitit."""
    _REQUEUE["pending"] = True


def requeue_pending() -> bool:
    """True once :func:`mark_requeue` was called in this process."""
    return _REQUEUE["pending"]


_STAMP = "%Y-%m-%dT%H:%M:%SZ"


def _now() -> str:
    return time.strftime(_STAMP, time.gmtime())


def _proc_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux): tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[-1].split()
        return fields[19]
    except (OSError, IndexError):
        return None


class RunRecord:
    """The record of one run in ``<save_dir>/.naga/record.json``."""

    def __init__(self, save_dir: str, data: dict[str, Any]) -> None:
        self.file = os.path.join(save_dir, NAGA_DIR, RECORD_NAME)
        self.data = data
        self._clock = time.monotonic()

    def _write(self) -> None:
        # Rewritten twice a run: atomic for every reader, without the cost of two fsyncs.
        atomic_write_text(
            self.file, json.dumps(self.data, indent=2, default=str) + "\n", durable=False
        )

    def finish(self, status: str, error: BaseException | None = None) -> None:
        """Write how the run ended: ``done``, ``failed``, ``interrupted`` or ``requeued``, and
        the failure."""
        self.data["status"] = status
        self.data["end"] = _now()
        self.data["duration_s"] = round(time.monotonic() - self._clock, 3)
        if error is not None:
            self.data["error"] = describe_error(error)
        self._write()

    def finish_exit(self, exc: SystemExit) -> None:
        """Write how a ``SystemExit`` ended the run: ``requeued`` when submitit raised it to end
        a job it requeues (whatever its code: -1, or 144 for submitit's local executor),
        otherwise ``done`` for status 0 or None and ``failed`` for any other, as for a script."""
        if requeue_pending():
            self.finish("requeued")
        elif exc.code in (None, 0):
            self.finish("done")
        else:
            self.finish("failed", exc)


def start_record(save_dir: str, command: list[str] | None = None) -> RunRecord:
    """Write a ``running`` record for a run that starts now in ``save_dir``."""
    pid = os.getpid()
    record = RunRecord(
        save_dir,
        {
            "status": "running",
            "start": _now(),
            "host": os.uname().nodename if hasattr(os, "uname") else "",
            "pid": pid,
            "pid_start": _proc_start(pid),
            "command": list(command if command is not None else getattr(sys, "orig_argv", [])),
            "cwd": os.getcwd(),
        },
    )
    record._write()
    return record


def describe_error(error: BaseException) -> dict[str, Any]:
    """The exception's type, message and the file:line where it was raised: in the user's code
    when naga raised it on the user's behalf (a runlock whose data path is missing)."""
    own = os.path.dirname(os.path.abspath(__file__)) + os.sep
    where = user_where = None
    tb = error.__traceback__
    while tb is not None:
        file = tb.tb_frame.f_code.co_filename
        where = f"{file}:{tb.tb_lineno}"
        if not os.path.abspath(file).startswith(own):
            user_where = where
        tb = tb.tb_next
    return {"type": type(error).__name__, "message": str(error), "where": user_where or where}


def read_record(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The record of the run in ``folder``, or None when it has none (or an unreadable one).

    A ``running`` record whose process is gone from this host reads as ``died``.
    """
    data = _load(folder)
    if data is not None and data["status"] == "running" and _gone(data):
        data["status"] = "died"
    return data


def record_requeue(save_dir: str) -> bool:
    """Mark ``requeued`` the record a run left ``running`` when the requeue of its Slurm job
    killed it in a process of its own (``--task_timeout``): the job's process writes the run's
    end for it, once that process is gone. True when the record was rewritten.

    A record that says anything else is left as it is: the run wrote its own end (``requeued``
    when it ran in the job's process), or it never started.
    """
    data = _load(save_dir)
    if data is None or data["status"] != "running":
        return False
    data["status"] = "requeued"
    data["end"] = _now()
    started = _seconds(data.get("start"))
    if started is not None:
        data["duration_s"] = round(time.time() - started, 3)
    RunRecord(save_dir, data)._write()
    return True


def _load(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The record as it is on disk, or None when it is missing, unreadable or of another shape."""
    file = os.path.join(os.fspath(folder), NAGA_DIR, RECORD_NAME)
    try:
        with open(file, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("status") not in STATUSES:
        return None
    return data


def _seconds(stamp: Any) -> float | None:
    """Seconds since the epoch of a record's UTC time stamp, or None when it is not one."""
    import calendar  # only on the rare requeue path: the start-up path stays os, json and time

    try:
        return float(calendar.timegm(time.strptime(str(stamp), _STAMP)))
    except ValueError:
        return None


def _gone(data: dict[str, Any]) -> bool:
    host = os.uname().nodename if hasattr(os, "uname") else ""
    pid = data.get("pid")
    if data.get("host") != host or not isinstance(pid, int) or pid <= 0:
        return False  # another machine's run: cannot tell from here
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # alive, someone else's
    started = data.get("pid_start")
    return started is not None and _proc_start(pid) not in (None, started)


def write_result(save_dir: str, value: Any, *, name: str = "the function") -> bool:
    """Write ``value`` to ``<save_dir>/result.json`` when JSON can hold it; True if written.

    A value JSON cannot hold (an object, NaN) is skipped with one line on stderr, never an error;
    None writes nothing.
    """
    if value is None:
        return False
    try:
        text = json.dumps(value, indent=2, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        print(
            f"naga: the return value of {name} ({type(value).__name__}) is not kept in "
            f"{RESULT_NAME}: JSON cannot hold it ({exc}).",
            file=sys.stderr,
        )
        return False
    atomic_write_text(os.path.join(save_dir, RESULT_NAME), text + "\n")
    return True


def read_result(folder: str | os.PathLike[str]) -> Any:
    """The run's ``result.json``, or None."""
    try:
        with open(os.path.join(os.fspath(folder), RESULT_NAME), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def is_metrics(result: Any) -> bool:
    """True for a flat mapping of numbers: the run's metrics (shown in tables, logged to MLflow)."""
    return (
        isinstance(result, dict)
        and bool(result)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in result.values())
    )
