"""``naga gc``: which snapshot refs to keep, and deleting the others.

A snapshot is kept when a receipt under the given roots names it, a naga tag reaches it, or it
is younger than the grace period (a run may still be writing the run.lock that names it). The
roots must hold receipts: a mistyped path must never make every snapshot look unnamed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from naga._errors import GitError, LockError
from naga._paths import LOCK_NAME
from naga.lock._git import SNAPSHOT_REF_PREFIX, git
from naga.lock._snapshots import TAG_REF_PREFIX, PathLike, _collect, _refs, _repo, receipts_under

__all__ = ["gc_snapshots"]


def _disk_usage(root: Path, tips: Iterable[str], kept: Iterable[str]) -> int | None:
    """Bytes the objects reachable from ``tips`` and from nothing ``kept`` take on disk."""
    lines = [*tips, *(f"^{sha}" for sha in kept)]
    try:
        out = git(
            ["rev-list", "--objects", "--disk-usage", "--stdin"],
            root,
            input="".join(f"{line}\n" for line in lines),
        )
        return int(out.strip())
    except (GitError, ValueError):  # git < 2.31 has no --disk-usage
        return None


def gc_snapshots(
    roots: list[PathLike],
    *,
    repo: PathLike | None = None,
    dry_run: bool = False,
    prune_now: bool = False,
    grace_min: float = 60,
) -> dict[str, Any]:
    """Delete the snapshot refs that no receipt under ``roots`` names and no tag reaches.

    Kept: every snapshot a run.lock under the roots names (directly or through embedded
    upstream stages at any depth), every snapshot a ``refs/naga/tags/*`` ref reaches, and
    snapshots made in the last ``grace_min`` minutes (a run may still be writing the run.lock
    that names them). The others' refs are deleted in one ``git update-ref --stdin``
    transaction; their objects go at git's next gc, or at once with ``prune_now``.

    Args:
        roots: Folders holding run.lock files, at any depth (or run.lock files).
        repo: A path inside the repository (default: the current directory).
        dry_run: Only report what would be deleted.
        prune_now: Then run ``git gc --prune=now`` (which also drops the repository's other
            unreachable objects).
        grace_min: Keep snapshots younger than this many minutes.

    Returns:
        ``{repo, deleted: [{ref, commit, date, size}], freed, kept, named, tagged, recent,
        receipts, dry_run, pruned}``; sizes in bytes (None when git cannot tell).

    Raises:
        LockError: no root, a root that does not exist or holds no run.lock at any depth (a
            mistyped path must never delete everything), an unreadable run.lock.

    Example:
        >>> gc_snapshots(["results"], dry_run=True)["deleted"]  # doctest: +SKIP
        [{'ref': 'refs/naga/snapshots/3f2a...', 'date': '2024-05-02T10:11:12+02:00', ...}]
    """
    if not roots:
        raise LockError(
            "naga gc needs the folders that hold your runs (naga gc results ...): it keeps the "
            "snapshots their run.lock files name and deletes the others."
        )
    root = _repo(repo)
    locks: list[Path] = []
    for given in roots:
        found = receipts_under(given)
        if not found:
            raise LockError(
                f"no {LOCK_NAME} under '{os.fspath(given)}' at any depth: is the path right? "
                f"naga gc deletes every snapshot that no receipt under its roots names, so it "
                f"refuses a root without receipts. Pass the folder that holds your runs.",
                path=os.fspath(given),
            )
        locks += found
    named, _ = _collect(locks, strict=True)
    wanted = {n.sha for n in named}
    snapshots = _refs(
        root,
        SNAPSHOT_REF_PREFIX,
        "%(objectname)%00%(committerdate:unix)%00%(committerdate:iso-strict)",
    )
    tags = sorted(_refs(root, TAG_REF_PREFIX))
    tagged = _tagged(root, tags) if tags else set()
    limit = time.time() - grace_min * 60
    counts = {"named": 0, "tagged": 0, "recent": 0}
    doomed: dict[str, str] = {}
    for ref, (sha, date, _) in sorted(snapshots.items()):
        if sha in wanted:
            counts["named"] += 1
        elif ref in tagged:
            counts["tagged"] += 1
        elif grace_min > 0 and int(date or 0) > limit:
            counts["recent"] += 1
        else:
            doomed[ref] = sha
    kept_tips = _kept_tips(root, doomed) if doomed else []
    report: dict[str, Any] = {
        "repo": str(root),
        "deleted": [
            {
                "ref": ref,
                "commit": sha,
                "date": snapshots[ref][2],
                "size": _disk_usage(root, [sha], kept_tips),
            }
            for ref, sha in doomed.items()
        ],
        "freed": _disk_usage(root, doomed.values(), kept_tips) if doomed else 0,
        "kept": len(snapshots) - len(doomed),
        **counts,
        "receipts": len(locks),
        "grace_min": grace_min,
        "dry_run": dry_run,
        "pruned": False,
    }
    if not dry_run and doomed:
        git(
            ["update-ref", "--stdin"],
            root,
            input="".join(f"delete {ref} {sha}\n" for ref, sha in doomed.items()),
        )
    if not dry_run and prune_now:
        git(["gc", "--prune=now", "--quiet"], root)
        report["pruned"] = True
    return report


def _tagged(root: Path, tags: list[str]) -> set[str]:
    """The snapshot refs any tag reaches (``--merged`` given several times means any)."""
    merged = [f"--merged={tag}" for tag in tags]
    out = git(["for-each-ref", "--format=%(refname)", *merged, SNAPSHOT_REF_PREFIX], root)
    return set(out.splitlines())


def _kept_tips(root: Path, doomed: dict[str, str]) -> list[str]:
    """Every ref's target (and HEAD) except the snapshot refs about to go."""
    tips = {values[0] for ref, values in _refs(root).items() if ref not in doomed}
    try:
        tips.add(git(["rev-parse", "-q", "--verify", "HEAD"], root).strip())
    except GitError:  # no commit yet
        pass
    return sorted(t for t in tips if t)
