"""``runlock``: write the run.lock receipt of a run."""

from __future__ import annotations

import os
import socket
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from naga._atomic import atomic_write_text
from naga._errors import ConfigError, LockError
from naga._paths import LOCK_NAME, is_own_temp
from naga._yaml import dump_yaml
from naga.lock._environment import environment_state
from naga.lock._format import LOCK_VERSION, compact, expand, find_lock, load_lock, write_twin
from naga.lock._git import git_state, repo_root
from naga.lock._hashing import ALGORITHM, hash_file, hash_path
from naga.lock._used import code_digests, imported_distributions, used_files

__all__ = ["runlock"]

PathLike = str | os.PathLike[str]
Named = list[PathLike] | tuple[PathLike, ...] | dict[str, PathLike] | None
_STALE_TEMP_SECONDS = 60


def runlock(
    config: Any = None,
    repos: Named = None,
    data: Named = None,
    prevs: Named = None,
    runlock_path: PathLike | None = None,
    *,
    code: list[str] | None = None,
    outputs: Named = None,
) -> dict[str, Any]:
    """Write the run.lock receipt of a run and return what was written.

    Everything is checked before anything is written: a missing data path, a previous stage
    without run.lock, a repo path outside git, or a config that cannot be serialised raise
    ``LockError``/``ConfigError`` and leave any previous run.lock untouched. The file is written
    atomically: a crash at any moment leaves the old file or the new one.

    Args:
        config: The run's config: an instance or class of any kind ``clicfg`` accepts, or a dict.
        repos: Git repositories to record (a list of paths, or a dict of name -> path).
        data: Files or directories to hash (a list, or a dict of name -> path).
        prevs: Previous stages: run directories, files inside them, or run.lock paths.
        runlock_path: Where to write; defaults to ``<config.save_dir>/run.lock``.
        code: Globs relative to each repo's root for files the run reads at run time
            (templates, SQL, ...), recorded as used beside the imported modules.
        outputs: The run's outputs (a list, or a dict of name -> path). By default the run
            folder (where run.lock goes) without naga's own files and nested runs; ``[]``
            records none. Call runlock after the outputs are written.

    Returns:
        The lock, as :func:`naga.load_lock` reads it back (embedded stages whole).

    Example:
        >>> runlock(config=cfg, repos=["."], data=[cfg.input_path],
        ...         runlock_path=Path(cfg.save_dir) / "run.lock")  # doctest: +SKIP
    """
    from naga._plain import to_plain
    from naga._provenance import provenance_of

    plain_config = to_plain(config) if config is not None else None
    target = _target_path(plain_config, runlock_path)
    home = target.parent.resolve()
    repo_items = _named(repos, "repos")
    data_items = _named(data, "data")
    output_items = [(".", home)] if outputs is None else _named(outputs, "outputs")
    for what, items in (("data", data_items), ("outputs", output_items)):
        for name, path in items:
            _check_text(what, name, os.fspath(path))
            if not os.path.exists(path) and not (what == "outputs" and name == "."):
                raise LockError(
                    f"{what} entry '{name}': path '{os.fspath(path)}' does not exist: create it "
                    f"before calling runlock, or fix the path.",
                    path=os.fspath(path),
                    key=name,
                )
    roots = {name: repo_root(path) for name, path in repo_items}
    enclosing = _find_repo_root(home)
    prev_locks: dict[str, dict[str, Any]] = {}
    for _, p in _named(prevs, "prevs"):
        folder = find_lock(p).parent.resolve()
        prev_locks[_where(folder, home, enclosing)] = load_lock(p)
    for _, path in data_items:  # a data path inside a run folder: that run is upstream
        upstream = _run_folder_of(Path(path).resolve(), stop=enclosing)
        if upstream is not None and upstream != home:
            key = _where(upstream, home, enclosing)
            if key not in prev_locks:
                prev_locks[key] = {**load_lock(upstream), "inferred": True}

    lock: dict[str, Any] = {
        "lock_version": LOCK_VERSION,
        "naga_version": _naga_version(),
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "host": socket.gethostname(),
        "command": list(getattr(sys, "orig_argv", [sys.executable, *sys.argv])),
        "cwd": os.getcwd(),
        "caller": _caller(sys._getframe(1)),
        "config": plain_config,
    }
    sources = provenance_of(config) if config is not None else None
    source_files = list(sources["files"]) if sources is not None else []
    if sources is not None:
        lock["config_sources"] = {
            "files": {
                _where(Path(f), home, enclosing): {"hash": _file_hash(f), "abs": f}
                for f in source_files
            },
            "experiment": sources["experiment"],
            "overrides": list(sources["overrides"]),
        }
        if "taken" in sources:  # what the files gave the run: judged by value
            lock["config_sources"]["configs"] = [
                _where(Path(f), home, enclosing) for f in sources["configs"]
            ]
            extra = sources.get("overrides_file")
            lock["config_sources"]["overrides_file"] = (
                _where(Path(extra), home, enclosing) if extra else None
            )
            lock["config_sources"]["taken"] = sources["taken"]
            lock["config_sources"]["defaults"] = sources.get("defaults") or {}
            if sources.get("task_keys"):  # a sweep's task: the keys it set itself
                lock["config_sources"]["task_keys"] = list(sources["task_keys"])
    # Data first: an unreadable file then fails before any snapshot ref is created.
    lock["data"] = {
        name: _located(hash_path(path), path, home, enclosing) for name, path in data_items
    }
    caller_file = os.path.abspath(sys._getframe(1).f_code.co_filename)
    repos_state = {}
    for name, path in repo_items:
        state = git_state(path)
        submodules = state.pop("submodules", {})
        root = str(roots[name])
        state["location"] = _relative(Path(root), home)
        state["used"] = used_files(
            root,
            extra=[caller_file, *source_files],
            code=code,
            object_format=state.get("object_format") or "sha1",
        )
        # Python files also by their syntax tree: a comment or a reformat is not a change.
        state["used_ast"] = code_digests(root, state["used"])
        if code:
            state["code"] = list(code)
        repos_state[name] = state
        for rel, sub in _flat_submodules(submodules):  # each a repo entry of its own
            sub["location"] = _relative(Path(sub["root"]), home)
            repos_state[f"{name}/{rel}"] = sub
    lock["repos"] = repos_state
    if outputs is None:
        home.mkdir(parents=True, exist_ok=True)  # no outputs yet: an empty folder is recorded
    lock["outputs"] = {
        name: _located(hash_path(path, outputs=True), path, home, enclosing)
        for name, path in output_items
        if os.path.exists(path)
    }
    environment = environment_state(sorted({str(r) for r in roots.values()}))
    environment["imported"] = imported_distributions(environment["packages"], [caller_file])
    environment["lock_files"] = {
        _where(Path(k), home, enclosing): v for k, v in environment["lock_files"].items()
    }
    lock["environment"] = environment
    lock["prevs"] = {k: compact(v, environment) for k, v in prev_locks.items()}
    text = dump_yaml(lock)
    _clean_stale_temps(target)
    atomic_write_text(target, text)
    write_twin(target, text, lock)
    return expand(lock)  # as load_lock reads it back


