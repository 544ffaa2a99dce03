"""Task sources: text, YAML/JSON, CSV/TSV files, a list inside the config, ``--sweep`` grids.

A dict task may hold the reserved key ``_slurm`` (or CSV columns ``_slurm.<option>``): the
task's own Slurm options, kept apart from its config (:attr:`TaskValue.resources`).
"""

from __future__ import annotations

import os
from typing import Any

from naga._errors import TaskError
from naga._userfiles import parse_json, parse_yaml, read_text
from naga.launch._options import SweepOptions

__all__ = ["RESOURCES_KEY", "TaskValue", "load_tasks"]

#: The reserved key of a dict task that holds its own Slurm options (never merged into the config).
RESOURCES_KEY = "_slurm"


class TaskValue:
    """One task as read from its source.

    Attributes:
        value: The task's value (typed), or a dict of key -> value.
        origin: Where it came from, for messages (``tasks.txt line 3``).
        text: True when the value (or each dict value) is raw text to type like ``-o`` values.
        grid: A point of the ``--sweep`` grids (``{key: text}``) applied after ``value``, or None.
        resources: The task's own Slurm options (its ``_slurm`` key), or None.
    """

    __slots__ = ("grid", "origin", "resources", "text", "value")

    def __init__(
        self,
        value: Any,
        origin: str,
        text: bool,
        grid: dict[str, str] | None = None,
        resources: dict[str, Any] | None = None,
    ) -> None:
        self.value = value
        self.origin = origin
        self.text = text
        self.grid = grid
        self.resources = resources


def load_tasks(options: SweepOptions, base: dict[str, Any]) -> list[TaskValue]:
    """Read the tasks that ``options`` names: a file's or the config's, times the ``--sweep``
    grids. Raises ``TaskError`` for a bad source."""
    if options.tasks is not None and options.tasks_key is not None:
        raise TaskError("--tasks and --tasks_key both given: choose one task source.")
    points = None
    if options.sweep:
        from naga.launch._grid import grid_points

        points = grid_points(options.sweep)
    if options.tasks is None and options.tasks_key is None:
        if options.task_to is not None:
            raise TaskError(
                f"--task_to {options.task_to} needs --tasks FILE or --tasks_key KEY: a --sweep "
                f"grid names its keys itself (--sweep {options.task_to}=V1,V2).",
                key=options.task_to,
            )
        return [TaskValue({}, _grid_origin(p), True, grid=p) for p in points or []]
    tasks = [_with_resources(task) for task in _read(options, base)]
    if points is None:
        return tasks
    return [
        TaskValue(t.value, f"{t.origin}, {_grid_origin(p)}", t.text, grid=p, resources=t.resources)
        for t in tasks
        for p in points
    ]


def _grid_origin(point: dict[str, str]) -> str:
    return "--sweep " + " ".join(f"{k}={v}" for k, v in point.items())


def _with_resources(task: TaskValue) -> TaskValue:
    """``task`` with its ``_slurm`` options (a mapping, or ``_slurm.<option>`` keys) taken out
    of its value."""
    value = task.value
    if not isinstance(value, dict) or not any(
        str(k) == RESOURCES_KEY or str(k).startswith(RESOURCES_KEY + ".") for k in value
    ):
        return task
    rest: dict[Any, Any] = {}
    resources: dict[str, Any] = {}
    for key, item in value.items():
        name = str(key)
        if name == RESOURCES_KEY:
            if not isinstance(item, dict):
                raise TaskError(
                    f"{task.origin}: {RESOURCES_KEY} holds {item!r}: give it a mapping of Slurm "
                    f"options, e.g. {RESOURCES_KEY}: {{mem_gb: 64}}.",
                    key=RESOURCES_KEY,
                    value=item,
                )
            resources.update({str(k): v for k, v in item.items()})
        elif name.startswith(RESOURCES_KEY + "."):
            resources[name.split(".", 1)[1]] = _typed(item) if task.text else item
        else:
            rest[key] = item
    return TaskValue(rest, task.origin, task.text, resources=resources or None)


def _typed(text: Any) -> Any:
    """A table cell of a Slurm option: ``64`` an int, ``4GB`` text."""
    from naga._yaml import YAMLError, load_yaml

    try:
        value = load_yaml(str(text))
    except YAMLError:
        return text
    return value if isinstance(value, (int, float, str, bool)) else text


