"""tasks.yaml: which task went where, its status and error.

::

    tasks:
    - label: param=1
      origin: tasks.txt line 1
      save_dir: results/process/param=1
      key: 3f0c9a1e5b7d2c44          # hash of the task's resolved config: its identity
      log: /abs/results/process/logs/param=1.log
      status: done                   # pending, running, done, failed, interrupted, timeout, lost
      job: '1234_0'                  # on Slurm: its job (array id and index)
      start: '2026-01-02T10:00:00Z'  # when it started (UTC)
      duration_s: 12.3               # how long it ran
      error: ...                     # when it failed
      result: {acc: 0.9}             # the task's result.json, when it returned one

The file is rewritten atomically: at once when the last write is a second old or more, else by
a trailing write a second after the last one, so a finished task never shows as pending or
running for more than about a second, and a sweep of many short tasks does not spend its time
rewriting the file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from naga._atomic import atomic_write_text
from naga._yaml import YAMLError, dump_yaml, load_yaml
from naga.launch._backend import TaskStatus

__all__ = ["StateFile", "TaskRecord", "load_state", "now_stamp", "parse_stamp"]


@dataclass
class TaskRecord:
    """One task's entry in tasks.yaml."""

    label: str
    origin: str
    save_dir: str | None
    key: str
    log: str
    status: TaskStatus = TaskStatus.PENDING
    error: str | None = None
    result: Any = None
    job: str | None = None
    start: str | None = None
    duration_s: float | None = None

    def to_plain(self) -> dict[str, Any]:
        """The entry as written: the status as its string, no ``error`` unless there is one."""
        plain: dict[str, Any] = {
            "label": self.label,
            "origin": self.origin,
            "save_dir": self.save_dir,
            "key": self.key,
            "log": self.log,
            "status": self.status.value,
        }
        for name in ("job", "start", "duration_s"):
            if getattr(self, name) is not None:
                plain[name] = getattr(self, name)
        if self.error is not None:
            plain["error"] = self.error
        if self.result is not None:
            plain["result"] = self.result
        return plain


def now_stamp() -> str:
    """Now, as tasks.yaml writes a time (UTC, like a run's record)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def parse_stamp(stamp: Any) -> float | None:
    """A time tasks.yaml wrote, in seconds since the epoch; None when it is not one.

    Example:
        >>> parse_stamp("1970-01-01T00:01:00Z"), parse_stamp("soon")
        (60.0, None)
    """
    import calendar

    try:
        return float(calendar.timegm(time.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ")))
    except (TypeError, ValueError):
        return None


def load_state(path: Path) -> dict[str, dict[str, Any]]:
    """The entries of an earlier tasks.yaml by key; empty when there is none (or it is unreadable)."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, YAMLError):  # ValueError: UnicodeDecodeError too
        return {}
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, list):
        return {}
    return {str(t["key"]): t for t in tasks if isinstance(t, dict) and "key" in t}


class StateFile:
    """tasks.yaml, kept current while a sweep runs, without rewriting it more than once per
    ``interval`` seconds.

    Args:
        path: The file.
        render: Returns what to write (``{"tasks": [...]}``); called under ``lock``.
        lock: Guards the records ``render`` reads; held by whoever calls :meth:`changed`.
        interval: The shortest time between two writes while tasks run.
    """

    def __init__(
        self,
        path: Path,
        render: Callable[[], Any],
        lock: threading.RLock,
        interval: float = 1.0,
    ) -> None:
        self.path = path
        self._render = render
        self._lock = lock
        self._interval = interval
        self._last = float("-inf")
        self._timer: threading.Timer | None = None
        self._closed = False

    def save(self) -> None:
        """Write the file now (the caller holds the lock, or no other thread runs)."""
        atomic_write_text(self.path, dump_yaml(self._render()))
        self._last = time.monotonic()

    def changed(self) -> None:
        """The records changed (the caller holds the lock): write now, or in a moment."""
        if self._closed:
            return
        wait = self._last + self._interval - time.monotonic()
        if wait <= 0:
            self._cancel()
            self.save()
        elif self._timer is None:
            self._timer = threading.Timer(wait, self._trailing)
            self._timer.daemon = True
            self._timer.start()

    def _trailing(self) -> None:
        with self._lock:
            self._timer = None
            if not self._closed:
                self.save()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        """Write the final state and stop any trailing write."""
        with self._lock:
            self._closed = True
            self._cancel()
            self.save()
