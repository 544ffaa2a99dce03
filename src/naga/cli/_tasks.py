"""``naga tasks DIR``: a sweep's state (counts, then each task's status, job, duration and log),
read from its tasks.yaml and, for Slurm jobs no sweep process watches, from Slurm itself;
``--watch`` follows it until every task has ended.

::

    results/sweep: 4 task(s): 2 done, 1 running, 1 pending (no sweep process attached)
      STATUS   TASK      JOB    DURATION  LOG
      done     param=1   812_0  3.1s      /home/me/proj/results/sweep/logs/param=1.log
      running  param=2   812_1  0:41      /home/me/proj/results/sweep/logs/param=2.log
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

__all__ = ["add_tasks_parser", "show_tasks"]

_COLORS = {
    "done": "32",
    "failed": "31",
    "timeout": "31",
    "lost": "31",
    "running": "36",
    "interrupted": "33",
}
_ORDER = ("done", "running", "pending", "failed", "timeout", "lost", "interrupted")


def add_tasks_parser(add: Any) -> None:
    """Register ``naga tasks`` with the ``add(name, help, example)`` of ``naga``'s parser."""
    tasks = add(
        "tasks",
        "show a sweep's tasks: counts, then each task's status, Slurm job, duration and log; "
        "collects Slurm jobs that ended while no sweep watched them",
        "naga tasks results/sweep --watch",
    )
    tasks.add_argument(
        "dir", metavar="DIR", help="the sweep's folder (its save_dir), or its tasks.yaml"
    )
    tasks.add_argument(
        "--watch", action="store_true", help="refresh until every task has ended (Ctrl-C stops)"
    )
    tasks.add_argument(
        "--interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between two refreshes of --watch (default 5)",
    )


def show_tasks(args: Any) -> int:
    """Run ``naga tasks``: 0 when no task failed, timed out or was lost, else 1."""
    from naga._errors import NagaError
    from naga.launch import read_sweep

    if not args.interval > 0:
        raise NagaError(
            f"--interval {args.interval}: give the seconds between two refreshes, more than 0.",
            value=args.interval,
        )
    view = read_sweep(args.dir)
    if args.watch:
        try:
            view = _watch(args, view, read_sweep)
        except KeyboardInterrupt:
            print("", file=sys.stderr)
            return 130
    if args.json:
        print(json.dumps(view.as_dict(), indent=2, default=str))
    elif not (args.watch and sys.stdout.isatty()):
        _print(view)
    counts = view.counts
    return 1 if counts["failed"] + counts["timeout"] + counts["lost"] else 0


def _watch(args: Any, view: Any, read: Any) -> Any:
    """Refresh every ``--interval`` seconds until the sweep has ended: on a terminal the table
    is redrawn; otherwise one line per task whose status changed."""
    tty = sys.stdout.isatty() and not args.json
    seen = {str(task.get("label")): task.get("status") for task in view.tasks}
    if not tty and not args.json:
        print(_headline(view), flush=True)
    while True:
        if tty:
            sys.stdout.write("\033[H\033[J")
            _print(view)
            sys.stdout.flush()
        elif not args.json:
            for task in view.tasks:
                label, status = str(task.get("label")), task.get("status")
                if seen.get(label) != status:
                    seen[label] = status
                    print(f"naga: {status} {label} ({_counts(view)})", flush=True)
        if view.finished:
            return view
        time.sleep(args.interval)
        view = read(args.dir)


def _counts(view: Any) -> str:
    counts = view.counts
    shown = [f"{counts[s]} {s}" for s in _ORDER if counts.get(s) or s in ("done", "running")]
    return ", ".join(shown)


def _headline(view: Any) -> str:
    who = f"run by {view.holder}" if view.holder else "no sweep process attached"
    return f"{view.folder}: {len(view.tasks)} task(s): {_counts(view)} ({who})"


def _print(view: Any) -> None:
    print(_headline(view))
    if view.collected:
        print(f"  collected {view.collected} task(s) whose Slurm job ended; saved in tasks.yaml")
    rows = [["STATUS", "TASK", "JOB", "DURATION", "LOG"]]
    errors: dict[int, str] = {}
    for task in view.tasks:
        status = str(task.get("status"))
        if task.get("queue") and task["queue"] not in ("RUNNING", "PENDING"):
            status += f" ({task['queue'].lower()})"
        rows.append(
            [
                status,
                str(task.get("label")),
                str(task.get("job") or "-"),
                _duration(task),
                str(task.get("log") or "-"),
            ]
        )
        if task.get("error"):
            errors[len(rows) - 1] = str(task["error"])
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for number, row in enumerate(rows):
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        if number:
            cells[0] = _color(cells[0], _COLORS.get(row[0].split()[0], ""))
        print("  " + "  ".join([*cells, row[-1]]).rstrip())
        if number in errors:
            print(f"      {errors[number]}")
    orphaned = view.orphaned
    if orphaned:
        print(
            f"  {len(orphaned)} task(s) say running or pending, but no sweep process runs them "
            f"(it was killed): rerun the sweep's command to run them."
        )
    if view.counts["lost"]:
        print("  rerun the sweep's command to run the lost task(s) again.")


def _duration(task: dict[str, Any]) -> str:
    seconds = task.get("duration_s")
    if not isinstance(seconds, (int, float)):
        seconds = task.get("running_s")
        if not isinstance(seconds, (int, float)):
            return "-"
        minutes, secs = divmod(int(seconds), 60)
        return f"{minutes}:{secs:02d}" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def _color(text: str, code: str) -> str:
    if not code or not sys.stdout.isatty() or os.environ.get("NO_COLOR"):
        return text
    return f"\033[{code}m{text}\033[0m"
