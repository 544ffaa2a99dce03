"""Comparing a rerun with its receipt: the data before it runs (linked into the worktree from
where it lies), the code it used and the outputs after; and the rerun's own receipt, moved from
the temporary worktree to the user's tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from naga._atomic import atomic_write_text
from naga._errors import NagaError
from naga._paths import LOCK_NAME, is_naga_file
from naga._yaml import dump_yaml, load_yaml
from naga.lock._hashing import changed_files, dir_manifest, hash_path
from naga.lock._judge import _mapping
from naga.lock._rerun_plan import DataCheck, Plan, _shown
from naga.lock._worktree import Worktree

__all__ = [
    "Outputs",
    "check_data",
    "check_worktree_data",
    "code_differences",
    "compare_outputs",
    "link_upstreams",
    "output_stats",
    "relocate",
]


def check_data(check: DataCheck, path: Path) -> bool:
    """Hash ``path`` against the receipt's entry; the result goes on ``check``."""
    if not path.exists():
        check.now, check.ok, check.note, check.files = None, False, f"missing at {path}", []
        return False
    try:
        check.now = hash_path(path)["hash"]
    except NagaError as error:
        check.now, check.ok, check.note = None, False, f"unreadable: {error}"
        return False
    check.ok = check.now == check.recorded
    shown = _shown(path)
    check.note = "same as recorded" if check.ok else "changed"
    if not check.ok and shown != check.name:
        check.note += f" (read at {shown})"
    check.files = [] if check.ok else _file_changes(str(check.recorded or ""), check.now)
    return check.ok


def link_upstreams(plan: Plan, worktree: Worktree) -> None:
    """Upstream run folders at their usual place in the worktree: the rerun of each when it was
    rerun first, else the user's folder (runs are not tracked by git)."""
    for folder in plan.upstreams:
        real = Path(os.path.realpath(folder))
        try:
            rel = real.relative_to(plan.root).as_posix()
        except ValueError:
            continue  # outside the repository: read where it lies
        target = plan.feeds.get(folder) or plan.feeds.get(real)
        if target is not None:
            worktree.link(rel, target)
        elif real.exists() and not os.path.lexists(worktree.inside(rel)):
            worktree.link(rel, real)


def check_worktree_data(plan: Plan, worktree: Worktree) -> None:
    """Each data entry where the rerun reads it: the checkout's copy when git has it at the
    recorded commit and it matches, else the user's (or an upstream rerun's), linked in."""
    for check in plan.data:
        if check.rel is not None and not check.fed:
            inside = worktree.inside(check.rel)
            if os.path.lexists(inside) and check_data(check, inside):
                continue
        check_data(check, check.path)
        if check.fed:
            check.note = f"{check.note}, read from the rerun {_shown(check.path)}"
        if check.rel is not None and check.path.exists():
            worktree.link(check.rel, check.path)


class Outputs:
    """How the rerun's outputs compare with the recorded ones, file by file."""

    def __init__(self) -> None:
        self.identical = 0
        self.total = 0
        self.differences: list[str] = []


def compare_outputs(
    recorded: dict[str, Any],
    home: Path,
    folder: Path,
    new_lock: dict[str, Any],
    before: dict[str, tuple[int, int]] | None = None,
) -> Outputs:
    """Each output entry of the receipt ``recorded`` (of the run in ``home``) against the
    rerun's in ``folder``. With ``before`` (an in-place rerun: the folder's files before it
    ran), files the rerun left untouched are differences too."""
    result = Outputs()
    new_outputs = {
        str(_mapping(e).get("path", n)): _mapping(e).get("hash")
        for n, e in _mapping(new_lock.get("outputs")).items()
    }
    for name, entry in _mapping(recorded.get("outputs")).items():
        entry = _mapping(entry)
        rel = str(entry.get("path", name))
        old = str(entry.get("hash") or "")
        new_path = Path(rel) if os.path.isabs(rel) else folder / rel
        new = new_outputs.get(rel) or (
            hash_path(new_path, outputs=True)["hash"] if new_path.exists() else None
        )
        before_files = _manifest(old, Path(rel) if os.path.isabs(rel) else home / rel)
        after_files = dir_manifest(new) if new else None
        if before_files is not None and after_files is not None:
            prefix = "" if rel == "." else f"{rel}/"
            result.total += len(before_files)
            result.identical += sum(after_files.get(p) == d for p, d in before_files.items())
            result.differences += [f"{prefix}{f} {k}" for f, k in _kinds(before_files, after_files)]
            continue
        count = int(entry.get("files") or 1)
        result.total += count
        if new == old:
            result.identical += count
        else:
            result.differences.append(f"{rel} {'missing' if new is None else 'modified'}")
    if before is not None:
        kept = [rel for rel, stat in output_stats(folder).items() if before.get(rel) == stat]
        result.differences += [f"{rel} not rewritten by the rerun" for rel in kept]
    return result


def _manifest(digest: str, original: Path) -> dict[str, str] | None:
    """The recorded outputs' files: from the cache, else by hashing the original folder when it
    still holds exactly them (the receipt may come from another machine)."""
    found = dir_manifest(digest) if digest else None
    if found is None and original.is_dir() and hash_path(original, outputs=True)["hash"] == digest:
        found = dir_manifest(digest)
    return found


def _kinds(old: dict[str, str], new: dict[str, str]) -> list[tuple[str, str]]:
    kinds = changed_files(old, new)
    names = {"modified": "modified", "removed": "missing", "added": "new"}
    return [(f, names[k]) for k in ("modified", "removed", "added") for f in kinds[k]]


