"""Snapshots that travel and stay tidy: garbage collection, tags, push and pull of naga's refs.

naga keeps its git objects under refs of its own, in the repository the runs used::

    refs/naga/snapshots/<sha>   a snapshot commit of a dirty working tree (made by runlock)
    refs/naga/tags/<name>       a commit on the empty tree whose parents are the snapshots (or
                                commits) of one run and of its whole lineage, so that one ref
                                keeps a pipeline's code reachable

Which snapshots matter is written in the receipts: a run.lock names its snapshots, and those
of every upstream stage it embeds. Everything here is the git CLI on ``refs/naga/*`` only: HEAD,
the index, the branches and the working tree are never touched.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from naga._errors import GitError, LockError, NagaError, did_you_mean
from naga._paths import LOCK_NAME
from naga.lock._format import find_lock, load_lock
from naga.lock._git import _EMPTY_TREE, _IDENTITY, SNAPSHOT_REF_PREFIX, git, repo_root

__all__ = [
    "NAGA_REFSPEC",
    "TAG_REF_PREFIX",
    "delete_tag",
    "gc_snapshots",
    "list_tags",
    "pull_snapshots",
    "push_snapshots",
    "receipts_under",
    "tag_run",
]

TAG_REF_PREFIX = "refs/naga/tags/"
#: The refspec that makes plain ``git fetch``/``git push`` carry every naga ref.
NAGA_REFSPEC = "+refs/naga/*:refs/naga/*"
_TAG_SUBJECT = "naga tag of run "
#: Folders that never hold runs and can be large: not walked when looking for receipts.
_NOT_RUNS = frozenset({".git", "__pycache__", "node_modules", ".venv", ".tox", ".pixi"})
_BATCH = 500  # refspecs per git push/fetch call, well under any command-line limit

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


# -- gc ---------------------------------------------------------------------------------------


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


# -- tags -------------------------------------------------------------------------------------


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


# -- push and pull ----------------------------------------------------------------------------


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
    root = _repo(repo)
    wanted, unreadable, receipts = _wanted(folder)
    local = {ref: values[0] for ref, values in _refs(root, "refs/naga/").items()}
    remote_has = _remote_refs(root, remote)
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
    root = _repo(repo)
    wanted, unreadable, receipts = _wanted(folder)
    local = {ref: values[0] for ref, values in _refs(root, "refs/naga/").items()}
    remote_has = _remote_refs(root, remote)
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
