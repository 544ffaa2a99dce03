"""Snapshot refs and the receipts that name them: what ``naga gc``, ``naga tag`` and
``naga push``/``pull`` share.

naga keeps its git objects under refs of its own, in the repository the runs used::

    refs/naga/snapshots/<sha>   a snapshot commit of a dirty working tree (made by runlock)
    refs/naga/tags/<name>       a commit on the empty tree whose parents are the snapshots (or
                                commits) of one run and of its whole lineage, so that one ref
                                keeps a pipeline's code reachable

Which snapshots matter is written in the receipts: a run.lock names its snapshots, and those
of every upstream stage it embeds. Everything here and in :mod:`naga.lock._gc`,
:mod:`naga.lock._tags` and :mod:`naga.lock._remote` is the git CLI on ``refs/naga/*`` only: HEAD,
the index, the branches and the working tree are never touched.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from naga._errors import LockError, NagaError
from naga._paths import LOCK_NAME
from naga.lock._format import load_lock
from naga.lock._git import git, repo_root

__all__ = ["TAG_REF_PREFIX", "receipts_under"]

TAG_REF_PREFIX = "refs/naga/tags/"
#: Folders that never hold runs and can be large: not walked when looking for receipts.
_NOT_RUNS = frozenset({".git", "__pycache__", "node_modules", ".venv", ".tox", ".pixi"})

PathLike = str | os.PathLike[str]


# -- receipts ---------------------------------------------------------------------------------


def receipts_under(root: PathLike) -> list[Path]:
    """Every run.lock at or below ``root`` (a folder, or a run.lock file), sorted.

    Raises:
        LockError: ``root`` does not exist.
    """
    path = Path(root)
    if not path.exists():
        raise LockError(
            f"'{os.fspath(root)}' does not exist: pass the folder that holds your runs.",
            path=os.fspath(root),
        )
    if path.is_file():
        return [path] if path.name == LOCK_NAME else []
    found = []
    for folder, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_RUNS)
        if LOCK_NAME in files:
            found.append(Path(folder, LOCK_NAME))
    return found


class _Named:
    """A commit a receipt names: its sha, whether it is a snapshot, the run, the repo root."""

    __slots__ = ("root", "run", "sha", "snapshot")

    def __init__(self, sha: str, snapshot: bool, run: Path, root: Path | None) -> None:
        self.sha, self.snapshot, self.run, self.root = sha, snapshot, run, root


def _named(lock: dict[str, Any], home: Path) -> Iterator[_Named]:
    """The snapshots (else commits) of a run and of every stage it embeds, at any depth."""
    repos = lock.get("repos")
    for entry in (repos or {}).values() if isinstance(repos, dict) else ():
        if not isinstance(entry, dict):
            continue
        sha = entry.get("snapshot") or entry.get("commit")
        if isinstance(sha, str) and sha:
            yield _Named(sha, bool(entry.get("snapshot")), home, _located_root(entry, home))
    prevs = lock.get("prevs")
    for key, embedded in (prevs or {}).items() if isinstance(prevs, dict) else ():
        if isinstance(embedded, dict):
            yield from _named(embedded, Path(os.path.normpath(home / str(key))))


def _located_root(entry: dict[str, Any], home: Path) -> Path | None:
    location, recorded = entry.get("location"), entry.get("root")
    for candidate in (
        home / location if isinstance(location, str) else None,
        Path(recorded) if isinstance(recorded, str) else None,
    ):
        if candidate is not None and (candidate / ".git").exists():
            return candidate.resolve()
    return None


def _collect(locks: Iterable[Path], *, strict: bool) -> tuple[list[_Named], list[str]]:
    """What the receipts name; unreadable receipts raise (``strict``) or are listed."""
    named: list[_Named] = []
    unreadable: list[str] = []
    for lock_file in locks:
        try:
            lock = load_lock(lock_file)
        except NagaError as exc:
            if strict:
                raise LockError(
                    f"{exc} naga gc deletes nothing while a receipt under its roots cannot be "
                    f"read: it might name a snapshot.",
                    path=str(lock_file),
                ) from exc
            unreadable.append(str(lock_file))
            continue
        named += _named(lock, lock_file.parent.resolve())
    return named, unreadable


# -- refs -------------------------------------------------------------------------------------


def _repo(repo: PathLike | None) -> Path:
    return repo_root(repo if repo is not None else os.getcwd())


def _refs(root: Path, prefix: str = "", fields: str = "%(objectname)") -> dict[str, list[str]]:
    """``{ref: [field, ...]}`` of the refs under ``prefix`` (every ref for "")."""
    out = git(
        ["for-each-ref", f"--format=%(refname)%00{fields}", *([prefix] if prefix else [])], root
    )
    refs = {}
    for line in out.splitlines():
        name, *values = line.split("\0")
        refs[name] = values
    return refs
