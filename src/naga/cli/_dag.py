"""``naga dag PATH...``: the lineage of runs as a picture.

Nodes are runs, found from the paths given and, upstream, from each run.lock's ``prevs`` (keys
are paths relative to the run.lock's folder; ``inferred: true`` upstreams, found from a ``data=``
path, are drawn dashed). A node is labelled with its folder and the config keys that set it
apart from the runs of the same stage, and coloured by its state:

- ``fresh`` / ``stale`` by the judgement of ``naga status`` (a stale node carries its first
  reason);
- ``failed`` (also died, interrupted), ``running`` and ``requeued`` (its Slurm job was requeued:
  it starts again) from the run's record;
- ``missing`` when an upstream's folder or its run.lock is gone or unreadable.

The tasks of a sweep (a folder holding tasks.yaml) are one group; a run reached twice (a
diamond) is drawn once. Formats: mermaid (paste into GitHub), dot, svg and png rendered by
Graphviz's ``dot``, a self-contained html page (the svg inline and a legend), text, json.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from naga._atomic import atomic_write_bytes
from naga._errors import NagaError
from naga._paths import LOCK_NAME, NAGA_DIR, RECORD_NAME, TASKS_NAME
from naga._plain import flatten
from naga._record import read_record
from naga.cli._compare import _identity_keys
from naga.cli._table import cell_text

__all__ = [
    "COLORS",
    "Graph",
    "Node",
    "build_graph",
    "render",
    "run_dot",
    "show_dag",
    "to_dot",
    "to_html",
    "to_json",
    "to_mermaid",
    "to_text",
]

#: Each state's fill, border and text colour (the legend's order).
COLORS: dict[str, tuple[str, str, str]] = {
    "fresh": ("#d8f0dc", "#2e7d32", "#1b4d20"),
    "stale": ("#ffe8c7", "#e07b00", "#6b3b00"),
    "failed": ("#fbd5d5", "#c62828", "#6d1414"),
    "running": ("#d6e6fb", "#1565c0", "#0d3a70"),
    "requeued": ("#ece0f7", "#7b1fa2", "#4a126b"),
    "missing": ("#eeeeee", "#8a8a8a", "#444444"),
}
_EXTENSIONS = {
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".md": "mermaid",
    ".dot": "dot",
    ".gv": "dot",
    ".svg": "svg",
    ".png": "png",
    ".html": "html",
    ".htm": "html",
    ".json": "json",
    ".txt": "text",
}
_MAX_KEYS = 4
_MAX_LINE = 60


class Node:
    """One run of the lineage."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.id = ""
        self.path = _display(folder)
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
            "group": _display(self.group) if self.group is not None else None,
            "upstreams": [_display(u) for u in self.upstreams],
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


def _display(path: Path) -> str:
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


# -- rendering -------------------------------------------------------------------------------


def _mermaid_text(text: str) -> str:
    return html.escape(text, quote=False).replace('"', "#quot;")


