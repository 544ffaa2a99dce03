"""The lineage of ``naga dag``: its runs as nodes, their upstreams as edges, each node judged.

Nodes are runs, found from the paths given and, upstream, from each run.lock's ``prevs`` (keys
are paths relative to the run.lock's folder; ``inferred: true`` upstreams, found from a ``data=``
path, are dashed edges). A node is labelled with its folder and the config keys that set it apart
from the runs of the same stage, and has a state:

- ``fresh`` / ``stale`` by the judgement of ``naga status`` (a stale node carries its first
  reason);
- ``failed`` (also died, interrupted), ``running`` and ``requeued`` (its Slurm job was requeued:
  it starts again) from the run's record;
- ``missing`` when an upstream's folder or its run.lock is gone or unreadable.

The tasks of a sweep (a folder holding tasks.yaml) are one group; a run reached twice (a
diamond) is one node. The formats are drawn by :mod:`naga.cli._dag`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from naga._errors import NagaError
from naga._paths import LOCK_NAME, NAGA_DIR, RECORD_NAME, TASKS_NAME
from naga._plain import flatten
from naga._record import read_record
from naga.cli._compare import _identity_keys
from naga.cli._table_render import cell_text

__all__ = ["Graph", "Node", "build_graph", "display_path"]

_MAX_KEYS = 4
_MAX_LINE = 60


class Node:
    """One run of the lineage."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.id = ""
        self.path = display_path(folder)
        self.status = "-"
        self.state = ""  # fresh, stale, failed, running, requeued, missing: set by build_graph
        self.note = ""
        self.keys: list[str] = []
        self.group: Path | None = None
        self.lock: dict[str, Any] | None = None
        self.upstreams: dict[Path, bool] = {}  # upstream folder -> inferred

    def lines(self) -> list[str]:
        """The label: the folder (its name inside a sweep group), the keys, then the note."""
        first = self.folder.name if self.group is not None else self.path
        lines = [first]
        keys = [k for k in self.keys if k not in first]  # a sweep task's folder names its value
        if keys:
            more = ", …" if len(keys) > _MAX_KEYS else ""
            lines.append(", ".join(keys[:_MAX_KEYS]) + more)
        if self.note:
            lines.append(_shorten(self.note))
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "status": self.status,
            "state": self.state,
            "note": self.note,
            "keys": self.keys,
            "group": display_path(self.group) if self.group is not None else None,
            "upstreams": [display_path(u) for u in self.upstreams],
        }


class Graph:
    """The nodes, upstream first, and the edges ``(upstream, downstream, inferred)``."""

    def __init__(self, nodes: list[Node]) -> None:
        self.nodes = nodes
        by_folder = {n.folder: n for n in nodes}
        self.edges = [
            (by_folder[up], node, inferred)
            for node in nodes
            for up, inferred in node.upstreams.items()
            if up in by_folder
        ]
        self.groups: dict[Path, list[Node]] = {}
        for node in nodes:
            if node.group is not None:
                self.groups.setdefault(node.group, []).append(node)


def display_path(path: Path) -> str:
    """``path`` relative to the current directory, as the lineage shows it (as given if it
    cannot be)."""
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_LINE else text[: _MAX_LINE - 1] + "…"


def _is_run(folder: Path) -> bool:
    return (folder / LOCK_NAME).is_file() or (folder / NAGA_DIR / RECORD_NAME).is_file()


def _seeds(paths: list[str]) -> list[Path]:
    """The run folders the user named: a run folder, its run.lock, or a folder holding runs."""
    from naga.cli._main import _find_runs

    seeds: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise NagaError(
                f"'{given}' does not exist: pass a run folder, its run.lock, or a folder that "
                f"holds runs.",
                path=given,
            )
        folder = path.parent if path.is_file() else path
        found = [folder] if _is_run(folder) else _find_runs(folder)
        if not found:
            raise NagaError(
                f"no run under '{given}': pass a folder that holds a run.lock (written by "
                f"naga.runlock) or a run record (written by @clicfg).",
                path=given,
            )
        seeds += [f.resolve() for f in found]
    return list(dict.fromkeys(seeds))


