"""``naga ls ROOT --table``: the runs under a folder as one comparison table.

Like ``dvc exp show --only-changed``: a row per run, with its status, duration, the config keys
that differ between the listed runs and the run's metrics (its ``result.json``). Reading stays
cheap: a run.lock is searched for its top-level ``config:`` block and only that block is parsed
(the rest of a receipt, its environment and embedded upstream stages, is ten to a hundred times
larger); the record and the result are small JSON files.

The ``--filter`` and ``--sort`` expressions are in :mod:`naga.cli._table_query`, the formats
(and rich, imported only when the table is printed to a terminal) in
:mod:`naga.cli._table_render`.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from naga._errors import NagaError, report
from naga._paths import CONFIG_NAME, LOCK_NAME, TASKS_NAME
from naga._plain import flatten
from naga._record import is_metrics, read_record, read_result
from naga._yaml import YAMLError, load_json, load_yaml
from naga.cli._compare import _identity_keys
from naga.cli._table_query import MISSING, matches, parse_filter, sort_rows, unknown_column
from naga.cli._table_render import (
    Table,
    print_rich,
    render_csv,
    render_json,
    render_markdown,
    render_text,
)

__all__ = [
    "BASE_COLUMNS",
    "Run",
    "build_table",
    "join_dash_values",
    "read_config",
    "read_runs",
    "show_table",
]

#: The columns every table has, in order; ``fresh`` and ``reason`` only with ``--status``.
BASE_COLUMNS = ("run", "status", "duration", "fresh", "reason")
#: A line of a run.lock that starts a top-level key (or ends the document).
_TOP_LEVEL = re.compile(r"^[^\s#-]", re.MULTILINE)
_CONFIG_LINE = re.compile(r"^config:", re.MULTILINE)


class Run:
    """One row: a run folder (or a sweep task not started yet) and what the table shows of it."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.name = name
        self.status = "-"
        self.duration: float | None = None
        self.config: dict[str, Any] = {}
        self.identity: set[str] = set()
        self.metrics: dict[str, Any] = {}
        self.has_lock = False
        self.error: str | None = None
        self.fresh: str | None = None
        self.reason: str | None = None


def read_config(lock_file: Path) -> dict[str, Any]:
    """The ``config`` of a run.lock, parsing only its ``config:`` block when the file allows.

    Falls back to the whole file (:func:`naga.lock.load_lock`) when the block cannot be read on
    its own (an alias defined elsewhere, no ``config:`` line), so a corrupt receipt raises the
    same :class:`~naga.LockError` as everywhere else.
    """
    try:
        text = lock_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    start = _CONFIG_LINE.search(text)
    if start is not None and text.startswith("lock_version:"):
        following = _TOP_LEVEL.search(text, start.end())
        block = text[start.start() : following.start() if following else len(text)]
        try:
            parsed = load_yaml(block)
        except YAMLError:
            parsed = None
        if isinstance(parsed, dict) and set(parsed) == {"config"}:
            config = parsed["config"]
            return config if isinstance(config, dict) else {}
    from naga.lock import load_lock

    config = load_lock(lock_file).get("config")
    return config if isinstance(config, dict) else {}


