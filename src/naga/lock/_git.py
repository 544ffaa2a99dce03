"""Git state through the git CLI: HEAD, branch, dirty flag, remote, and snapshot commits.

A snapshot is a commit of the working tree (tracked changes and untracked, not-ignored files)
built on a temporary copy of the index, so HEAD, the real index, every branch and the working
tree stay exactly as they were. It is kept reachable under ``refs/naga/snapshots/<sha>``.
Untracked files over a size limit (10 MB; ``NAGA_SNAPSHOT_MAX_FILE_MB``, else
``[tool.naga] snapshot_max_file_mb`` in the repository's pyproject.toml) are left out of it and
named, with their hash, in the receipt instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from naga._errors import GitError, LockError
from naga._urls import strip_credentials

__all__ = [
    "DEFAULT_MAX_FILE_MB",
    "SNAPSHOT_REF_PREFIX",
    "changed_paths",
    "git",
    "git_state",
    "max_file_bytes",
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
#: Untracked files larger than this many MB (2**20 bytes) stay out of snapshots by default.
DEFAULT_MAX_FILE_MB = 10.0
_MAX_FILE_ENV = "NAGA_SNAPSHOT_MAX_FILE_MB"
_MAX_FILE_KEY = "snapshot_max_file_mb"


def git(
    args: list[str],
    cwd: str | os.PathLike[str],
    env: dict[str, str] | None = None,
    *,
    input: str | None = None,
) -> str:
    """Run ``git args`` in ``cwd`` (``input`` on its stdin) and return its stdout.

    Raises:
        GitError: git exited non-zero; its stderr is in the message and in ``stderr``.
        LockError: git is not installed.
    """
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            input=input,
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
        when dirty and ``snapshot`` is true, and ``skipped`` (``{relpath: {size, hash}}``) when
        untracked files over the size limit were left out of the tree. ``commit`` is None in a
        repository with no commit.
    """
    root = repo_root(path)
    head = _head(root)
    tree, big = _working_tree(root, head["index"])
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
    submodules = {rel: git_state(root / rel, snapshot=snapshot) for rel in _submodules(root)}
    if submodules:
        # `git add -A` stages only a submodule's commit: uncommitted changes inside it would
        # leave the parent "clean". Each submodule is recorded on its own, and dirties the parent.
        state["submodules"] = submodules
        if any(sub["dirty"] for sub in submodules.values()):
            dirty = state["dirty"] = True
    if dirty and snapshot:
        sha = _commit_snapshot(root, tree, head["commit"])
        state["snapshot"] = sha
        state["snapshot_ref"] = SNAPSHOT_REF_PREFIX + sha
    if big:
        state["skipped"] = _skipped(root, big)
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


def _submodules(root: Path) -> list[str]:
    """The checked-out submodules of the repository at ``root`` (none without .gitmodules)."""
    if not (root / ".gitmodules").is_file():
        return []
    try:
        out = git(["ls-files", "-s", "-z"], root)
    except GitError:
        return []
    found = []
    for item in out.split("\0"):
        meta, _, rel = item.partition("\t")
        if meta.startswith("160000 ") and rel and (root / rel / ".git").exists():
            found.append(rel)
    return found


def _unborn_branch(root: Path) -> str | None:
    try:
        return git(["symbolic-ref", "--short", "-q", "HEAD"], root).strip() or None
    except GitError:
        return None


def _working_tree(root: Path, index: Path) -> tuple[str, dict[str, int]]:
    """The working tree as a tree object, and the untracked files left out for their size.

    One ``git status`` on a temporary copy of the index (git's stat cache, one walk of the
    tree) lists what differs from it; ``git update-index`` takes those paths, except untracked
    files over the size limit, so no blob is ever written for a file that is left out. The
    tree is the one ``git add -A`` would write.
    """
    with tempfile.TemporaryDirectory(prefix="naga-index-") as tmp:
        temp_index = os.path.join(tmp, "index")
        if index.exists():
            shutil.copy2(index, temp_index)  # git reuses the copied stat cache
        env = {**os.environ, **_IDENTITY, "GIT_INDEX_FILE": temp_index}
        listed = git(
            [
                "status",
                "--porcelain",
                "-z",
                "--untracked-files=all",
                "--no-renames",
                "--ignore-submodules=dirty",  # a submodule counts by its HEAD, as add -A does
            ],
            root,
            env,
        )
        entries = [entry for entry in listed.split("\0") if entry]
        untracked = [entry[3:] for entry in entries if entry.startswith("??")]
        big = _big_files(root, untracked) if untracked else {}
        names = [entry[3:] for entry in entries if not entry.startswith("??")]
        names += [name for rel in untracked if rel not in big and (name := _entry(root, rel))]
        if names:
            git(
                ["update-index", "--add", "--remove", "-z", "--stdin"],
                root,
                env,
                input="".join(f"{name}\0" for name in names),
            )
        return git(["write-tree"], root, env).strip(), big