def _load(node: Node) -> None:
    from naga.lock import load_lock

    record = read_record(node.folder)
    if record is not None:
        node.status = str(record.get("status"))
    if not node.folder.is_dir():
        node.note = "missing: the folder is gone"
        return
    if (node.folder / LOCK_NAME).is_file():
        try:
            node.lock = load_lock(node.folder)
        except NagaError as error:
            node.note = f"unreadable run.lock: {error}"
            return
        if record is None:
            node.status = "done"
        prevs = node.lock.get("prevs")
        for key, embedded in (prevs if isinstance(prevs, dict) else {}).items():
            if "\0" in str(key):  # no folder can be named so: a receipt from elsewhere
                continue
            upstream = (node.folder / str(key)).resolve()  # stored between resolved folders
            inferred = isinstance(embedded, dict) and embedded.get("inferred") is True
            node.upstreams[upstream] = inferred
    if record is not None and record.get("status") in ("failed", "died", "interrupted"):
        node.state = "failed"
        failure = record.get("error")
        detail = (
            f"{failure.get('type')}: {failure.get('message')}" if isinstance(failure, dict) else ""
        )
        node.note = f"{record['status']}: {detail}" if detail else str(record["status"])
    elif record is not None and record.get("status") in ("running", "requeued"):
        node.state = node.note = str(record["status"])  # not judged: it has not ended
    elif node.lock is None:
        node.note = node.note or "no run.lock"


def _judge(nodes: list[Node]) -> None:
    """fresh or stale, judged together (stages share code, data and upstreams)."""
    from naga.lock import judge, judge_many

    judged = [n for n in nodes if n.lock is not None and not n.state]
    try:
        verdicts = judge_many([n.folder for n in judged])
    except NagaError:
        verdicts = []
        for node in list(judged):
            try:
                verdicts.append(judge(node.folder))
            except NagaError as error:
                node.note = f"cannot judge: {error}"
                judged.remove(node)
    for node, verdict in zip(judged, verdicts, strict=True):
        node.state = "stale" if verdict.stale else "fresh"
        node.note = f"stale: {verdict.first_reason()}" if verdict.stale else ""


def _peer_keys(nodes: list[Node]) -> None:
    """Each node's config keys that differ from the runs of the same stage (caller)."""
    stages: dict[tuple[str, str], list[Node]] = {}
    for node in nodes:
        caller = node.lock.get("caller") if node.lock else None
        if isinstance(caller, dict):
            stage = (str(caller.get("file")), str(caller.get("function")))
            stages.setdefault(stage, []).append(node)
    for peers in stages.values():
        if len(peers) < 2:
            continue
        configs = []
        for node in peers:
            config = node.lock.get("config") if node.lock else None
            configs.append(config if isinstance(config, dict) else {})
        identity = set().union(*(_identity_keys(c) for c in configs))
        flats = [flatten(c) for c in configs]
        keys = [k for k in dict.fromkeys(k for f in flats for k in f) if k not in identity]
        differing = [
            k for k in keys if len({json.dumps(f.get(k, "\0"), sort_keys=True) for f in flats}) > 1
        ]
        for node, flat in zip(peers, flats, strict=True):
            node.keys = [f"{k}={cell_text(flat[k])}" for k in differing if k in flat]


def _order(nodes: dict[Path, Node]) -> list[Node]:
    """Upstream first (Kahn), ties by path; a cycle (receipts edited by hand) ends sorted."""
    pending = {folder: {u for u in node.upstreams if u in nodes} for folder, node in nodes.items()}
    ordered: list[Node] = []
    while pending:
        ready = sorted((f for f, ups in pending.items() if not ups), key=lambda f: nodes[f].path)
        if not ready:
            ready = sorted(pending, key=lambda f: nodes[f].path)
        for folder in ready:
            ordered.append(nodes[folder])
            del pending[folder]
        for ups in pending.values():
            ups.difference_update(ready)
    return ordered


def build_graph(paths: list[str], *, judge: bool = True) -> Graph:
    """The lineage of the runs under ``paths`` and of everything upstream of them.

    Raises:
        NagaError: A path does not exist or holds no run.
    """
    nodes: dict[Path, Node] = {}
    todo = _seeds(paths)
    while todo:
        folder = todo.pop(0)
        if folder in nodes:
            continue  # a diamond: one node
        node = nodes[folder] = Node(folder)
        _load(node)
        todo += [u for u in node.upstreams if u not in nodes]
    groups: dict[Path, bool] = {}
    for folder, node in nodes.items():
        parent = folder.parent
        if parent not in groups:
            groups[parent] = (parent / TASKS_NAME).is_file()
        node.group = parent if groups[parent] else None
    if judge:
        _judge(list(nodes.values()))
    for node in nodes.values():
        node.state = node.state or "missing"
    _peer_keys(list(nodes.values()))
    ordered = _order(nodes)
    for i, node in enumerate(ordered):
        node.id = f"n{i}"
    return Graph(ordered)
