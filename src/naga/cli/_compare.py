"""Comparing receipts: two run.locks (``naga diff``) or a run.lock and today (``naga status``)."""

from __future__ import annotations

import os
from typing import Any

from naga._plain import flatten

__all__ = ["Change", "compare_locks"]


class Change:
    """One difference: its part (config, code, data, environment, prevs), a key, both values."""

    __slots__ = ("key", "new", "note", "old", "part")

    def __init__(self, part: str, key: str, old: Any, new: Any, note: str = "") -> None:
        self.part, self.key, self.old, self.new, self.note = part, key, old, new, note

    def as_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "key": self.key,
            "old": self.old,
            "new": self.new,
            "note": self.note,
        }

    def __repr__(self) -> str:
        return f"Change({self.part!r}, {self.key!r}, {self.old!r}, {self.new!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Change) and self.as_dict() == other.as_dict()


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


def compare_locks(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    """What differs between two run.locks: config keys, commits, data, packages, prevs."""
    changes = _mapping_changes(
        "config", flatten(a.get("config") or {}), flatten(b.get("config") or {})
    )
    repos_a, repos_b = a.get("repos") or {}, b.get("repos") or {}
    for name in sorted(set(repos_a) | set(repos_b)):
        ra, rb = repos_a.get(name) or {}, repos_b.get(name) or {}
        for field in ("commit", "dirty", "snapshot"):
            if ra.get(field) != rb.get(field):
                changes.append(Change("code", f"{name}.{field}", ra.get(field), rb.get(field)))
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