def _entry(root: Path, rel: str) -> str | None:
    """An untracked path as update-index takes it. An embedded repository (listed as ``dir/``)
    becomes a gitlink to its HEAD, as ``git add -A`` makes it; one without a commit is left out
    (``git add -A`` would fail on it)."""
    if not rel.endswith("/"):
        return rel
    try:
        git(["rev-parse", "-q", "--verify", "HEAD"], root / rel)
    except GitError:
        return None
    return rel[:-1]


def _big_files(root: Path, untracked: list[str]) -> dict[str, int]:
    """``{relpath: size}`` of the untracked files over the snapshot size limit."""
    sizes: dict[str, int] = {}
    for rel in untracked:
        if rel.endswith("/"):
            continue
        try:
            sizes[rel] = os.lstat(root / rel).st_size
        except OSError:  # gone since the listing: update-index --remove copes
            continue
    limit = max_file_bytes(root) if sizes else None
    if limit is None:
        return {}
    return {rel: size for rel, size in sizes.items() if size > limit}


def max_file_bytes(root: str | os.PathLike[str]) -> int | None:
    """The size above which untracked files stay out of a snapshot (None: no limit).

    ``NAGA_SNAPSHOT_MAX_FILE_MB``, else ``[tool.naga] snapshot_max_file_mb`` in the repository's
    pyproject.toml, else 10; in MB of 2**20 bytes; 0 means no limit.

    Raises:
        LockError: the value is not a number of MB, or pyproject.toml is not valid TOML.
    """
    value: Any = os.environ.get(_MAX_FILE_ENV)
    where = f"environment variable {_MAX_FILE_ENV}"
    pyproject = Path(root, "pyproject.toml")
    if value in (None, "") and pyproject.is_file():
        value = _tool_naga(pyproject).get(_MAX_FILE_KEY)
        where = f"{pyproject} [tool.naga] {_MAX_FILE_KEY}"
    if value in (None, ""):
        value = DEFAULT_MAX_FILE_MB
    try:
        megabytes = float(value)
        if isinstance(value, bool) or not megabytes >= 0:
            raise ValueError(value)
    except (TypeError, ValueError) as exc:
        raise LockError(
            f"{where} is {value!r}, not a size in MB: set a number such as 10 (0 for no limit).",
            key=_MAX_FILE_KEY,
            value=value,
        ) from exc
    return None if megabytes == 0 else int(megabytes * 2**20)


def _tool_naga(pyproject: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LockError(
            f"cannot read {pyproject} for [tool.naga] {_MAX_FILE_KEY} ({exc}): fix the file.",
            path=str(pyproject),
        ) from exc
    tool = data.get("tool")
    naga = tool.get("naga") if isinstance(tool, dict) else None
    return naga if isinstance(naga, dict) else {}


def _skipped(root: Path, big: dict[str, int]) -> dict[str, dict[str, Any]]:
    """The receipt's record of the files left out, said once on stderr."""
    from naga.lock._hashing import ALGORITHM, hash_file

    skipped: dict[str, dict[str, Any]] = {}
    for rel, size in sorted(big.items()):
        try:
            digest: str | None = f"{ALGORITHM}:{hash_file(root / rel)}"
        except OSError:
            digest = None
        skipped[rel] = {"size": size, "hash": digest}
    names = ", ".join(f"{rel} ({size / 2**20:.1f} MB)" for rel, size in list(big.items())[:3])
    more = f" and {len(big) - 3} more" if len(big) > 3 else ""
    print(
        f"naga: the snapshot of {root} leaves out {len(big)} untracked file(s) over the size "
        f"limit: {names}{more}; run.lock names them with their hash. Add them to .gitignore, "
        f"or raise {_MAX_FILE_ENV} / [tool.naga] {_MAX_FILE_KEY}.",
        file=sys.stderr,
    )
    return skipped


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
    tree, _ = _working_tree(repo, _head(repo)["index"])
    out = git(["diff-tree", "-r", "--no-renames", "--name-status", "-z", rev, tree], repo)
    fields = out.split("\0")
    return {
        path: _KINDS.get(status[:1], "modified")
        for status, path in zip(fields[0::2], fields[1::2], strict=False)
        if path
    }
