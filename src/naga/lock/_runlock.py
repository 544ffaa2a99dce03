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
from naga._paths import LOCK_NAME
from naga._yaml import dump_yaml
from naga.lock._environment import environment_state
from naga.lock._format import LOCK_VERSION, find_lock, load_lock
from naga.lock._git import git_state, repo_root
from naga.lock._hashing import ALGORITHM, hash_file, hash_path

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

    Returns:
        The lock, as the dict that was written.

    Example:
        >>> runlock(config=cfg, repos=["."], data=[cfg.input_path],
        ...         runlock_path=Path(cfg.save_dir) / "run.lock")  # doctest: +SKIP
    """
    from naga._plain import to_plain
    from naga._provenance import provenance_of

    plain_config = to_plain(config) if config is not None else None
    target = _target_path(plain_config, runlock_path)
    repo_items = _named(repos, "repos")
    data_items = _named(data, "data")
    for name, path in data_items:
        if not os.path.exists(path):
            raise LockError(
                f"data entry '{name}': path '{os.fspath(path)}' does not exist: create it before "
                f"calling runlock, or fix the path."
            )
    roots = {name: repo_root(path) for name, path in repo_items}
    prev_locks = {
        str(find_lock(p).parent.resolve()): load_lock(p) for _, p in _named(prevs, "prevs")
    }

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
    if sources is not None:
        lock["config_sources"] = {
            "files": {f: {"hash": _file_hash(f)} for f in sources["files"]},
            "experiment": sources["experiment"],
            "overrides": list(sources["overrides"]),
        }
    # Data first: an unreadable file then fails before any snapshot ref is created.
    data_state = {name: hash_path(path) for name, path in data_items}
    lock["repos"] = {name: git_state(path) for name, path in repo_items}
    lock["data"] = data_state
    lock["prevs"] = prev_locks
    lock["environment"] = environment_state(sorted({str(r) for r in roots.values()}))
    text = dump_yaml(lock)
    _clean_stale_temps(target)
    atomic_write_text(target, text)
    return lock


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
    """Remove temp files that killed writers left beside ``target`` more than a minute ago."""
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    limit = time.time() - _STALE_TEMP_SECONDS
    prefix = f".{target.name}."
    for entry in entries:
        if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
            try:
                if entry.stat().st_mtime < limit:
                    os.unlink(entry.path)
            except OSError:
                pass
