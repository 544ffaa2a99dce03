"""``naga gc``, ``naga tag``, ``naga push``, ``naga pull``: naga's snapshot refs from the shell."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from typing import Any

from naga._errors import NagaError
from naga._flags import flag_names

__all__ = ["SNAPSHOT_COMMANDS", "add_snapshot_parsers"]

AddParser = Callable[[str, str, str], argparse.ArgumentParser]


def add_snapshot_parsers(add: AddParser) -> None:
    """Declare the four subcommands with ``add(name, help, example)`` of the naga parser."""
    gc = add(
        "gc",
        "delete the snapshot refs that no run.lock under ROOT names and no naga tag reaches",
        "naga gc results --dry_run",
    )
    gc.add_argument("roots", nargs="*", metavar="ROOT", help="folders that hold your runs")
    gc.add_argument(
        *flag_names("dry_run"), action="store_true", help="list what would go, delete nothing"
    )
    gc.add_argument(
        *flag_names("prune_now"),
        action="store_true",
        help="then run `git gc --prune=now` (also drops the repository's other unreachable objects)",
    )
    gc.add_argument(
        *flag_names("grace_min"),
        type=float,
        default=None,
        metavar="MIN",
        help="keep snapshots made in the last MIN minutes: a run may still be writing the "
        "run.lock that names them (default: 60 while a run under the roots is running or "
        "requeued, else 0)",
    )
    tag = add(
        "tag",
        "keep a run's code and its whole lineage reachable under refs/naga/tags/NAME",
        "naga tag paper-v1 results/train",
    )
    tag.add_argument("name", nargs="?", metavar="NAME")
    tag.add_argument("run", nargs="?", metavar="RUN", help="a run folder or its run.lock")
    tag.add_argument("--list", action="store_true", help="list the tags (the default)")
    tag.add_argument("--delete", action="store_true", help="delete the tag NAME")
    tag.add_argument("--force", action="store_true", help="move an existing tag NAME")
    commands = [gc, tag]
    for name, verb, example in (
        ("push", "send to", "naga push origin"),
        ("pull", "fetch from", "naga pull origin"),
    ):
        command = add(
            name,
            f"{verb} REMOTE the snapshots that the run.lock files under the current folder "
            f"name, and every naga tag",
            example,
        )
        command.add_argument("remote", nargs="?", default="origin", metavar="REMOTE")
        commands.append(command)
    for command in commands:
        command.add_argument(
            "--repo", metavar="PATH", help="the git repository (default: the current directory's)"
        )


def _running_under(roots: list[str]) -> bool:
    """True when a run record under ``roots`` says running (its process alive on this host, or
    on another host: it cannot be told from here) or requeued (it runs again when its Slurm job
    starts again: still in flight)."""
    from naga._paths import NAGA_DIR, RECORD_NAME
    from naga._record import read_record

    for root in roots:
        for folder, dirs, _ in os.walk(root):
            if NAGA_DIR in dirs and os.path.isfile(os.path.join(folder, NAGA_DIR, RECORD_NAME)):
                record = read_record(folder)
                if record is not None and record.get("status") in ("running", "requeued"):
                    return True
            dirs[:] = [d for d in dirs if d != NAGA_DIR]
    return False


def _size(size: int | None) -> str:
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def _gc(args: Any) -> int:
    from naga.lock import gc_snapshots

    grace = args.grace_min
    if grace is None:  # only a run still running (or to run again) can name a new snapshot
        grace = 60.0 if _running_under(args.roots) else 0.0
    report = gc_snapshots(
        args.roots,
        repo=args.repo,
        dry_run=args.dry_run,
        prune_now=args.prune_now,
        grace_min=grace,
    )
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    deleted = report["deleted"]
    verb = "would delete" if args.dry_run else "deleted"
    freed = f", freeing {_size(report['freed'])}" if deleted else ""
    print(f"{verb} {len(deleted)} snapshot(s) in {report['repo']}{freed}")
    for item in deleted:
        print(f"  {item['ref']}  {item['date']}  {_size(item['size'])}")
    recent = (
        f", {report['recent']} made in the last {report['grace_min']:g} min"
        if report["recent"]
        else ""
    )
    print(
        f"kept {report['kept']}: {report['named']} named by {report['receipts']} run.lock(s), "
        f"{report['tagged']} tagged{recent}"
    )
    if deleted and not args.dry_run:
        print(
            "the objects go at git's next gc (unreachable for 2 weeks by default), or now with "
            "--prune_now"
            if not report["pruned"]
            else "pruned: git gc --prune=now removed the objects"
        )
    return 0


def _tag(args: Any) -> int:
    from naga.lock import delete_tag, list_tags, tag_run

    if args.delete:
        if not args.name or args.run:
            raise NagaError("naga tag --delete takes one NAME: naga tag --delete paper-v1.")
        done = delete_tag(args.name, repo=args.repo)
        print(json.dumps(done, indent=2) if args.json else f"deleted tag {done['name']}")
        return 0
    if args.list or not args.name:
        if args.name:
            raise NagaError("naga tag --list takes no NAME: naga tag --list.")
        tags = list_tags(repo=args.repo)
        if args.json:
            print(json.dumps(tags, indent=2))
        for tag in [] if args.json else tags:
            print(f"{tag['name']}  {tag['run']}  {tag['date']}  ({tag['parents']} commit(s))")
        return 0
    if not args.run:
        raise NagaError(
            f"naga tag {args.name} needs the run to tag: naga tag {args.name} results/train."
        )
    made = tag_run(args.name, args.run, repo=args.repo, force=args.force)
    if args.json:
        print(json.dumps(made, indent=2))
    else:
        others = (
            f" ({made['other_repos']} commit(s) of other repositories left out)"
            if made["other_repos"]
            else ""
        )
        print(f"tagged {made['run']} as {made['ref']}: {made['parents']} commit(s) kept{others}")
    return 0


def _transfer(args: Any, pushing: bool) -> int:
    from naga.lock import pull_snapshots, push_snapshots

    move = push_snapshots if pushing else pull_snapshots
    done = move(args.remote, folder=".", repo=args.repo)
    if args.json:
        print(json.dumps(done, indent=2))
        return 0
    verb = "pushed to" if pushing else "fetched from"
    print(
        f"{verb} {done['remote']}: {done['snapshots']} snapshot(s), {done['tags']} tag(s); "
        f"{done['already']} already there ({done['receipts']} run.lock(s) under this folder)"
    )
    if done["missing"]:
        problem = (
            "are not in this repository: run naga push in the clone that made them"
            if pushing
            else f"are in neither this repository nor {done['remote']}: run naga push in the "
            f"clone that made them"
        )
        print(f"  {len(done['missing'])} snapshot(s) named here {problem}")
        for sha in done["missing"][:5]:
            print(f"    {sha}")
    for tag in done["conflicts"]:
        fix = (
            f"left it out (git push {done['remote']} +refs/naga/tags/{tag}:refs/naga/tags/{tag} "
            f"replaces the remote's)"
            if pushing
            else f"kept this one (naga tag --delete {tag}, then naga pull, takes the remote's)"
        )
        print(f"  tag {tag} differs from {done['remote']}'s: {fix}")
    for path in done["unreadable"]:
        print(f"  skipped an unreadable run.lock: {path}")
    return 0


SNAPSHOT_COMMANDS: dict[str, Callable[[Any], int]] = {
    "gc": _gc,
    "tag": _tag,
    "push": lambda args: _transfer(args, pushing=True),
    "pull": lambda args: _transfer(args, pushing=False),
}
