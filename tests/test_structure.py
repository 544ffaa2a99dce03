"""The code's layering and public surface, checked from the source itself.

- The subpackages (config, lock, launch, tracking, cli) import each other one way only: no cycle.
- No module imports another subpackage's private module: each subpackage's ``__init__`` exports
  what the others may use. The root's private modules (``naga._errors``, ``naga._paths``, ...)
  are the bottom layer: every subpackage may use them, and they import no subpackage.
- Every ``__all__`` is sorted and complete (httpx's ``test_exported_members.py``).
"""

from __future__ import annotations

import ast
import importlib
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import naga

SRC = Path(naga.__file__).parent
SUBPACKAGES = sorted(p.name for p in SRC.iterdir() if (p / "__init__.py").is_file())


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every ``naga...`` module that ``path`` imports, at any depth (lazy and TYPE_CHECKING too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "naga"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "naga":
                continue
            found.append((node.lineno, node.module))
            # `from naga.lock import _git` imports a module too.
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return [(line, name) for line, name in found if _is_module(name)]


def _is_module(name: str) -> bool:
    parts = name.split(".")
    return (SRC.joinpath(*parts[1:]).with_suffix(".py")).is_file() or (
        SRC.joinpath(*parts[1:], "__init__.py").is_file()
    )


def _unit(module: str) -> str:
    """``naga.lock._git`` -> ``lock``; a module of the root package -> ``""`` (the bottom)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in SUBPACKAGES else ""


def _edges() -> tuple[dict[str, set[str]], list[str]]:
    graph: dict[str, set[str]] = {name: set() for name in SUBPACKAGES}
    problems: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        source = _module_name(path)
        unit = _unit(source)
        for line, target in _imports(path):
            target_unit = _unit(target)
            where = f"{path.relative_to(SRC.parent)}:{line} imports {target}"
            if source in ("naga", "naga.__main__"):
                continue  # the package root re-exports lazily; __main__ is the command
            if target_unit == unit:
                continue
            if unit == "" and target_unit:
                problems.append(f"{where}: a bottom-layer module imports a subpackage")
            if target_unit and target != f"naga.{target_unit}":
                problems.append(f"{where}: import naga.{target_unit} (its public names) instead")
            if target == "naga":
                problems.append(f"{where}: the root package is imported from inside naga")
            if unit and target_unit:
                graph[unit].add(target_unit)
    return graph, problems


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_private_imports_across_subpackages() -> None:
    _, problems = _edges()
    assert problems == []


def test_subpackages_import_one_way() -> None:
    graph, _ = _edges()
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


def test_the_checks_catch_a_cycle_and_a_private_import() -> None:
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
    assert _unit("naga.lock._git") == "lock"
    assert _unit("naga._errors") == ""


def _public_modules() -> list[str]:
    names = ["naga"]
    for path in sorted(SRC.rglob("*.py")):
        name = _module_name(path)
        if name != "naga" and name != "naga.__main__":
            names.append(name)
    return names


@pytest.mark.parametrize("name", _public_modules())
def test_every_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        pytest.skip(f"{name} has no __all__")
    assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported)
    for item in exported:
        assert getattr(module, item, None) is not None, f"{name}.__all__ names missing {item}"


@pytest.mark.parametrize("name", ["naga", *(f"naga.{s}" for s in SUBPACKAGES)])
def test_package_all_is_complete(name: str) -> None:
    module = importlib.import_module(name)
    tree = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8"))
    bound: set[str] = set()
    for node in tree.body:  # module level only: TYPE_CHECKING blocks are not exports
        if isinstance(node, ast.ImportFrom):
            bound |= {a.asname or a.name for a in node.names}
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Assign):
            bound |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    public = {
        n
        for n in bound
        if not n.startswith("_")
        and n not in ("annotations", "TYPE_CHECKING")
        and not isinstance(getattr(module, n, None), types.ModuleType)
    }
    missing = sorted(public - set(module.__all__))
    assert missing == [], f"{name} defines public names missing from __all__: {missing}"


def test_docs_api_lists_every_export() -> None:
    # The docs describe what the packages export: docs/api.md is generated from every __all__.
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "api_docs", SRC.parents[1] / "scripts" / "api_docs.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = (SRC.parents[1] / "docs" / "api.md").read_text(encoding="utf-8")
    assert written == module.render(), "run: python scripts/api_docs.py > docs/api.md"


@pytest.mark.parametrize(
    "command", [["check"], ["format", "--check", "--diff"]], ids=["lint", "format"]
)
def test_the_code_passes_ruff(command: list[str]) -> None:
    """The sources, tests, benchmarks and scripts pass ``ruff check`` and ``ruff format``, as
    configured in pyproject.toml (a change that does not fails here, not in review)."""
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it is in the test extra)")
    root = Path(__file__).resolve().parents[1]
    folders = ["src", "tests", "benchmarks", "scripts"]
    done = subprocess.run([ruff, *command, *folders], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_sources_pass_mypy() -> None:
    """naga's own code type-checks with the project's mypy settings (pyproject.toml): the
    types users' mypy sees through py.typed stay true."""
    pytest.importorskip("mypy")
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "src/naga"], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