def _config_json(folder: Path) -> dict[str, Any]:
    try:
        data = load_json((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_run(folder: Path, name: str, fallback: dict[str, Any] | None = None) -> Run:
    """The row of ``folder``; ``fallback`` is its tasks.yaml entry (status, result) if any."""
    run = Run(folder, name)
    record = read_record(folder)
    run.has_lock = (folder / LOCK_NAME).is_file()
    if record is not None:
        run.status = str(record.get("status"))
        duration = record.get("duration_s")
        run.duration = float(duration) if isinstance(duration, (int, float)) else None
    elif fallback is not None and fallback.get("status"):
        run.status = str(fallback["status"])
    elif run.has_lock:
        run.status = "done"  # a receipt written without a clicfg record
    config: dict[str, Any] = {}
    if run.has_lock:
        try:
            config = read_config(folder / LOCK_NAME)
        except NagaError as error:  # one broken receipt must not hide the other runs
            report(error)
            run.error = str(error)
            run.status = "unreadable"
    else:
        config = _config_json(folder)
    run.identity = _identity_keys(config)
    run.config = flatten(config)
    result = read_result(folder)
    if result is None and fallback is not None:
        result = fallback.get("result")
    if is_metrics(result):
        run.metrics = dict(result)
    return run


def _task_folder(sweep: Path, entry: dict[str, Any]) -> Path:
    """Where a task of the sweep in ``sweep`` ran. Its save_dir is relative to the directory the
    sweep was started from, unknown here: the task's folder is looked for in the sweep folder
    by its name (``<sweep>/<label>``, where sweeps put tasks), then from the current directory."""
    save_dir = entry.get("save_dir")
    label = str(entry.get("label", ""))
    if not isinstance(save_dir, str) or not save_dir:
        return sweep / label
    given = Path(save_dir)
    candidates = [given] if given.is_absolute() else [sweep / given.name, given]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def _sweep_tasks(sweep: Path) -> list[dict[str, Any]] | None:
    try:
        data = load_yaml((sweep / TASKS_NAME).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError):
        return None
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, list):
        return None
    return [t for t in tasks if isinstance(t, dict)]


def _name(folder: Path, root: Path) -> str:
    if folder == root:
        return os.fspath(root)
    try:
        return folder.relative_to(root).as_posix()
    except ValueError:
        return os.fspath(folder)


def read_runs(root: Path, find_runs: Callable[[Path], list[Path]]) -> list[Run]:
    """A row per run under ``root``; a sweep folder (holding tasks.yaml) lists its tasks, in
    their order, the ones not started yet included."""
    tasks = _sweep_tasks(root) if (root / TASKS_NAME).is_file() else None
    if tasks is not None:
        folders = [(_task_folder(root, t), t) for t in tasks]
        return [_read_run(folder, _name(folder, root), task) for folder, task in folders]
    return [_read_run(folder, _name(folder, root)) for folder in find_runs(root)]


def _judge(runs: list[Run]) -> None:
    """Fill ``fresh`` and ``reason``, judging the runs together (shared work)."""
    from naga.lock import judge, judge_many

    judged = [r for r in runs if r.has_lock and r.error is None]
    try:
        verdicts = judge_many([r.folder for r in judged])
    except NagaError:  # a receipt whose config read but whose rest is broken: judge one by one
        verdicts = []
        for run in judged:
            try:
                verdicts.append(judge(run.folder))
            except NagaError as error:
                report(error)
                run.error = str(error)
                run.status = "unreadable"
        judged = [r for r in judged if r.error is None]
    for run, verdict in zip(judged, verdicts, strict=True):
        run.fresh = "stale" if verdict.stale else "fresh"
        run.reason = verdict.first_reason() or None


def _lookup(runs: list[Run], with_status: bool) -> dict[str, Callable[[Run], Any]]:
    """Every name a ``--sort``, ``--filter`` or ``--columns`` may use, and how to get its value.

    A metric named like a config key is ``result.<key>``; every config key is also
    ``config.<key>`` and every metric ``result.<key>``.
    """
    getters: dict[str, Callable[[Run], Any]] = {
        "run": lambda r: r.name,
        "status": lambda r: r.status,
        "duration": lambda r: r.duration,
    }
    if with_status:
        getters["fresh"] = lambda r: r.fresh
        getters["reason"] = lambda r: r.reason
    config_keys = dict.fromkeys(k for r in runs for k in r.config)
    metric_keys = dict.fromkeys(k for r in runs for k in r.metrics)
    for key in config_keys:
        getter = _config_getter(key)
        getters.setdefault(key, getter)
        getters[f"config.{key}"] = getter
    for key in metric_keys:
        getter = _metric_getter(key)
        getters[key if key not in getters else f"result.{key}"] = getter
        getters[f"result.{key}"] = getter
    return getters


def _config_getter(key: str) -> Callable[[Run], Any]:
    return lambda r: r.config.get(key, MISSING)


def _metric_getter(key: str) -> Callable[[Run], Any]:
    return lambda r: r.metrics.get(key, MISSING)


def _differing(runs: list[Run]) -> list[str]:
    """The config keys whose value is not the same in every run (a run's identity aside).
    A run whose config is unknown (a sweep task not started yet) is left out of the comparison."""
    runs = [r for r in runs if r.config]
    identity = set().union(*(r.identity for r in runs)) if runs else set()
    keys = [k for k in dict.fromkeys(k for r in runs for k in r.config) if k not in identity]
    out = []
    for key in keys:
        values = {json.dumps(r.config.get(key, "\0missing"), sort_keys=True) for r in runs}
        if len(values) > 1:
            out.append(key)
    return out


def build_table(
    runs: list[Run],
    *,
    with_status: bool = False,
    filters: Iterable[str] = (),
    sort: str | None = None,
    columns: str | None = None,
) -> Table:
    """Filter, sort and pick the columns of ``runs``.

    Raises:
        NagaError: A bad filter, or a sort key or column no run has (with the closest name).
    """
    getters = _lookup(runs, with_status)
    for text in filters:
        key, op, wanted, written = parse_filter(text)
        if key not in getters:
            raise unknown_column(f"--filter '{text}'", key, getters, "Filter on a column")
        get = getters[key]
        runs = [r for r in runs if matches(get(r), op, wanted, written)]
    if sort:
        runs = sort_rows(runs, sort, getters)
    if columns:
        names = [c.strip() for c in columns.split(",") if c.strip()]
        for name in names:
            if name not in getters:
                raise unknown_column("--columns", name, getters, "Pick columns by name")
    else:
        names = ["run", "status", "duration"]
        if with_status:
            names += ["fresh"] + (["reason"] if any(r.reason for r in runs) else [])
        names += [k if k not in BASE_COLUMNS else f"config.{k}" for k in _differing(runs)]
        config_keys = {k for r in runs for k in r.config}
        for key in dict.fromkeys(k for r in runs for k in r.metrics):
            names.append(f"result.{key}" if key in config_keys or key in BASE_COLUMNS else key)
    rows = [[_raw(getters[n](r)) for n in names] for r in runs]
    return Table(names, rows)


def _raw(value: Any) -> Any:
    return None if value is MISSING else value


def show_table(args: Any, root: Path, find_runs: Callable[[Path], list[Path]]) -> int:
    """``naga ls ROOT --table``: print the table in the format asked; 2 when a receipt was
    unreadable (said on stderr, its row kept), else 0."""
    runs = read_runs(root, find_runs)
    wants_status = bool(args.status) or any(
        re.search(r"\b(fresh|reason)\b", text or "")
        for text in (args.sort, args.columns, *(args.filter or []))
    )
    if wants_status:
        _judge(runs)
    table = build_table(
        runs,
        with_status=wants_status,
        filters=args.filter or (),
        sort=args.sort,
        columns=args.columns,
    )
    if args.json:
        sys.stdout.write(render_json(table))
    elif args.csv:
        sys.stdout.write(render_csv(table))
    elif args.md:
        sys.stdout.write(render_markdown(table))
    elif sys.stdout.isatty() and table.rows:
        print_rich(table)
    else:
        sys.stdout.write(render_text(table))
    return 2 if any(r.error for r in runs) else 0


def join_dash_values(argv: list[str], options: tuple[str, ...] = ("--sort",)) -> list[str]:
    """``--sort -acc`` as ``--sort=-acc``: argparse would read ``-acc`` as an option.

    Example:
        >>> join_dash_values(["ls", "--sort", "-acc", "results"])
        ['ls', '--sort=-acc', 'results']
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out += argv[i:]
            break
        if arg in options and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out
