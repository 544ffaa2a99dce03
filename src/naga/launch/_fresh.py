"""Which done tasks to run again, and one sweep per folder at a time.

A rerun of a sweep skips a task only when it is done **and** still up to date: a done task whose
run.lock is stale (judged as ``naga status`` does: what it used changed) runs again, and the
sweep says how many and why. ``--force`` reruns every task; ``--rerun failed`` only the tasks
that did not finish. The tasks of one sweep share their code and data, so they are judged
together and each file, data folder and upstream is checked once.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from naga._errors import TaskError
from naga._paths import LOCK_NAME, NAGA_DIR
from naga.launch._backend import TaskStatus
from naga.launch._options import SweepOptions
from naga.launch._plan import PlannedTask

__all__ = ["SweepLock", "decide_reruns"]

SWEEP_LOCK_NAME = "sweep.lock"


def decide_reruns(
    planned: Sequence[PlannedTask],
    previous: Mapping[str, Mapping[str, Any]],
    options: SweepOptions,
    *,
    quiet: bool = False,
) -> dict[str, str]:
    """``{task key: why}`` for the done tasks that run again (``forced``, or the first reason
    the task is stale); prints one line about them unless ``quiet``."""
    done = [p for p in planned if previous.get(p.key, {}).get("status") == TaskStatus.DONE.value]
    if not done or options.rerun == "failed":
        return {}
    if options.force:
        if not quiet:
            print(f"naga: --force: {len(done)} done task(s) rerun.", file=sys.stderr)
        return {p.key: "forced" for p in done}
    judged = [p for p in done if _has_lock(p)]
    if not judged:
        return {}
    from naga.lock import judge_many

    verdicts = judge_many([str(p.config["save_dir"]) for p in judged])
    stale = {p.key: v.first_reason() for p, v in zip(judged, verdicts, strict=True) if v.stale}
    if stale and not quiet:
        reasons = Counter(stale.values()).most_common(3)
        why = "; ".join(reason for reason, _ in reasons)
        more = (
            f"; +{len(set(stale.values())) - 3} more reasons"
            if len(set(stale.values())) > 3
            else ""
        )
        print(f"naga: {len(stale)} stale ({why}{more}): rerun.", file=sys.stderr)
    return stale


def _has_lock(task: PlannedTask) -> bool:
    save_dir = task.config.get("save_dir")
    return bool(save_dir) and os.path.isfile(os.path.join(str(save_dir), LOCK_NAME))


class SweepLock:
    """An exclusive lock on a sweep folder, held while the sweep runs (``.naga/sweep.lock``).

    A lock of the operating system (``flock``): a sweep that dies releases it with its process,
    so a lock left by a dead sweep is simply taken over. A second sweep on the folder refuses
    with the holder's host and pid, or waits with ``wait=True``.
    """

    def __init__(self, sweep_dir: Path, *, wait: bool = False) -> None:
        self.path = sweep_dir / NAGA_DIR / SWEEP_LOCK_NAME
        self.wait = wait
        self.fd: int | None = None

    def __enter__(self) -> SweepLock:
        self.acquire(refuse=True)
        return self

    def acquire(self, *, refuse: bool = False) -> bool:
        """Take the lock: True when taken; False when another process holds it, or, with
        ``refuse``, a ``TaskError`` naming the holder (or a wait, with ``wait=True``).

        A holder that keeps it only a moment (``naga tasks`` saving what it collected) is
        waited for, up to half a second.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            self._take(fd)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            holder = self._holder(fd)
            if not self.wait:
                os.close(fd)
                if not refuse:
                    return False
                raise TaskError(
                    f"another sweep is running in '{self.path.parent.parent}' ({holder}): wait "
                    f"for it to end, or add --wait to start when it does.",
                    path=str(self.path.parent.parent),
                ) from exc
            print(f"naga: waiting for the sweep of {holder} to end...", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"host": socket.gethostname(), "pid": os.getpid()}).encode(), 0)
        self.fd = fd
        return True

    @staticmethod
    def _take(fd: int) -> None:
        deadline = time.monotonic() + 0.5
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                busy = exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)
                if not busy or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def holder(self) -> str | None:
        """Who holds the lock (``pid 12 on host``), or None when nobody does."""
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return self._holder(fd)
        finally:
            os.close(fd)
        return None

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            data = json.loads(os.pread(fd, 4096, 0) or b"{}")
            return f"pid {data['pid']} on {data['host']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Let the lock go (closing its file releases it)."""
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None
