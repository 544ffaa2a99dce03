"""``naga dag PATH...``: the lineage of runs as a picture.

The graph (:mod:`naga.cli._dag_graph`) is drawn with a node per run, coloured by its state
(fresh, stale, failed, running, requeued, missing), an arrow from each upstream (dashed when
inferred from a ``data=`` path) and a box around the tasks of a sweep. Formats: mermaid (paste
into GitHub), dot, svg and png rendered by Graphviz's ``dot``, a self-contained html page (the
svg inline and a legend), text, json; ``-o FILE`` picks one by the file's extension.
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
from naga.cli._dag_graph import Graph, Node, build_graph, display_path

__all__ = [
    "COLORS",
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


def _mermaid_text(text: str) -> str:
    return html.escape(text, quote=False).replace('"', "#quot;")


def to_mermaid(graph: Graph) -> str:
    """A mermaid flowchart (GitHub draws ```` ```mermaid ```` blocks)."""
    lines = ["flowchart TD"]

    def node_line(node: Node, indent: str) -> str:
        label = "<br/>".join(_mermaid_text(line) for line in node.lines())
        return f'{indent}{node.id}["{label}"]:::{node.state}'

    for i, (group, members) in enumerate(graph.groups.items()):
        lines.append(f'  subgraph g{i}["{_mermaid_text(display_path(group))} (sweep)"]')
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
        lines.append(f'    label="{_dot_text(display_path(group))} (sweep)";')
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