def _flat_submodules(
    submodules: dict[str, Any], prefix: str = ""
) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for rel, sub in submodules.items():
        nested = sub.pop("submodules", {})
        out.append((prefix + rel, sub))
        out += _flat_submodules(nested, f"{prefix}{rel}/")
    return out


def _check_text(what: str, name: str, path: str) -> None:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError as exc:
        shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        raise LockError(
            f"{what} entry '{shown}': the path holds bytes that are not UTF-8, which run.lock "
            f"cannot record: rename it to a UTF-8 name.",
            path=shown,
        ) from exc


def _relative(path: Path, home: Path) -> str:
    return os.path.relpath(path, home).replace(os.sep, "/")


def _where(path: Path, home: Path, enclosing: Path | None) -> str:
    """A path as run.lock stores it: relative to the run.lock's folder when it lies in the same
    tree (the repository that encloses the run folder, or the run folder itself), else absolute.
    """
    resolved = path.resolve()
    for base in (home, enclosing):
        if base is not None and (resolved == base or base in resolved.parents):
            return _relative(resolved, home)
    return str(resolved)


def _located(
    entry: dict[str, Any], path: PathLike, home: Path, enclosing: Path | None
) -> dict[str, Any]:
    return {**entry, "path": _where(Path(path), home, enclosing), "abs": str(Path(path).resolve())}


def _run_folder_of(path: Path, stop: Path | None) -> Path | None:
    """The nearest folder at or above ``path`` that holds a run.lock (not above ``stop``)."""
    for folder in (path, *path.parents) if path.is_dir() else path.parents:
        if (folder / LOCK_NAME).is_file():
            return folder
        if stop is not None and folder == stop:
            return None
    return None


def _target_path(config: Any, runlock_path: PathLike | None) -> Path:
    if runlock_path is not None:
        return Path(runlock_path)
    save_dir = config.get("save_dir") if isinstance(config, dict) else None
    if not save_dir:
        raise LockError(
            "runlock has nowhere to write: pass runlock_path=..., or give the config a save_dir."
        )
    return Path(save_dir) / LOCK_NAME


def _named(items: Named, what: str) -> list[tuple[str, PathLike]]:
    if items is None:
        return []
    if isinstance(items, dict):
        return [(str(k), v) for k, v in items.items()]
    if isinstance(items, (str, os.PathLike)):
        return [(os.fspath(items), items)]
    if isinstance(items, (list, tuple)):
        return [(os.fspath(p), p) for p in items]
    raise ConfigError(
        f"runlock {what}= takes a list of paths or a dict of name -> path, got "
        f"{type(items).__name__}: wrap the path in a list."
    )


def _file_hash(path: str) -> str | None:
    try:
        return f"{ALGORITHM}:{hash_file(path)}"
    except OSError:
        return None


def _caller(frame: Any) -> dict[str, Any]:
    file = os.path.abspath(frame.f_code.co_filename)
    root = _find_repo_root(Path(file).parent)
    relative = os.path.relpath(file, root) if root else file
    return {
        "module": frame.f_globals.get("__name__"),
        "function": frame.f_code.co_name,
        "file": relative,
        "repo": str(root) if root else None,
    }


def _find_repo_root(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


def _naga_version() -> str:
    from naga._version import __version__

    return __version__


def _clean_stale_temps(target: Path) -> None:
    """Remove temp files that killed writers of naga's files (run.lock, config.json, result.json)
    left beside ``target`` more than a minute ago."""
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    limit = time.time() - _STALE_TEMP_SECONDS
    prefix = f".{target.name}."
    for entry in entries:
        if (entry.name.startswith(prefix) and entry.name.endswith(".tmp")) or is_own_temp(
            entry.name
        ):
            try:
                if entry.stat().st_mtime < limit:
                    os.unlink(entry.path)
            except OSError:
                pass
