"""``naga push`` and ``naga pull``: naga's refs to and from a git remote.

Only the snapshots the receipts under a folder name, and every naga tag, travel, with explicit
refspecs and only what the other side lacks; a tag that differs on the two sides is never
overwritten, only reported. :data:`NAGA_REFSPEC` is the other way: configured on a remote, it
makes plain ``git fetch``/``git push`` carry every naga ref.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from naga._errors import LockError, did_you_mean
from naga.lock._git import SNAPSHOT_REF_PREFIX, git
from naga.lock._snapshots import TAG_REF_PREFIX, PathLike, _collect, _refs, _repo, receipts_under

__all__ = ["NAGA_REFSPEC", "pull_snapshots", "push_snapshots"]

#: The refspec that makes plain ``git fetch``/``git push`` carry every naga ref.
NAGA_REFSPEC = "+refs/naga/*:refs/naga/*"
_BATCH = 500  # refspecs per git push/fetch call, well under any command-line limit


def _both_sides(
    remote: str, folder: PathLike, repo: PathLike | None
) -> tuple[Path, set[str], list[str], int, dict[str, str], dict[str, str]]:
    """What push and pull compare: the repository, the snapshots the receipts under ``folder``
    name (with the unreadable receipts and their count), naga's refs here and on ``remote``."""
    root = _repo(repo)
    wanted, unreadable, receipts = _wanted(folder)
    local = {ref: values[0] for ref, values in _refs(root, "refs/naga/").items()}
    return root, wanted, unreadable, receipts, local, _remote_refs(root, remote)


def _remote_refs(root: Path, remote: str) -> dict[str, str]:
    remotes = git(["remote"], root).split()
    if remote not in remotes and not any(c in remote for c in "/:\\"):
        raise LockError(
            f"no git remote {remote!r} in '{root}'.{did_you_mean(remote, remotes)} Remotes: "
            f"{', '.join(remotes) or 'none (git remote add origin URL)'}.",
            key="REMOTE",
            value=remote,
            choices=remotes,
        )
    out = git(["ls-remote", "--refs", remote, "refs/naga/*"], root)
    refs = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.startswith(("refs/naga/snapshots/", "refs/naga/tags/")):
            refs[ref] = sha
    return refs


def _wanted(folder: PathLike) -> tuple[set[str], list[str], int]:
    """The snapshots the receipts under ``folder`` name, the unreadable ones, and the count."""
    locks = receipts_under(folder)
    named, unreadable = _collect(locks, strict=False)
    return {n.sha for n in named if n.snapshot}, unreadable, len(locks)


def push_snapshots(
    remote: str = "origin", *, folder: PathLike = ".", repo: PathLike | None = None
) -> dict[str, Any]:
    """Push the snapshots that the receipts under ``folder`` name, and every naga tag.

    One plain ``git push REMOTE <explicit refspecs>`` (in batches), only of what the remote
    does not have yet. A tag the remote has at another commit is not overwritten: it is left
    out and listed in ``conflicts``.

    Returns:
        ``{remote, snapshots, tags, already, missing, conflicts, receipts, unreadable}``: counts
        sent and already on the remote, snapshots named here but not in this repository.

    Example:
        >>> push_snapshots("origin")["snapshots"]  # doctest: +SKIP
        2
    """
    root, wanted, unreadable, receipts, local, remote_has = _both_sides(remote, folder, repo)
    refs = [
        SNAPSHOT_REF_PREFIX + sha for sha in sorted(wanted) if SNAPSHOT_REF_PREFIX + sha in local
    ]
    refs += sorted(ref for ref in local if ref.startswith(TAG_REF_PREFIX))
    conflicts = [ref for ref in refs if remote_has.get(ref, local[ref]) != local[ref]]
    send = [ref for ref in refs if ref not in remote_has]
    for start in range(0, len(send), _BATCH):
        specs = [f"{ref}:{ref}" for ref in send[start : start + _BATCH]]
        git(["push", "--quiet", remote, *specs], root)
    return {
        "remote": remote,
        "snapshots": sum(ref.startswith(SNAPSHOT_REF_PREFIX) for ref in send),
        "tags": sum(ref.startswith(TAG_REF_PREFIX) for ref in send),
        "already": len(refs) - len(send) - len(conflicts),
        "missing": sorted(sha for sha in wanted if SNAPSHOT_REF_PREFIX + sha not in local),
        "conflicts": [ref.removeprefix(TAG_REF_PREFIX) for ref in conflicts],
        "receipts": receipts,
        "unreadable": unreadable,
    }


def pull_snapshots(
    remote: str = "origin", *, folder: PathLike = ".", repo: PathLike | None = None
) -> dict[str, Any]:
    """Fetch the snapshots that the receipts under ``folder`` name, and every naga tag.

    One plain ``git fetch REMOTE <explicit refspecs>`` (in batches, no other tag or branch),
    only of what this repository lacks. A local tag at another commit than the remote's is
    kept, and listed in ``conflicts``.

    Returns:
        ``{remote, snapshots, tags, already, missing, conflicts, receipts, unreadable}``;
        ``missing`` lists snapshots named here that neither this repository nor the remote has.

    Example:
        >>> pull_snapshots("origin")["snapshots"]  # doctest: +SKIP
        2
    """
    root, wanted, unreadable, receipts, local, remote_has = _both_sides(remote, folder, repo)
    refs = [SNAPSHOT_REF_PREFIX + sha for sha in sorted(wanted)]
    refs += sorted(ref for ref in remote_has if ref.startswith(TAG_REF_PREFIX))
    fetch = [ref for ref in refs if ref not in local and ref in remote_has]
    conflicts = [
        ref for ref in refs if ref in local and ref in remote_has and local[ref] != remote_has[ref]
    ]
    for start in range(0, len(fetch), _BATCH):
        specs = [f"{ref}:{ref}" for ref in fetch[start : start + _BATCH]]
        git(
            [
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--recurse-submodules=no",
                remote,
                *specs,
            ],
            root,
        )
    return {
        "remote": remote,
        "snapshots": sum(ref.startswith(SNAPSHOT_REF_PREFIX) for ref in fetch),
        "tags": sum(ref.startswith(TAG_REF_PREFIX) for ref in fetch),
        "already": sum(ref in local for ref in refs),
        "missing": sorted(
            sha
            for sha in wanted
            if SNAPSHOT_REF_PREFIX + sha not in local
            and SNAPSHOT_REF_PREFIX + sha not in remote_has
        ),
        "conflicts": [ref.removeprefix(TAG_REF_PREFIX) for ref in conflicts],
        "receipts": receipts,
        "unreadable": unreadable,
    }
