"""``naga status``: is a run still reproducible from today's state?"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from naga._errors import GitError
from naga._paths import LOCK_NAME
from naga.cli._compare import Change, compare_locks
from naga.lock import (
    ALGORITHM,
    changed_files,
    changed_paths,
    dir_manifest,
    find_lock,
    git,
    hash_file,
    hash_path,
    installed_packages,
    load_lock,
)

__all__ = ["run_status"]


def run_status(path: str | os.PathLike[str], _seen: set[str] | None = None) -> list[Change]:
    """Every way today's state differs from the run.lock of ``path`` (empty: reproducible)."""
    lock_file = find_lock(path)
    lock = load_lock(lock_file)
    base = Path(lock.get("cwd") or lock_file.parent)
    changes = _config_sources(lock) + _code(lock) + _data(lock, base) + _environment(lock)
    seen = _seen if _seen is not None else set()
    for prev_path, embedded in (lock.get("prevs") or {}).items():
        if prev_path in seen:
            continue
        seen.add(prev_path)
        try:
            current = load_lock(prev_path)
        except Exception as exc:  # a missing or broken upstream is a change, not a crash
            changes.append(
                Change("prevs", prev_path, LOCK_NAME, None, f"upstream unreadable: {exc}")
            )
            continue
        if current != embedded:
            changes.append(
                Change(
                    "prevs",
                    prev_path,
                    embedded.get("created"),
                    current.get("created"),
                    "upstream was rerun",
                )
            )
        upstream = run_status(prev_path, seen)
        if upstream:
            changes.append(
                Change(
                    "prevs", prev_path, None, None, f"upstream is stale ({len(upstream)} change(s))"
                )
            )
    return changes


def _config_sources(lock: dict[str, Any]) -> list[Change]:
    changes = []
    for file, entry in ((lock.get("config_sources") or {}).get("files") or {}).items():
        try:
            now: str | None = f"{ALGORITHM}:{hash_file(file)}"
        except OSError:
            now = None
        if now != (entry or {}).get("hash"):
            changes.append(
                Change(
                    "config",
                    file,
                    (entry or {}).get("hash"),
                    now,
                    "config file missing" if now is None else "config file edited",
                )
            )
    return changes


def _code(lock: dict[str, Any]) -> list[Change]:
    changes = []
    for name, repo in (lock.get("repos") or {}).items():
        root = repo.get("root")
        if not root or not os.path.isdir(root):
            changes.append(Change("code", name, root, None, "repository missing"))
            continue
        try:
            head = git(["rev-parse", "HEAD"], root).strip()
        except GitError:
            head = None
        if head != repo.get("commit"):
            changes.append(Change("code", f"{name}.commit", repo.get("commit"), head, "HEAD moved"))
        rev = repo.get("snapshot") or repo.get("commit")
        if not rev:
            continue
        try:
            edited = changed_paths(root, rev)
        except GitError:
            changes.append(
                Change("code", name, rev, None, "recorded commit not found in the repository")
            )
            continue
        for file, kind in edited.items():
            if _inside_a_run(root, file):
                continue
            changes.append(Change("code", f"{name}:{file}", None, None, f"{kind} since the run"))
    return changes


def _inside_a_run(root: str, file: str) -> bool:
    """Outputs of runs (anything in a folder holding a run.lock) are not code."""
    parts = Path(file).parts[:-1]
    return any(Path(root, *parts[: i + 1], LOCK_NAME).is_file() for i in range(len(parts)))


def _data(lock: dict[str, Any], base: Path) -> list[Change]:
    changes = []
    for name, entry in (lock.get("data") or {}).items():
        path = base / entry.get("path", name)
        if not path.exists():
            changes.append(Change("data", name, entry.get("hash"), None, "missing"))
            continue
        now = hash_path(path)
        if now["hash"] == entry.get("hash"):
            continue
        changes.append(Change("data", name, entry.get("hash"), now["hash"], "content changed"))
        old_files, new_files = dir_manifest(entry.get("hash", "")), dir_manifest(now["hash"])
        if old_files is not None and new_files is not None:
            for kind, files in changed_files(old_files, new_files).items():
                changes += [Change("data", f"{name}/{f}", None, None, kind) for f in files]
    return changes


def _environment(lock: dict[str, Any]) -> list[Change]:
    env = lock.get("environment") or {}
    python, packages, notes = _interpreter(env.get("executable"))
    now = {"packages": packages, "python": python, "lock_files": _lock_files(env)}
    return notes + [
        c
        for c in compare_locks({"environment": env}, {"environment": {**env, **now}})
        if c.part == "environment"
    ]


_PROBE = "import json, platform, sys; print(json.dumps([platform.python_version(), sys.path]))"


def _interpreter(recorded: str | None) -> tuple[str, dict[str, str], list[Change]]:
    """Python version and packages of the interpreter the run used, today.

    ``naga status`` may run from another environment (a pipx install, another venv): the run's
    own interpreter is asked for its path, so its packages are compared, not naga's.
    """
    import json
    import platform
    import sys

    def here(note: str | None = None) -> tuple[str, dict[str, str], list[Change]]:
        change = Change("environment", "executable", recorded, sys.executable, note or "")
        return platform.python_version(), installed_packages(), [change] if note else []

    if not recorded or _same_path(recorded, sys.executable):
        return here()
    if not os.path.exists(recorded):
        return here("the run's Python is gone: compared with the one running naga")
    try:
        done = subprocess.run(
            [recorded, "-c", _PROBE], capture_output=True, text=True, timeout=60, check=True
        )
        version, path = json.loads(done.stdout)
    except (OSError, ValueError, subprocess.SubprocessError):
        return here("the run's Python does not start: compared with the one running naga")
    return version, installed_packages(path), []


def _same_path(a: str, b: str) -> bool:
    # Paths, not inodes: every venv's python links to the same base interpreter, yet each
    # venv has its own packages.
    return os.path.abspath(a) == os.path.abspath(b)


def _lock_files(env: dict[str, Any]) -> dict[str, str]:
    out = {}
    for file in env.get("lock_files") or {}:
        try:
            out[file] = f"{ALGORITHM}:{hash_file(file)}"
        except OSError:
            continue
    return out