def _file_changes(old: str, new: str) -> list[str]:
    before, after = dir_manifest(old), dir_manifest(new)
    if before is None or after is None:
        return []
    return [f"{f} {k}" for f, k in _kinds(before, after)]


def output_stats(folder: Path) -> dict[str, tuple[int, int]]:
    """``{relative path: (inode, mtime_ns)}`` of a run folder's output files."""
    stats: dict[str, tuple[int, int]] = {}
    for rel, st in _walk_files(folder):
        if not is_naga_file(rel):
            stats[rel] = (st.st_ino, st.st_mtime_ns)
    return stats


def _walk_files(folder: Path) -> Iterator[tuple[str, os.stat_result]]:
    for base, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(base, name)
            try:
                yield Path(os.path.relpath(path, folder)).as_posix(), os.stat(path)
            except OSError:
                continue


def code_differences(recorded: dict[str, Any], new_lock: dict[str, Any], tree: Path) -> list[str]:
    """Files the run used that the rerun did not use from the worktree, with the recorded
    content: a module imported from elsewhere (an editable install of the user's tree)."""
    trees = {str(tree), os.path.realpath(tree)}
    new_used: dict[str, Any] = {}
    for repo in _mapping(new_lock.get("repos")).values():
        if _mapping(repo).get("root") in trees:
            new_used = _mapping(_mapping(repo).get("used"))
    if not new_used:
        return []
    caller_repo = _mapping(recorded.get("caller")).get("repo")
    # The config files the run read: the rerun reads its recorded config instead.
    configs = {
        os.path.normpath(str(_mapping(entry).get("abs")))
        for entry in _mapping(_mapping(recorded.get("config_sources")).get("files")).values()
    }
    out = []
    for repo in _mapping(recorded.get("repos")).values():
        repo = _mapping(repo)
        if repo.get("root") != caller_repo:
            continue
        for rel, blob in _mapping(repo.get("used")).items():
            if os.path.normpath(os.path.join(str(repo.get("root")), str(rel))) in configs:
                continue
            if new_used.get(rel) != blob:
                out.append(str(rel))
    return out


def relocate(folder: Path, tree: Path, root: Path, rerun_of: dict[str, Any]) -> None:
    """Rewrite the rerun's run.lock in ``folder`` as if the run had run in the user's tree at
    ``root`` rather than in the worktree ``tree`` (gone once the rerun ends): paths into the
    worktree point at the same place in the user's tree, stored as runlock stores paths, so
    ``naga status`` judges the rerun against today's tree. ``rerun_of`` is recorded too."""
    lock_file = folder / LOCK_NAME
    try:
        lock = load_yaml(lock_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(lock, dict):
        return
    move = _Mover(tree, root, folder)
    for key in ("cwd",):
        lock[key] = move.absolute(lock.get(key))
    if isinstance(lock.get("command"), list):
        lock["command"] = [move.absolute(a) for a in lock["command"]]
    caller = _mapping(lock.get("caller"))
    if caller:
        caller["repo"] = move.absolute(caller.get("repo"))
    sources = _mapping(lock.get("config_sources"))
    if isinstance(sources.get("files"), dict):
        sources["files"] = {
            move.stored(k): {**_mapping(v), "abs": move.absolute(_mapping(v).get("abs"))}
            for k, v in sources["files"].items()
        }
    if isinstance(sources.get("configs"), list):  # keys of "files", moved with them
        sources["configs"] = [move.stored(k) for k in sources["configs"]]
    if isinstance(sources.get("overrides_file"), str):
        sources["overrides_file"] = move.stored(sources["overrides_file"])
    for part in ("data", "outputs"):
        for entry in _mapping(lock.get(part)).values():
            if isinstance(entry, dict):
                entry["path"] = move.stored(entry.get("path"))
                entry["abs"] = move.absolute(entry.get("abs"))
    for repo in _mapping(lock.get("repos")).values():
        if isinstance(repo, dict):
            repo["root"] = move.absolute(repo.get("root"))
            repo["location"] = move.stored(repo.get("location"))
    env = _mapping(lock.get("environment"))
    if isinstance(env.get("sys_path"), list):
        env["sys_path"] = [move.absolute(p) for p in env["sys_path"]]
    if isinstance(env.get("lock_files"), dict):
        env["lock_files"] = {move.stored(k): v for k, v in env["lock_files"].items()}
    lock["rerun_of"] = rerun_of
    atomic_write_text(lock_file, dump_yaml(lock))


class _Mover:
    """Paths into the worktree, moved to the same place in the user's tree."""

    def __init__(self, tree: Path, root: Path, home: Path) -> None:
        self.trees = sorted({str(tree), os.path.realpath(tree)}, key=len, reverse=True)
        self.root = root
        self.home = Path(os.path.realpath(home))

    def _moved(self, path: str) -> str | None:
        for tree in self.trees:
            if path == tree or path.startswith(tree + os.sep):
                return str(self.root) + path[len(tree) :]
        return None

    def absolute(self, value: Any) -> Any:
        """An absolute path (information): into the worktree -> into the user's tree."""
        if not isinstance(value, str):
            return value
        return self._moved(value) or value

    def stored(self, value: Any) -> Any:
        """A path as runlock stores it (relative to the run.lock's folder inside the
        repository, else absolute): one into the worktree becomes one into the user's tree."""
        if not isinstance(value, str):
            return value
        full = value if os.path.isabs(value) else os.path.normpath(os.path.join(self.home, value))
        moved = self._moved(full)
        if moved is None:
            return value
        return Path(os.path.relpath(moved, self.home)).as_posix()