def to_mermaid(graph: Graph) -> str:
    """A mermaid flowchart (GitHub draws ```` ```mermaid ```` blocks)."""
    lines = ["flowchart TD"]

    def node_line(node: Node, indent: str) -> str:
        label = "<br/>".join(_mermaid_text(line) for line in node.lines())
        return f'{indent}{node.id}["{label}"]:::{node.state}'

    for i, (group, members) in enumerate(graph.groups.items()):
        lines.append(f'  subgraph g{i}["{_mermaid_text(_display(group))} (sweep)"]')
        lines += [node_line(n, "    ") for n in members]
        lines.append("  end")
    lines += [node_line(n, "  ") for n in graph.nodes if n.group is None]
    for up, down, inferred in graph.edges:
        lines.append(f"  {up.id} {'-.->' if inferred else '-->'} {down.id}")
    for state, (fill, stroke, color) in COLORS.items():
        lines.append(f"  classDef {state} fill:{fill},stroke:{stroke},color:{color}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def to_dot(graph: Graph) -> str:
    """Graphviz's DOT language."""
    font = 'fontname="Helvetica,Arial,sans-serif"'
    lines = [
        "digraph lineage {",
        f"  graph [rankdir=TB, nodesep=0.3, ranksep=0.45, {font}, fontsize=11];",
        f'  node [shape=box, style="rounded,filled", penwidth=1.4, {font}, fontsize=11];',
        '  edge [color="#555555", arrowsize=0.7];',
    ]

    def node_line(node: Node, indent: str) -> str:
        fill, stroke, color = COLORS[node.state]
        label = "\\n".join(_dot_text(line) for line in node.lines())
        tooltip = _dot_text(f"{node.path}: {node.note or node.state}")
        return (
            f'{indent}{node.id} [label="{label}", fillcolor="{fill}", color="{stroke}", '
            f'fontcolor="{color}", tooltip="{tooltip}", class="{node.state}"];'
        )

    for i, (group, members) in enumerate(graph.groups.items()):
        lines.append(f"  subgraph cluster_{i} {{")
        lines.append(f'    label="{_dot_text(_display(group))} (sweep)";')
        lines.append('    style="rounded,dashed"; color="#888888"; fontcolor="#444444";')
        lines += [node_line(n, "    ") for n in members]
        lines.append("  }")
    lines += [node_line(n, "  ") for n in graph.nodes if n.group is None]
    for up, down, inferred in graph.edges:
        style = ' [style=dashed, tooltip="inferred from a data path"]' if inferred else ""
        lines.append(f"  {up.id} -> {down.id}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def run_dot(dot: str, fmt: str) -> bytes:
    """Render DOT text with Graphviz's ``dot`` as ``svg`` or ``png``.

    Raises:
        NagaError: ``dot`` is not installed (saying how to install it), or it failed.
    """
    exe = shutil.which("dot")
    if exe is None:
        raise NagaError(
            f"--format {fmt} needs Graphviz's `dot`, which is not on PATH: install Graphviz "
            f"(apt-get install graphviz, brew install graphviz, or conda install graphviz), or "
            f"use --format mermaid or --format dot.",
            value=fmt,
        )
    done = subprocess.run(
        [exe, f"-T{fmt}"], input=dot.encode("utf-8"), capture_output=True, check=False
    )
    if done.returncode != 0:
        raise NagaError(
            f"Graphviz's dot could not render the lineage as {fmt} "
            f"(dot said: {done.stderr.decode(errors='replace').strip()})."
        )
    return done.stdout


def _svg_element(svg: bytes) -> str:
    text = svg.decode("utf-8")
    return text[text.index("<svg") :]


def to_html(graph: Graph, svg: bytes, title: str) -> str:
    """A self-contained page: the svg inline, a legend, nothing fetched."""
    legend = "\n".join(
        f'    <li><span class="swatch" style="background:{fill};border-color:{stroke}"></span>'
        f"{state}</li>"
        for state, (fill, stroke, _) in COLORS.items()
    )
    counts = {s: sum(n.state == s for n in graph.nodes) for s in COLORS}
    summary = ", ".join(f"{c} {s}" for s, c in counts.items() if c)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
  body {{ font-family: Helvetica, Arial, sans-serif; margin: 1.5rem; color: #222; }}
  h1 {{ font-size: 1.2rem; margin: 0 0 .3rem; }}
  p {{ margin: 0 0 .8rem; color: #555; }}
  ul.legend {{ list-style: none; padding: 0; margin: 0 0 1rem; display: flex; gap: 1.2rem; }}
  ul.legend li {{ display: flex; align-items: center; gap: .4rem; font-size: .9rem; }}
  .swatch {{ width: 1.1rem; height: .8rem; border: 2px solid; border-radius: 3px; }}
  .edge-note {{ color: #555; font-size: .9rem; }}
  .graph svg {{ max-width: 100%; height: auto; }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<p>{len(graph.nodes)} runs: {html.escape(summary)}. Arrows point from a stage to the stages that
used it; dashed arrows were inferred from a data path. Hover over a run for its state.</p>
<ul class="legend">
{legend}
</ul>
<div class="graph">
{_svg_element(svg)}
</div>
</body>
</html>
"""


_ANSI = {
    "fresh": "32",
    "stale": "33",
    "failed": "31",
    "running": "36",
    "requeued": "35",
    "missing": "90",
}


def to_text(graph: Graph, color: bool = False) -> str:
    """One line per run, upstream first: its state, folder, keys and upstreams."""
    width = max((len(n.path) for n in graph.nodes), default=0)
    ups: dict[str, list[str]] = {n.id: [] for n in graph.nodes}
    for up, down, inferred in graph.edges:
        ups[down.id].append(up.path + (" (inferred)" if inferred else ""))
    lines = []
    for node in graph.nodes:
        state = f"{node.state:<8}"
        if color:
            state = f"\033[{_ANSI[node.state]}m{state}\033[0m"
        line = f"{state} {node.path:<{width}}"
        if node.keys:
            line += "  " + ", ".join(node.keys)
        if ups[node.id]:
            line += "  <- " + ", ".join(ups[node.id])
        lines.append(line.rstrip())
        if node.note and node.state not in ("running", "requeued"):  # the state says it
            lines.append(f"{'':<8}   {node.note}")
    return "\n".join(lines) + "\n"


def to_json(graph: Graph) -> str:
    edges = [{"from": u.path, "to": d.path, "inferred": i} for u, d, i in graph.edges]
    return (
        json.dumps({"nodes": [n.as_dict() for n in graph.nodes], "edges": edges}, indent=2) + "\n"
    )


def render(graph: Graph, fmt: str, title: str = "Lineage", *, color: bool = False) -> bytes:
    """The lineage in ``fmt``: mermaid, dot, svg, png, html, text (``color``: with ANSI
    colours) or json."""
    if fmt == "mermaid":
        return to_mermaid(graph).encode()
    if fmt == "dot":
        return to_dot(graph).encode()
    if fmt in ("svg", "png"):
        return run_dot(to_dot(graph), fmt)
    if fmt == "html":
        return to_html(graph, run_dot(to_dot(graph), "svg"), title).encode()
    if fmt == "json":
        return to_json(graph).encode()
    return to_text(graph, color=color).encode()


def _format(args: Any) -> str:
    if args.json:
        return "json"
    if args.format:
        return str(args.format)
    if args.output:
        suffix = Path(args.output).suffix.lower()
        if suffix not in _EXTENSIONS:
            raise NagaError(
                f"-o {args.output}: cannot tell the format from '{suffix or 'no extension'}': "
                f"pass --format (mermaid, dot, svg, png, html, text) or name the file "
                f"{', '.join(sorted(_EXTENSIONS))}.",
                path=args.output,
                choices=sorted(_EXTENSIONS),
            )
        return _EXTENSIONS[suffix]
    return "text" if sys.stdout.isatty() else "mermaid"


def show_dag(args: Any) -> int:
    """``naga dag PATH...``: print or write the lineage."""
    fmt = _format(args)
    if fmt == "png" and not args.output and sys.stdout.isatty():
        raise NagaError("--format png is binary: write it to a file with -o lineage.png.")
    if fmt in ("svg", "png", "html") and shutil.which("dot") is None:
        run_dot("", fmt)  # says how to install Graphviz, before any run is read
    graph = build_graph(list(args.paths))
    title = "Lineage of " + ", ".join(args.paths)
    color = not args.output and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    data = render(graph, fmt, title, color=color)
    if args.output:
        atomic_write_bytes(args.output, data)
    elif fmt == "png":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(data.decode("utf-8"))
    return 0
