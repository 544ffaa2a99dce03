"""The `naga` command line: parsing, the subcommands, and the one place errors are rendered."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from naga._errors import NagaError, report
from naga._paths import LOCK_NAME, NAGA_DIR, RECORD_NAME
from naga._version import __version__
from naga.cli._rerun import add_rerun_parser, rerun_command
from naga.cli._snapshots import SNAPSHOT_COMMANDS, add_snapshot_parsers

if TYPE_CHECKING:
    from naga.lock import Change

__all__ = ["main"]

EPILOG = """examples:
  naga status results/process          is the run still reproducible? (exit 0 yes, 1 no)
  naga diff results/a results/b        what differs between two runs
  naga ls results                      the runs under a folder
  naga ls results --table --sort -acc  the runs as a table: differing config keys, metrics
  naga dag results/evaluate            the lineage of runs (mermaid, dot, svg, png, html)
  naga log results/process             log a run to MLflow (like mlflow_lock)
  naga rerun results/train             reproduce a run from its run.lock alone
  naga tasks results/sweep --watch     follow a sweep (local, Dask or Slurm)
  naga gc results --dry_run            prune code snapshots no receipt needs
"""


class _Parser(argparse.ArgumentParser):
    """argparse's mistakes become a NagaError, rendered at the one boundary like every other."""

    def error(self, message: str) -> NoReturn:
        raise NagaError(f"{message}. Run `{self.prog} --help` for the usage.")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="naga",
        description="Check, compare, list and log the runs naga recorded.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"naga {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, example: str) -> argparse.ArgumentParser:
        command = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_argument("--json", action="store_true", help="print JSON for scripts")
        return command

    status = add(
        "status",
        "compare each run's run.lock with today's config files, code, data, environment and upstream stages",
        "naga status results/process results/train",
    )
    status.add_argument(
        "dirs", nargs="+", metavar="DIR", help="run directories (or their run.lock)"
    )
    status.add_argument(
        "--all",
        action="store_true",
        help="also list what changed but the run did not use (information, not staleness)",
    )
    diff = add("diff", "show what differs between two runs", "naga diff results/a results/b")
    diff.add_argument("a", metavar="A")
    diff.add_argument("b", metavar="B")
    ls = add("ls", "list the runs under a folder, at any depth", "naga ls results --status")
    ls.add_argument("root", nargs="?", default=".", metavar="ROOT")
    ls.add_argument(
        "--status", action="store_true", help="also check whether each run is reproducible"
    )
    table = ls.add_argument_group(
        "table",
        "a row per run: status, duration, the config keys that differ, the metrics of "
        "result.json (any of these options implies --table)",
    )
    table.add_argument("--table", action="store_true", help="show the runs as a table")
    table.add_argument(
        "--sort", metavar="KEY", help="sort by a column, -KEY descending (several: -acc,lr)"
    )
    table.add_argument(
        "--filter",
        action="append",
        metavar="'KEY OP VALUE'",
        help="keep the runs where KEY OP VALUE holds (OP: == != < <= > >=); repeatable",
    )
    table.add_argument("--columns", metavar="A,B,C", help="show these columns, in this order")
    table.add_argument("--csv", action="store_true", help="print CSV (raw values)")
    table.add_argument("--md", action="store_true", help="print a markdown table")
    log = add(
        "log",
        "log run directories to MLflow, as mlflow_lock does",
        "naga log results/process --experiment demo",
    )
    log.add_argument("dirs", nargs="+", metavar="DIR")
    log.add_argument(
        "--experiment", help="MLflow experiment name (default MLFLOW_EXPERIMENT_NAME or MLflow's)"
    )
    dag = add(
        "dag",
        "draw the lineage of runs: upstream stages to downstream, coloured fresh, stale, "
        "failed or running",
        "naga dag results/evaluate --format svg -o lineage.svg",
    )
    dag.add_argument(
        "paths", nargs="+", metavar="PATH", help="run folders, or folders holding runs"
    )
    dag.add_argument(
        "--format",
        choices=["mermaid", "dot", "svg", "png", "html", "text"],
        help="mermaid (default when not a terminal, or from -o's extension), dot; svg, png "
        "and html need Graphviz; text (default on a terminal)",
    )
    dag.add_argument("-o", "--output", metavar="FILE", help="write to FILE (atomically)")
    add_rerun_parser(add)
    add_snapshot_parsers(add)
    from naga.cli._tasks import add_tasks_parser

    add_tasks_parser(add)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the naga command and return its exit status; never raises ``SystemExit``.

    Args:
        argv: The arguments after ``naga`` (default: ``sys.argv[1:]``).

    Returns:
        0 same/ok, 1 changed (status, diff), 2 bad input (one ``naga: error:`` line on stderr).

    Example:
        >>> main(["--version"]) == 0  # doctest: +SKIP
        True
    """
    try:
        args = _parser().parse_args(_dash_values(sys.argv[1:] if argv is None else argv))
        return int(_COMMANDS[args.command](args))
    except NagaError as error:
        return report(error)
    except SystemExit as done:  # --help and --version: argparse printed them and exits
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BrokenPipeError:  # `naga ls | head`: the reader left, nothing is wrong
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


def _dash_values(argv: list[str]) -> list[str]:
    """``--sort -acc`` as typed: argparse would take ``-acc`` for an option, so it is joined
    into ``--sort=-acc`` before parsing."""
    if "--sort" not in argv:
        return argv
    from naga.cli._table import join_dash_values

    return join_dash_values(argv)


def _color(text: str, code: str) -> str:
    return (
        f"\033[{code}m{text}\033[0m"
        if sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        else text
    )


def _render(change: Change) -> str:
    if change.old is None and change.new is None:
        return f"  {change.part:<12} {change.key}: {change.note}"
    note = f"  ({change.note})" if change.note else ""
    return f"  {change.part:<12} {change.key}: {change.old!r} -> {change.new!r}{note}"


def _print_changes(title: str, changes: list[Change], same: str, changed: str) -> None:
    if not changes:
        print(f"{title}: {_color(same, '32')}")
        return
    print(f"{title}: {_color(f'{len(changes)} {changed}', '33')}")
    for change in changes:
        print(_render(change))


def _status(args: Any) -> int:
    from naga.lock import find_lock, judge_many

    for d in args.dirs:
        find_lock(d)  # every input checked before any output
    verdicts = dict(zip(args.dirs, judge_many(args.dirs, all_changes=args.all), strict=True))
    if args.json:
        print(
            json.dumps(
                {
                    d: {
                        "up_to_date": not v.stale,
                        "lock_version": v.lock_version,
                        "reasons": [c.as_dict() for c in v.reasons],
                        "also_changed": [c.as_dict() for c in v.info],
                    }
                    for d, v in verdicts.items()
                },
                indent=2,
                default=str,
            )
        )
    else:
        for d, verdict in verdicts.items():
            _print_verdict(d, verdict, args.all)
    return 1 if any(v.stale for v in verdicts.values()) else 0


def _print_verdict(title: str, verdict: Any, show_info: bool) -> None:
    reasons = verdict.reasons
    if reasons:
        print(f"{title}: {_color('stale', '33')}")
        for change in reasons:
            print(f"  {change.part:<12} {change.reason()}")
    else:
        print(f"{title}: {_color('up to date', '32')}")
    for change in verdict.info:
        if change.part == "note":
            print(f"  note: {change.reason()}")
    info = [c for c in verdict.info if c.part != "note"] if show_info else []
    if info:
        print("  also changed, not used by this run:")
        for change in info:
            print(f"    {change.part:<10} {change.reason()}")


def _diff(args: Any) -> int:
    from naga.cli._compare import compare_locks
    from naga.lock import load_lock

    a, b = load_lock(args.a), load_lock(args.b)
    changes = compare_locks(a, b)
    differences = [c for c in changes if c.used]
    if args.json:
        print(json.dumps([c.as_dict() for c in changes], indent=2, default=str))
    else:
        _print_changes(
            f"{args.a} -> {args.b}",
            differences,
            "same config, code, data and environment",
            "difference(s)",
        )
        info = [c for c in changes if not c.used]
        if info:
            print("  information (not a difference of content):")
            for change in info:
                print("  " + _render(change))
    return 1 if differences else 0


def _find_runs(root: Path) -> list[Path]:
    """Every run folder under ``root``: one with a run.lock or a run record (a crashed or
    running run has a record and no run.lock yet)."""
    found = []
    for folder, dirs, files in os.walk(root):
        record = os.path.isfile(os.path.join(folder, NAGA_DIR, RECORD_NAME))
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and d not in ("node_modules", "__pycache__")
        )
        if LOCK_NAME in files or record:
            found.append(Path(folder))
    return found


def _dict(value: Any) -> dict[str, Any]:
    """A part of a receipt, which may come from anyone: of the wrong shape, it reads as empty."""
    return value if isinstance(value, dict) else {}


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


#: ANSI colours of ``naga ls``: in progress (a requeued run starts again) cyan, ended badly red.
_STATUS_COLORS = {"done": "32", "failed": "31", "died": "31", "running": "36", "requeued": "36"}


def _ls(args: Any) -> int:
    from naga._record import read_record
    from naga.lock import load_lock

    root = Path(args.root)
    if not root.is_dir():
        raise NagaError(
            f"'{args.root}' is not a directory: pass a folder that holds runs.", path=args.root
        )
    if args.table or args.sort or args.filter or args.columns or args.csv or args.md:
        from naga.cli._table import show_table

        return show_table(args, root, _find_runs)
    rows: list[dict[str, Any]] = []
    for folder in _find_runs(root):
        record = read_record(folder) or {}
        row: dict[str, Any] = {
            "path": str(folder),
            "status": record.get("status", "-"),
            "duration": _duration(record.get("duration_s")),
            "created": str(record.get("start") or "-"),
            "stage": "-",
            "commit": "-",
        }
        if (folder / LOCK_NAME).is_file():
            try:
                lock = load_lock(folder)
            except NagaError as error:  # one broken receipt must not hide the other runs
                report(error)
                rows.append({**row, "error": str(error)})
                continue
            repos = [r for r in _dict(lock.get("repos")).values() if isinstance(r, dict)]
            repo = repos[0] if repos else {}
            caller = _dict(lock.get("caller"))
            row["created"] = str(lock.get("created"))
            row["stage"] = f"{caller.get('file')}:{caller.get('function')}"
            row["commit"] = str(repo.get("commit") or "-")[:8] + ("*" if repo.get("dirty") else "")
            if row["status"] == "-":
                row["status"] = "done"  # a receipt written without a clicfg record
        if record.get("error"):
            failure = _dict(record.get("error"))
            row["failure"] = f"{failure.get('type')}: {failure.get('message')}"
        rows.append(row)
    if args.status:  # judged together: runs of one pipeline or sweep share their checks
        from naga.lock import judge_many

        judged = [r for r in rows if "error" not in r and (Path(r["path"]) / LOCK_NAME).is_file()]
        verdicts = judge_many([r["path"] for r in judged])
        for row, verdict in zip(judged, verdicts, strict=True):
            row["fresh"] = "stale" if verdict.stale else "up to date"
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            if "error" in row:
                print(f"{row['path']}  {_color('unreadable run.lock', '31')}")
                continue
            status = row["status"]
            color = _STATUS_COLORS.get(status, "33")
            cells = [row["path"], _color(status, color), row["duration"], row["created"]]
            cells += [row["stage"], row["commit"]]
            if "fresh" in row:
                cells.append(row["fresh"])
            if "failure" in row:
                cells.append(row["failure"])
            print("  ".join(cells))
    return 2 if any("error" in row for row in rows) else 0


def _log(args: Any) -> int:
    from naga.tracking import mlflow_lock, remembered_run, ui_hint

    for d in args.dirs:
        if not Path(d).is_dir():
            raise NagaError(f"'{d}' is not a run directory: pass the folder that holds run.lock.")
    out = {}
    for d in args.dirs:
        with mlflow_lock(d, experiment=args.experiment) as run:
            out[d] = run.info.run_id
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for d, run_id in out.items():
            print(f"{d}: MLflow run {run_id}")
        print(ui_hint(experiment_id=(remembered_run(args.dirs[-1]) or {}).get("experiment_id")))
    return 0


def _tasks(args: Any) -> int:
    from naga.cli._tasks import show_tasks

    return show_tasks(args)


def _dag(args: Any) -> int:
    from naga.cli._dag import show_dag

    return show_dag(args)


_COMMANDS = {
    "status": _status,
    "diff": _diff,
    "ls": _ls,
    "dag": _dag,
    "log": _log,
    "rerun": rerun_command,
    "tasks": _tasks,
    **SNAPSHOT_COMMANDS,
}
