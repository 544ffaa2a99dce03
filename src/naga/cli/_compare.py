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
    ast_a, ast_b = _dict(ra.get("used_ast")), _dict(rb.get("used_ast"))
    files, layout = [], []
    for rel in sorted(set(used_a) | set(used_b)):
        if used_a.get(rel) == used_b.get(rel):
            continue
        if rel in ast_a and ast_a.get(rel) == ast_b.get(rel):  # both runs ran the same code
            note = "differs: comments or layout only (the same syntax tree)"
            layout.append(Change("code", f"{name}:{rel}", None, None, note, used=False))
            continue
        where = "only in A" if rel not in used_b else "only in B" if rel not in used_a else None
        files.append(Change("code", f"{name}:{rel}", None, None, where or "differs"))
    if files:
        return [*files, *layout]
    if layout:  # the used files differ in comments or layout only: information
        return [*layout, *info]
    return [Change("code", f"{name}.tree", tree_a, tree_b, "other files differ"), *info]


def _identity_keys(config: dict[str, Any]) -> set[str]:
    """A run's ``save_dir`` and the values that only repeat it (paths inside its own folder)
    are its identity, not its config: two sibling tasks differ only in what was swept."""
    save_dir = config.get("save_dir")
    if not isinstance(save_dir, str) or not save_dir:
        return set()
    root = os.path.normpath(save_dir)
    keys = {"save_dir"}
    for key, value in flatten(config).items():
        if isinstance(value, str) and value:
            norm = os.path.normpath(value)
            if norm == root or norm.startswith(root + os.sep):
                keys.add(key)
    return keys


def compare_locks(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    """What differs between two run.locks: config keys, code content, data, outputs, packages,
    upstream stages. A run's identity (its save_dir, and paths inside it) is not compared."""
    config_a, config_b = _dict(a.get("config")), _dict(b.get("config"))
    identity = _identity_keys(config_a) | _identity_keys(config_b)
    flat_a = {k: v for k, v in flatten(config_a).items() if k not in identity}
    flat_b = {k: v for k, v in flatten(config_b).items() if k not in identity}
    changes = _mapping_changes("config", flat_a, flat_b)
    repos_a, repos_b = _dict(a.get("repos")), _dict(b.get("repos"))
    for name in sorted(set(repos_a) | set(repos_b), key=str):
        changes += _code_changes(str(name), _dict(repos_a.get(name)), _dict(repos_b.get(name)))
    for part in ("data", "outputs"):
        hashes_a = {k: _dict(v).get("hash") for k, v in _dict(a.get(part)).items()}
        hashes_b = {k: _dict(v).get("hash") for k, v in _dict(b.get(part)).items()}
        changes += _mapping_changes(part, hashes_a, hashes_b)
    env_a, env_b = _dict(a.get("environment")), _dict(b.get("environment"))
    if env_a.get("python") != env_b.get("python"):
        changes.append(Change("environment", "python", env_a.get("python"), env_b.get("python")))
    changes += _mapping_changes(
        "environment", _dict(env_a.get("packages")), _dict(env_b.get("packages")), "packages."
    )
    changes += _mapping_changes(
        "environment",
        _dict(env_a.get("lock_files")),
        _dict(env_b.get("lock_files")),
        "lock_files.",
    )
    prevs_a, prevs_b = _dict(a.get("prevs")), _dict(b.get("prevs"))
    for path in sorted(set(prevs_a) | set(prevs_b), key=str):
        pa, pb = prevs_a.get(path), prevs_b.get(path)
        if pa is None or pb is None:
            changes.append(
                Change(
                    "prevs",
                    str(path),
                    _dict(pa).get("created"),
                    _dict(pb).get("created"),
                    "removed" if pb is None else "added",
                )
            )
        elif pa != pb:
            same = _dict(_dict(pa).get("outputs")) == _dict(_dict(pb).get("outputs")) and (
                _dict(pa).get("outputs") is not None
            )
            changes.append(
                Change(
                    "prevs",
                    str(path),
                    _dict(pa).get("created"),
                    _dict(pb).get("created"),
                    "rerun, identical outputs" if same else "rerun",
                    used=not same,
                )
            )
    return changes
