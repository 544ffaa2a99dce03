"""Git state through the git CLI: HEAD, branch, dirty flag, remote, and snapshot commits.

A snapshot is a commit of the working tree (tracked changes and untracked, not-ignored files)
built on a temporary copy of the index, so HEAD, the real index, every branch and the working
tree stay exactly as they were. It is kept reachable under ``refs/naga/snapshots/<sha>``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from naga._errors import GitError, LockError

__all__ = [
    "SNAPSHOT_REF_PREFIX",
    "changed_paths",
    "git",
    "git_state",
    "repo_root",
    "strip_credentials",
]

SNAPSHOT_REF_PREFIX = "refs/naga/snapshots/"
_IDENTITY = {
    "GIT_AUTHOR_NAME": "naga",
    "GIT_AUTHOR_EMAIL": "naga@localhost",
    "GIT_COMMITTER_NAME": "naga",
    "GIT_COMMITTER_EMAIL": "naga@localhost",
}
_EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_CREDENTIALS = re.compile(r"(?<=://)[^/@]+@")


def git(args: list[str], cwd: str | os.PathLike[str], env: dict[str, str] | None = None) -> str:
    """Run ``git args`` in ``cwd`` and return its stdout.

    Raises:
        GitError: git exited non-zero; its stderr is in the message and in ``stderr``.
        LockError: git is not installed.
    """
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    except FileNotFoundError as exc:
        raise LockError("git is not installed: install git (apt-get install git).") from exc
    except subprocess.CalledProcessError as exc:
        raise GitError(
            f"`git {args[0] if args else ''}` failed in '{os.fspath(cwd)}'",
            command=args,
            stderr=exc.stderr or "",
            path=os.fspath(cwd),
        ) from exc
    return done.stdout


def repo_root(path: str | os.PathLike[str]) -> Path:
    """The root of the git repository holding ``path``.

    Raises:
        LockError: ``path`` does not exist or is not inside a git repository.
    """
    folder = Path(path)
    if not folder.exists():
        raise LockError(f"repo path '{os.fspath(path)}' does not exist: pass an existing folder.")
    if not folder.is_dir():
        folder = folder.parent
    try:
        return Path(git(["rev-parse", "--show-toplevel"], folder).strip())
    except GitError as exc:
        if "safe.directory" in exc.stderr:  # a repository owned by another user
            top = exc.stderr.split("'")[1] if exc.stderr.count("'") >= 2 else os.fspath(path)
            raise LockError(
                f"git refuses the repository at '{top}' because another user owns it: if you "
                f"trust it, run `git config --global --add safe.directory {top}`.",
                path=top,
            ) from exc
        raise LockError(
            f"repo path '{os.fspath(path)}' is not inside a git repository: run `git init` "
            f"there and commit, or remove it from repos=.",
            path=os.fspath(path),
        ) from exc


def strip_credentials(url: str | None) -> str | None:
    """``https://user:token@host/x`` -> ``https://host/x``; other URLs unchanged."""
    return _CREDENTIALS.sub("", url) if url else url


def git_state(path: str | os.PathLike[str], *, snapshot: bool = True) -> dict[str, Any]:
    """The ``repos`` entry of a run.lock for the repository holding ``path``.

    The working tree is written to a tree object through a temporary copy of the index (one
    scan of the tree, reusing git's stat cache); the tree differs from HEAD's exactly when the
    working tree is dirty, in which case it becomes the snapshot commit.

    Args:
        path: Any path inside the repository.
        snapshot: When the tree is dirty, keep a snapshot commit of it under ``refs/naga/``.

    Returns:
        ``{path, root, commit, branch, dirty, remote}`` plus ``snapshot`` and ``snapshot_ref``
        when dirty and ``snapshot`` is true. ``commit`` is None in a repository with no commit.
    """
    root = repo_root(path)
    head = _head(root)
    tree = _working_tree(root, head["index"])
    dirty = tree != head["tree"]
    state: dict[str, Any] = {
        "path": os.fspath(path),
        "root": str(root),
        "commit": head["commit"],
        "branch": head["branch"],
        "dirty": dirty,
        "tree": tree,
        "object_format": head["object_format"],
        "remote": strip_credentials(_remote(root)),
    }
    if dirty and snapshot:
        sha = _commit_snapshot(root, tree, head["commit"])
        state["snapshot"] = sha
        state["snapshot_ref"] = SNAPSHOT_REF_PREFIX + sha
    return state


def _head(root: Path) -> dict[str, Any]:
    """HEAD's commit, tree and branch, and the index path, in one git call."""
    try:
        out = git(
            [
                "rev-parse",
                "--show-object-format",
                "--git-path",
                "index",
                "HEAD",
                "HEAD^{tree}",
                "--symbolic-full-name",
                "HEAD",
            ],
            root,
        )
        object_format, index, commit, tree, ref = out.splitlines()[:5]
    except (GitError, ValueError):  # no commit yet
        object_format, index = git(
            ["rev-parse", "--show-object-format", "--git-path", "index"], root
        ).split()[:2]
        return {
            "index": Path(root, index),
            "commit": None,
            "tree": _EMPTY_TREE,
            "branch": _unborn_branch(root),
            "object_format": object_format,
        }
    branch = ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else None
    return {
        "index": Path(root, index),
        "commit": commit,
        "tree": tree,
        "branch": branch,
        "object_format": object_format,
    }


def _unborn_branch(root: Path) -> str | None:
    try:
        return git(["symbolic-ref", "--short", "-q", "HEAD"], root).strip() or None
    except GitError:
        return None


def _working_tree(root: Path, index: Path) -> str:
    with tempfile.TemporaryDirectory(prefix="naga-index-") as tmp:
        temp_index = os.path.join(tmp, "index")
        if index.exists():
            shutil.copy2(index, temp_index)  # git reuses the copied stat cache
        env = {**os.environ, **_IDENTITY, "GIT_INDEX_FILE": temp_index}
        git(["add", "-A"], root, env)
        return git(["write-tree"], root, env).strip()


def _commit_snapshot(root: Path, tree: str, parent: str | None) -> str:
    args = ["commit-tree", tree, "-m", "naga snapshot of the working tree"]
    if parent:
        args[2:2] = ["-p", parent]
    sha = git(args, root, {**os.environ, **_IDENTITY}).strip()
    git(["update-ref", SNAPSHOT_REF_PREFIX + sha, sha], root)
    return sha


def _remote(root: Path) -> str | None:
    try:
        out = git(["config", "--get-regexp", r"^remote\..*\.url$"], root)
    except GitError:
        return None
    urls = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    return urls.get("remote.origin.url") or next(iter(urls.values()), None)


_KINDS = {"A": "added", "D": "deleted"}


def changed_paths(root: str | os.PathLike[str], rev: str) -> dict[str, str]:
    """How the working tree differs from commit ``rev``: ``{path: added|modified|deleted}``.

    The working tree is written to a tree exactly as for a snapshot (tracked changes and
    untracked, not-ignored files, through a temporary index) and compared with ``rev``'s tree
    in one ``git diff-tree``: no per-file git call, however many files changed.
    """
    repo = repo_root(root)
    tree = _working_tree(repo, _head(repo)["index"])
    out = git(["diff-tree", "-r", "--no-renames", "--name-status", "-z", rev, tree], repo)
    fields = out.split("\0")
    return {
        path: _KINDS.get(status[:1], "modified")
        for status, path in zip(fields[0::2], fields[1::2], strict=False)
        if path
    }
