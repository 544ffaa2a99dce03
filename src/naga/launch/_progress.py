"""What a sweep shows on stderr: progress while it runs, a summary at the end."""

from __future__ import annotations

import sys
import time
from typing import Any

from naga.launch._backend import Event, EventKind, TaskStatus

__all__ = ["Progress", "print_summary"]

#: How a finished task is named on a plain progress line and in the summary.
_WORDS = {
    TaskStatus.DONE: "done",
    TaskStatus.FAILED: "FAILED",
    TaskStatus.TIMEOUT: "TIMEOUT",
    TaskStatus.INTERRUPTED: "interrupted",
}


class Progress:
    """done / failed / running and elapsed time: a rich progress bar on a terminal, else one
    plain line per finished task (logs and CI output stay readable)."""

    def __init__(self, total: int, skipped: int) -> None:
        self.total, self.done, self.failed, self.running = total, 0, 0, 0
        self.start = time.monotonic()
        if skipped:
            print(f"naga: {skipped} task(s) already done, skipped", file=sys.stderr)
        self.bar: Any = None
        if sys.stderr.isatty() and total:
            self._start_bar()

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as Bar

        self.bar = Bar(
            TextColumn("naga tasks"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
        )
        self.bar.start()
        self.task = self.bar.add_task("tasks", total=self.total, counts=self._counts())

    def _counts(self) -> str:
        return f"done {self.done}, failed {self.failed}, running {self.running}"

    def update(self, event: Event) -> None:
        """Count ``event`` and show the new state."""
        if event.kind is EventKind.START:
            self.running += 1
            status = None
        else:
            self.running -= 1
            status = event.outcome.status if event.outcome else TaskStatus.FAILED
            self.done += status is TaskStatus.DONE
            self.failed += status.is_failure
        finished = self.done + self.failed
        if self.bar is not None:
            self.bar.update(self.task, completed=finished, counts=self._counts())
        elif status is not None:
            print(
                f"naga: {_WORDS.get(status, status.value)} {event.task.label} "
                f"[{finished}/{self.total}] {self._counts()}, "
                f"{time.monotonic() - self.start:.1f}s",
                file=sys.stderr,
                flush=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def print_summary(
    total: int, done: int, skipped: int, failures: dict[str, dict[str, str]], state: str
) -> None:
    """The end of a sweep: counts, each failure with its error and log, what to do next."""
    timeouts = sum(f.get("status") == TaskStatus.TIMEOUT.value for f in failures.values())
    failed = f"{len(failures)} failed" + (f" ({timeouts} timed out)" if timeouts else "")
    print(
        f"naga: {total} task(s): {done} done, {skipped} skipped (done before), {failed}. "
        f"State: {state}",
        file=sys.stderr,
    )
    for label, failure in failures.items():
        word = _WORDS[TaskStatus(failure.get("status", TaskStatus.FAILED.value))]
        print(f"  {word} {label}: {failure['error']}\n    log: {failure['log']}", file=sys.stderr)
    if failures:
        print(
            "naga: rerun the same command to run only the tasks that did not finish.",
            file=sys.stderr,
        )
