"""A temporary, detached git worktree of a recorded commit, removed afterwards.

``naga rerun`` materialises a run's exact code here: ``git worktree add --detach`` into a fresh
temporary folder, never a branch, never the user's working tree, index or HEAD (a worktree has
its own). Hooks are off (``core.hooksPath=/dev/null``), so no post-checkout hook of the
repository fires. Files the run read from the user's tree but git does not track are linked in
(symlinks to where they lie); the links are removed before the worktree, so removing it can
never reach the user's files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from naga._errors import GitError
from naga.lock._git import git

__all__ = ["Worktree", "has_commit", "in_commit"]

#: No hook of the repository fires, no fsmonitor starts.
_QUIET_GIT = ["-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false"]


def has_commit(root: Path, sha: str) -> bool:
    """True when the repository at ``root`` holds commit ``sha``."""
    try:
        git([*_QUIET_GIT, "cat-file", "-e", f"{sha}^{{commit}}"], root)
    except GitError:
        return False
    return True


def in_commit(root: Path, sha: str, rel: str) -> bool:
    """True when commit ``sha`` holds the file or folder ``rel`` (a path from the repo root)."""
    try:
        git([*_QUIET_GIT, "cat-file", "-e", f"{sha}:{rel}"], root)
    except GitError:
        return False
    return True


class Worktree:
    """``with Worktree(root, sha) as tree:`` a checkout of ``sha`` at ``tree.path``.

    Args:
        root: The repository (its working tree's root).
        sha: The commit to check out, detached.
    """

    def __init__(self, root: Path, sha: str) -> None:
        self.root = root
        self.sha = sha
        self._tmp = ""
        self.path = Path()
        self._links: list[Path] = []

    def __enter__(self) -> Worktree:
        self._tmp = tempfile.mkdtemp(prefix="naga-rerun-")
        self.path = Path(self._tmp) / "tree"
        try:
            git(
                [*_QUIET_GIT, "worktree", "add", "--detach", "--quiet", str(self.path), self.sha],
                self.root,
            )
        except BaseException:
            shutil.rmtree(self._tmp, ignore_errors=True)
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Remove the links, the worktree, its registration in the repository, and the folder."""
        for link in reversed(self._links):
            try:
                if link.is_symlink():
                    link.unlink()
            except OSError:
                pass
        self._links.clear()
        try:
            git([*_QUIET_GIT, "worktree", "remove", "--force", str(self.path)], self.root)
        except GitError:
            pass  # already gone: prune below forgets it
        try:
            git([*_QUIET_GIT, "worktree", "prune"], self.root)
        except GitError:
            pass
        shutil.rmtree(self._tmp, ignore_errors=True)

    def inside(self, rel: str) -> Path:
        """``rel`` (a path from the repository root) in the worktree."""
        return self.path / rel

    def link(self, rel: str, target: Path) -> bool:
        """Make ``rel`` in the worktree a symlink to ``target`` (a file or folder of the user's).

        The worktree's own copy, if any, is removed first (it is a checkout: nothing of the
        user's). Refused (False) when a folder on the way is itself a link out of the worktree.
        """
        where = self.inside(rel)
        base = Path(os.path.realpath(self.path))
        existing = where.parent
        while not os.path.lexists(existing):  # the deepest folder on the way that exists
            existing = existing.parent
        real = Path(os.path.realpath(existing))
        if real != base and base not in real.parents:
            return False  # never create folders through a link, in the user's tree
        where.parent.mkdir(parents=True, exist_ok=True)
        if where.is_symlink() or where.is_file():
            where.unlink()
        elif where.is_dir():
            shutil.rmtree(where)
        where.symlink_to(target, target_is_directory=target.is_dir())
        self._links.append(where)
        return True
