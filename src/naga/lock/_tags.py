"""``naga tag``: refs that keep the code of a run and of its whole lineage.

A tag is a commit on the empty tree whose parents are the snapshots (or the commits of clean
runs) that a run and every upstream stage it embeds recorded: ``naga gc`` keeps what a tag
reaches, and pushing the tag carries it all. Its subject names the run, so ``naga tag --list``
reads the run back from the commit alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from naga._errors import GitError, LockError, did_you_mean
from naga.lock._format import find_lock, load_lock
from naga.lock._git import _EMPTY_TREE, _IDENTITY, git
from naga.lock._snapshots import TAG_REF_PREFIX, PathLike, _named, _refs, _repo

__all__ = ["delete_tag", "list_tags", "tag_run"]

_TAG_SUBJECT = "naga tag of run "


def _existing(root: Path, shas: Iterable[str]) -> set[str]:
    """Which of ``shas`` are commits in this repository (one ``git cat-file`` call)."""
    wanted = sorted(set(shas))
    if not wanted:
        return set()
    out = git(
        ["cat-file", "--batch-check=%(objectname) %(objecttype)"],
        root,
        input="".join(f"{sha}\n" for sha in wanted),
    )
    return {line.split()[0] for line in out.splitlines() if line.endswith(" commit")}


def _tag_ref(root: Path, name: str) -> str:
    ref = TAG_REF_PREFIX + name
    try:
        git(["check-ref-format", ref], root)
    except GitError as exc:
        raise LockError(
            f"tag name {name!r} is not a valid git ref name: use letters, digits, '-', '_', '.' "
            f"and '/' (no spaces, '..', '~', '^', ':', '?', '*', '[' or trailing '.lock').",
            key="NAME",
            value=name,
        ) from exc
    return ref


def tag_run(
    name: str, run: PathLike, *, repo: PathLike | None = None, force: bool = False
) -> dict[str, Any]:
    """Make ``refs/naga/tags/<name>`` keep the code of ``run`` and of its whole lineage.

    The tag is a commit on the empty tree (``git commit-tree``) whose parents are the
    snapshots, or the commits of clean runs, that the run and every upstream stage it embeds
    recorded in this repository: ``naga gc`` never deletes what a tag reaches, and pushing the
    tag carries them all.

    Args:
        name: The tag name (checked with ``git check-ref-format``).
        run: A run folder or its run.lock.
        repo: A path inside the repository (default: the current directory).
        force: Move an existing tag of that name.

    Returns:
        ``{name, ref, commit, run, parents, other_repos}``.

    Raises:
        LockError: a bad name, an existing tag (without ``force``), a run that recorded no
            commit of this repository, or a snapshot of it that is missing here.

    Example:
        >>> tag_run("paper-v1", "results/train")["parents"]  # doctest: +SKIP
        3
    """
    root = _repo(repo)
    ref = _tag_ref(root, name)
    lock_path = find_lock(run).resolve()
    named = list(_named(load_lock(lock_path), lock_path.parent))
    present = _existing(root, (n.sha for n in named))
    parents: list[str] = []
    others = 0
    for item in named:
        if item.sha in present:
            if item.sha not in parents:
                parents.append(item.sha)
        elif item.snapshot and item.root == root:
            raise LockError(
                f"snapshot {item.sha} of run '{_shown(item.run, root)}' is not in this "
                f"repository: fetch it with `naga pull`, then tag again.",
                path=str(item.run),
                value=item.sha,
            )
        else:
            others += 1
    if not parents:
        raise LockError(
            f"run '{os.fspath(run)}' records no commit of the repository at '{root}': nothing "
            f"to tag here. Run naga tag inside the repository the run used, or pass --repo.",
            path=os.fspath(run),
        )
    existing = _refs(root, ref)
    if ref in existing and not force:
        raise LockError(
            f"tag {name!r} already exists: pick another name, or pass --force to move it.",
            key="NAME",
            value=name,
        )
    shown = _shown(lock_path.parent, root)
    args = ["commit-tree", _EMPTY_TREE, "-m", f"{_TAG_SUBJECT}{shown}"]
    for sha in parents:
        args += ["-p", sha]
    commit = git(args, root, {**os.environ, **_IDENTITY}).strip()
    old = existing[ref][0] if ref in existing else ""
    git(["update-ref", ref, commit, old], root)  # "" as old value: the ref must not exist
    return {
        "name": name,
        "ref": ref,
        "commit": commit,
        "run": shown,
        "parents": len(parents),
        "other_repos": others,
    }


def _shown(folder: Path, root: Path) -> str:
    """A run folder as tags name it: relative to the repository root when inside it."""
    resolved = folder.resolve()
    if resolved == root or root in resolved.parents:
        return resolved.relative_to(root).as_posix() or "."
    return str(resolved)


def list_tags(*, repo: PathLike | None = None) -> list[dict[str, Any]]:
    """The tags of a repository: ``[{name, run, date, commit, parents}]``, sorted by name.

    Example:
        >>> [t["name"] for t in list_tags()]  # doctest: +SKIP
        ['paper-v1']
    """
    root = _repo(repo)
    fields = "%(objectname)%00%(creatordate:iso-strict)%00%(parent)%00%(contents:subject)"
    tags = []
    for ref, (commit, date, parents, subject) in sorted(
        _refs(root, TAG_REF_PREFIX, fields).items()
    ):
        tags.append(
            {
                "name": ref.removeprefix(TAG_REF_PREFIX),
                "run": subject.removeprefix(_TAG_SUBJECT),
                "date": date,
                "commit": commit,
                "parents": len(parents.split()),
            }
        )
    return tags


def delete_tag(name: str, *, repo: PathLike | None = None) -> dict[str, Any]:
    """Delete ``refs/naga/tags/<name>``; what it alone kept goes at the next ``naga gc``.

    Raises:
        LockError: no tag of that name (the message lists the closest one).
    """
    root = _repo(repo)
    ref = _tag_ref(root, name)
    tags = _refs(root, TAG_REF_PREFIX)
    if ref not in tags:
        names = [t.removeprefix(TAG_REF_PREFIX) for t in tags]
        known = f" Tags here: {', '.join(sorted(names))}." if names else " There are no tags."
        raise LockError(
            f"no tag {name!r} in '{root}'.{did_you_mean(name, names)}{known}",
            key="NAME",
            value=name,
            choices=sorted(names),
        )
    git(["update-ref", "-d", ref, tags[ref][0]], root)
    return {"name": name, "ref": ref, "commit": tags[ref][0]}