def _read(options: SweepOptions, base: dict[str, Any]) -> list[TaskValue]:
    if options.tasks_key is not None:
        tasks = _from_config(base, options.tasks_key)
        where = f"config key '{options.tasks_key}'"
        path = None
    else:
        path = str(options.tasks)
        tasks = _from_file(path)
        where = f"tasks file '{path}'"
    if not tasks:
        raise TaskError(
            f"{where} has no tasks: add one value per line (or list item).",
            path=path,
            key=options.tasks_key,
        )
    return tasks


def _from_config(base: dict[str, Any], key: str) -> list[TaskValue]:
    node: Any = base
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise TaskError(
                f"--tasks_key {key}: the config has no key '{key}'; name a list in the config.",
                key=key,
            )
        node = node[part]
    if not isinstance(node, list):
        raise TaskError(
            f"--tasks_key {key}: '{key}' holds {node!r}, not a list of tasks: point --tasks_key "
            f"at a list in the config (tasks: [1, 2, 3]), or give a file with --tasks.",
            key=key,
            value=node,
        )
    return [TaskValue(v, f"{key}[{i}]", False) for i, v in enumerate(node)]


def _from_file(path: str) -> list[TaskValue]:
    text = read_text(
        path,
        TaskError,
        what="tasks file",
        flag="--tasks",
        expected="a text, YAML, JSON, CSV or TSV file",
        newline="",  # line ends as written: a quoted CSV cell may hold one
    )
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".yaml", ".yml", ".json"):
        return _structured(text, path, suffix)
    if suffix in (".csv", ".tsv"):
        return _table(text, path, "\t" if suffix == ".tsv" else ",")
    return _lines(text, path)


def _lines(text: str, path: str) -> list[TaskValue]:
    tasks = []
    name = os.path.basename(path)
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "\\n" in stripped:
            raise TaskError(
                f"tasks file '{path}' line {number} holds a literal \\n ({stripped!r}): bash's echo "
                f"writes backslashes as they are. Write one task per line, e.g. "
                f"printf '1\\n2\\n3\\n' > {name}",
                path=path,
                line=number,
                value=stripped,
            )
        tasks.append(TaskValue(stripped, f"{name} line {number}", True))
    return tasks


def _structured(text: str, path: str, suffix: str) -> list[TaskValue]:
    name = os.path.basename(path)
    parse = parse_json if suffix == ".json" else parse_yaml
    data = parse(text, path, TaskError, what="tasks file")
    if data is None:
        return []
    if not isinstance(data, list):
        raise TaskError(
            f"tasks file '{path}' holds a {type(data).__name__}: write a list of values or of "
            f"mappings (one item per task).",
            path=path,
        )
    return [TaskValue(v, f"{name} item {i + 1}", False) for i, v in enumerate(data)]


def _table(text: str, path: str, delimiter: str) -> list[TaskValue]:
    import csv
    import io

    name = os.path.basename(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    tasks = []
    while True:
        try:
            row = next(reader, None)
        except csv.Error as exc:
            raise TaskError(
                f"tasks file '{path}' line {reader.line_num} cannot be read as a table: {exc}. "
                f"Fix that line.",
                path=path,
                line=reader.line_num,
            ) from exc
        if row is None:
            break
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line
        if header is None:
            header = row
            seen: dict[str, int] = {}
            for column, key in enumerate(header, start=1):
                if key in seen:
                    raise TaskError(
                        f"tasks file '{path}' line {reader.line_num}: the header names column "
                        f"'{key}' twice (columns {seen[key]} and {column}): give each column "
                        f"its own name.",
                        path=path,
                        line=reader.line_num,
                        key=key,
                    )
                seen[key] = column
            continue
        if len(row) != len(header):
            raise TaskError(
                f"tasks file '{path}' line {reader.line_num} has {len(row)} cells where the header "
                f"has {len(header)}: give every row one cell per column.",
                path=path,
                line=reader.line_num,
            )
        tasks.append(
            TaskValue(dict(zip(header, row, strict=True)), f"{name} line {reader.line_num}", True)
        )
    return tasks
