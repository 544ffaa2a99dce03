"""Comparing receipts: two run.locks (``naga diff``) or a run.lock and today (``naga status``)."""

from __future__ import annotations

import os
from typing import Any

from naga._plain import flatten
from naga.lock import Change

__all__ = ["Change", "compare_locks"]


def _mapping_changes(
    part: str, old: dict[str, Any], new: dict[str, Any], prefix: str = ""
) -> list[Change]:
    changes = []
    for key in sorted(set(old) | set(new), key=str):
        if key not in new:
            changes.append(Change(part, prefix + str(key), old[key], None, "removed"))
        elif key not in old:
            changes.append(Change(part, prefix + str(key), None, new[key], "added"))
        elif old[key] != new[key]:
            changes.append(Change(part, prefix + str(key), old[key], new[key]))
    return changes


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _code_changes(name: str, ra: dict[str, Any], rb: dict[str, Any]) -> list[Change]:
    """Code compared by content: tree and blob ids. Commit ids are information only."""
    info = [
        Change("code", f"{name}.{field}", ra.get(field), rb.get(field), used=False)
        for field in ("commit", "snapshot")
        if ra.get(field) != rb.get(field)
    ]
    tree_a, tree_b = ra.get("tree"), rb.get("tree")
    if not tree_a or not tree_b:  # version-1 receipts: commits are all there is
        return [
            Change("code", f"{name}.{field}", ra.get(field), rb.get(field))
            for field in ("commit", "dirty", "snapshot")
            if ra.get(field) != rb.get(field)
        ]
    if tree_a == tree_b:
        return info
    used_a, used_b = _dict(ra.get("used")), _dict(rb.get("used"))
    files = [
        Change(
            "code",
            f"{name}:{rel}",
            None,
            None,
            "only in A" if rel not in used_b else "only in B" if rel not in used_a else "differs",
        )
        for rel in sorted(set(used_a) | set(used_b))
        if used_a.get(rel) != used_b.get(rel)
    ]
    return files or [Change("code", f"{name}.tree", tree_a, tree_b, "other files differ"), *info]


def compare_locks(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    """What differs between two run.locks: config keys, commits, data, packages, prevs."""
    changes = _mapping_changes(
        "config", flatten(a.get("config") or {}), flatten(b.get("config") or {})
    )
    repos_a, repos_b = _dict(a.get("repos")), _dict(b.get("repos"))
    for name in sorted(set(repos_a) | set(repos_b)):
        changes += _code_changes(str(name), _dict(repos_a.get(name)), _dict(repos_b.get(name)))
    data_a = {k: (v or {}).get("hash") for k, v in (a.get("data") or {}).items()}
    data_b = {k: (v or {}).get("hash") for k, v in (b.get("data") or {}).items()}
    changes += _mapping_changes("data", data_a, data_b)
    env_a, env_b = a.get("environment") or {}, b.get("environment") or {}
    if env_a.get("python") != env_b.get("python"):
        changes.append(Change("environment", "python", env_a.get("python"), env_b.get("python")))
    changes += _mapping_changes(
        "environment", env_a.get("packages") or {}, env_b.get("packages") or {}, "packages."
    )
    changes += _mapping_changes(
        "environment", env_a.get("lock_files") or {}, env_b.get("lock_files") or {}, "lock_files."
    )
    prevs_a, prevs_b = a.get("prevs") or {}, b.get("prevs") or {}
    for path in sorted(set(prevs_a) | set(prevs_b)):
        pa, pb = prevs_a.get(path), prevs_b.get(path)
        if pa is None or pb is None:
            changes.append(
                Change(
                    "prevs",
                    os.fspath(path),
                    pa and pa.get("created"),
                    pb and pb.get("created"),
                    "removed" if pb is None else "added",
                )
            )
        elif pa != pb:
            changes.append(
                Change("prevs", os.fspath(path), pa.get("created"), pb.get("created"), "rerun")
            )
    return changes
