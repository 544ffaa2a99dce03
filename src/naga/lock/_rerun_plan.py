"""Planning a rerun from a receipt alone: which commit, which script, which folder, which config.

Pure reading: nothing here writes a file or runs the user's code. :mod:`naga.lock._rerun` carries
a plan out. A plan is made from a receipt and the folder it belongs to, so an upstream stage is
planned from the copy of its receipt that the downstream run embedded (what that run used), not
from whatever its folder holds today.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from naga._errors import LockError
from naga.lock._environment import installed_packages
from naga.lock._judge import _mapping, _repo_root, _resolve
from naga.lock._worktree import has_commit

__all__ = ["DataCheck", "Plan", "plan_stage", "rerun_folder"]

#: The suffix of a rerun folder: ``results/train@rerun-1``.
RERUN_SUFFIX = "@rerun-"
_RERUN_NAME = re.compile(r"^(.*)@rerun-\d+$")
#: Modules a task worker or a script runs as: their caller file is the script.
_SCRIPT_MODULES = (None, "__main__", "__naga_task__")
_REF = re.compile(r"(?<!\\)(\$\{[^{}]+\})")


@dataclass
class DataCheck:
    """One ``data`` entry of the receipt: where the rerun reads it, and whether it matches."""

    name: str
    path: Path  # where the rerun reads it: the user's copy, or an upstream rerun's
    rel: str | None  # the path from the repository root, when inside the repository
    recorded: str | None
    fed: bool = False  # read from an upstream's rerun folder
    now: str | None = None
    note: str = ""
    ok: bool = True
    files: list[str] = field(default_factory=list)

    def line(self) -> str:
        shown = f"{self.name}: {self.note}"
        if self.files:
            shown += f" ({', '.join(self.files[:5])}{' ...' if len(self.files) > 5 else ''})"
        return shown


@dataclass
class Plan:
    """What rerunning one stage does."""

    label: str  # the run as shown
    lock: dict[str, Any]
    home: Path  # the run folder (where the receipt's relative paths start)
    root: Path  # the user's repository
    sha: str
    snapshot: bool
    script: str  # from the repository root
    rel_cwd: str  # the run's working directory, from the repository root
    folder: Path  # where the rerun writes
    in_place: bool
    config: dict[str, Any]  # the config the rerun is given (rewritten, + keys marked)
    rewrites: list[tuple[str, Any, Any]]
    feeds: dict[Path, Path]  # an upstream's original folder -> its rerun folder
    upstreams: list[Path]  # the upstream folders this stage used
    data: list[DataCheck]
    environment: list[str]
    python_paths: list[str]  # folders (from the repository root) put first on PYTHONPATH
    given_folder: bool = False  # --save_dir: may exist, empty

    @property
    def config_file(self) -> Path:
        return self.folder / ".naga" / "rerun-config.yml"


def rerun_folder(home: Path, taken: set[Path]) -> Path:
    """The next free sibling ``<name>@rerun-N`` of the run folder ``home`` (a rerun of a rerun
    counts on from the original's name)."""
    match = _RERUN_NAME.match(home.name)
    base = match.group(1) if match else home.name
    number = 1
    while True:
        candidate = home.parent / f"{base}{RERUN_SUFFIX}{number}"
        if candidate not in taken and not os.path.lexists(candidate):
            return candidate
        number += 1


def plan_stage(
    lock: dict[str, Any],
    home: Path,
    label: str,
    *,
    folder: Path,
    feeds: dict[Path, Path],
    in_place: bool = False,
) -> Plan:
    """Plan the rerun of the receipt ``lock`` that belongs to the run folder ``home``.

    Raises:
        LockError: the receipt names no repository, its repository is not found here, its
            commit is missing (named, with ``naga pull``), or it names no script.
    """
    if int(lock.get("lock_version") or 1) < 2:
        raise LockError(
            f"{label}: its run.lock has lock_version {lock.get('lock_version')}, which does not "
            f"record what the run used: run the stage once more with this naga, then rerun it.",
            path=label,
        )
    repo_name, repo, root = _repository(lock, home, label)
    snapshot = bool(repo.get("dirty")) and bool(repo.get("snapshot"))
    sha = str(repo.get("snapshot") if snapshot else repo.get("commit") or "")
    if not sha:
        raise LockError(
            f"{label}: repository '{repo_name}' had no commit when the run was recorded: there "
            f"is no code to check out. Commit, run the stage again, then rerun it.",
            path=label,
        )
    if not in_place and not has_commit(root, sha):
        fetch = "`naga pull` (from the remote the run's clone ran `naga push` to)"
        raise LockError(
            f"{label}: the recorded {'snapshot ' if snapshot else ''}commit {sha} is not in the "
            f"repository {root}: fetch it with {fetch}"
            + ("" if snapshot else " or `git fetch`")
            + ", then rerun.",
            path=label,
            value=sha,
        )
    recorded_root = str(repo.get("root") or root)
    script = _script(lock, recorded_root, label)
    rel_cwd = _relative_cwd(lock, recorded_root)
    config = _mapping(lock.get("config"))
    rewrites: list[tuple[str, Any, Any]] = []
    upstreams = [_located(home, str(key)) for key in _mapping(lock.get("prevs"))]
    if not in_place:
        maps = [(_real(home), folder), *((_real(k), v) for k, v in feeds.items())]
        maps.sort(key=lambda item: len(item[0].parts), reverse=True)
        config = _rewritten(
            config, "", rewrites, _Where(root, Path(recorded_root), root / rel_cwd, maps)
        )
        if isinstance(config.get("save_dir"), str) and config["save_dir"] != str(folder):
            rewrites.append(("save_dir", config["save_dir"], str(folder)))
            config["save_dir"] = str(folder)
    return Plan(
        label=label,
        lock=lock,
        home=home,
        root=root,
        sha=sha,
        snapshot=snapshot,
        script=script,
        rel_cwd=rel_cwd,
        folder=folder,
        in_place=in_place,
        config=_with_added_keys(config, lock),
        rewrites=rewrites,
        feeds=feeds,
        upstreams=upstreams,
        data=_data(lock, home, root, feeds),
        environment=_environment(lock),
        python_paths=_python_paths(lock, recorded_root),
    )


# -- the repository and the script ---------------------------------------------------------


def _repository(lock: dict[str, Any], home: Path, label: str) -> tuple[str, dict[str, Any], Path]:
    """The receipt's repository that holds the caller script, as found today."""
    repos = {str(k): _mapping(v) for k, v in _mapping(lock.get("repos")).items()}
    if not repos:
        raise LockError(
            f"{label}: its run.lock records no repository, so there is no code to check out: "
            f"record one with runlock(..., repos=['.']) and run the stage again.",
            path=label,
        )
    caller_repo = _mapping(lock.get("caller")).get("repo")
    names = list(repos)
    chosen = next((n for n in names if repos[n].get("root") == caller_repo), names[0])
    root = _repo_root(home, repos[chosen], first=chosen == names[0])
    if root is None:
        raise LockError(
            f"{label}: repository '{chosen}' of its run.lock (recorded at "
            f"{repos[chosen].get('root')}) is not found from {home}: clone it there, or keep "
            f"the results folder inside the clone.",
            path=label,
        )
    return chosen, repos[chosen], Path(os.path.realpath(root))


def _script(lock: dict[str, Any], recorded_root: str, label: str) -> str:
    """The script that ran, from the repository root: the caller's file when runlock was called
    from the script (or a task of it), else the script of the recorded command line."""
    caller = _mapping(lock.get("caller"))
    candidates = []
    if caller.get("module") in _SCRIPT_MODULES:
        candidates.append(caller.get("file"))
    else:
        candidates += [_command_script(lock, recorded_root), caller.get("file")]
    for file in candidates:
        if _is_script(file):
            return Path(str(file)).as_posix()
    raise LockError(
        f"{label}: its run.lock was written from an interactive session or code outside the "
        f"repository (caller file {caller.get('file')!r}), not by a script inside the "
        f"repository: naga rerun needs the script that ran. Run the stage as a script "
        f"(python train.py ...) to record one, then rerun it.",
        path=label,
        value=caller.get("file"),
    )


def _is_script(file: Any) -> bool:
    if not isinstance(file, str) or not file.endswith(".py") or os.path.isabs(file):
        return False
    normal = os.path.normpath(file)
    return not normal.startswith("..") and not file.startswith("<")


def _command_script(lock: dict[str, Any], recorded_root: str) -> str | None:
    command = lock.get("command")
    cwd = lock.get("cwd")
    if not isinstance(command, list) or not isinstance(cwd, str):
        return None
    for arg in command[1:]:
        if not isinstance(arg, str) or arg in ("-m", "-c"):
            return None
        if arg.startswith("-"):
            continue
        return (
            os.path.relpath(os.path.join(cwd, arg), recorded_root) if arg.endswith(".py") else None
        )
    return None


def _relative_cwd(lock: dict[str, Any], recorded_root: str) -> str:
    """The run's working directory from the repository root (``.`` when it was outside)."""
    cwd = lock.get("cwd")
    if not isinstance(cwd, str) or not cwd or "\0" in cwd:
        return "."
    rel = os.path.relpath(cwd, recorded_root)
    return "." if rel.startswith("..") or os.path.isabs(rel) else Path(rel).as_posix()


def _python_paths(lock: dict[str, Any], recorded_root: str) -> list[str]:
    """``sys.path`` folders inside the repository (an editable install's ``src``): the rerun
    imports them from the worktree, not from the user's tree."""
    paths = _mapping(lock.get("environment")).get("sys_path") or []
    out = []
    for entry in paths:
        if not isinstance(entry, str) or not entry or "\0" in entry:
            continue
        if "site-packages" in entry or "dist-packages" in entry:
            continue
        rel = os.path.relpath(entry, recorded_root)
        if rel != "." and not rel.startswith("..") and not os.path.isabs(rel):
            out.append(Path(rel).as_posix())
    return list(dict.fromkeys(out))


# -- the config ----------------------------------------------------------------------------


@dataclass
class _Where:
    root: Path  # the user's repository today
    recorded_root: Path  # where it was when the run ran
    cwd: Path  # the run's working directory, today
    maps: list[tuple[Path, Path]]  # original folder -> rerun folder, deepest first


def _rewritten(value: Any, key: str, rewrites: list[tuple[str, Any, Any]], where: _Where) -> Any:
    """The config with its paths into the run's folder (and fed upstreams' folders) pointing at
    the rerun folders, and relative paths out of the repository made absolute (the rerun runs
    in a worktree elsewhere)."""
    if isinstance(value, dict):
        return {
            k: _rewritten(v, f"{key}.{k}" if key else str(k), rewrites, where)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rewritten(v, f"{key}[{i}]", rewrites, where) for i, v in enumerate(value)]
    if isinstance(value, str):
        new = _rewrite_path(value, where)
        if new is not None and new != value:
            rewrites.append((key, value, new))
            return new
    return value


def _rewrite_path(text: str, where: _Where) -> str | None:
    if not text or len(text) > 4096 or "\n" in text or "\0" in text or "://" in text:
        return None
    given = Path(text)
    if given.is_absolute():
        try:  # the project moved since: the same place in today's clone
            given = where.root / given.relative_to(where.recorded_root)
        except ValueError:
            pass
        path = Path(os.path.normpath(given))
    else:
        path = Path(os.path.normpath(where.cwd / given))
    real = _real(path)
    for original, new in where.maps:
        for candidate in (path, real):
            if candidate == original or original in candidate.parents:
                rest = candidate.relative_to(original)
                return str(new / rest) if rest.parts else str(new)
    if not Path(text).is_absolute() and not _inside(real, where.root) and path.exists():
        return str(path)
    return None


def _with_added_keys(config: dict[str, Any], lock: dict[str, Any]) -> dict[str, Any]:
    """The config as a file clicfg replays: keys the run added with ``-o +key=value`` are
    written ``+key`` (else replaying them is an unknown-key error); ``${`` stays literal."""
    overrides = _mapping(lock.get("config_sources")).get("overrides") or []
    added = [
        str(o).partition("=")[0].strip()[1:]
        for o in overrides
        if isinstance(o, str) and o.startswith("+")
    ]
    out = _escaped(config)
    tail: dict[str, Any] = {}
    for key in dict.fromkeys(added):
        found, value = _pop(out, key.split("."))
        if found:
            tail[f"+{key}"] = value
    return {**out, **tail}


def _pop(node: dict[str, Any], parts: list[str]) -> tuple[bool, Any]:
    """Remove the dotted key ``parts`` from ``node``; folders left empty by it go too."""
    head = parts[0]
    if head not in node:
        return False, None
    if len(parts) == 1:
        return True, node.pop(head)
    child = node[head]
    if not isinstance(child, dict):
        return False, None
    found, value = _pop(child, parts[1:])
    if found and not child:
        del node[head]
    return found, value


def _escaped(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, str) and "${" in value:
        return _REF.sub(r"\\\1", value)
    return value


# -- data and environment ------------------------------------------------------------------


def _data(lock: dict[str, Any], home: Path, root: Path, feeds: dict[Path, Path]) -> list[DataCheck]:
    checks = []
    real_feeds = sorted(
        ((_real(k), v) for k, v in feeds.items()), key=lambda i: len(i[0].parts), reverse=True
    )
    for name, entry in _mapping(lock.get("data")).items():
        entry = _mapping(entry)
        stored = str(entry.get("path", name))
        if "\0" in stored:
            raise LockError(
                f"data entry '{name}' of {home / 'run.lock'} names a path with a NUL character, "
                f"which no file can have: this receipt was not written by naga; rerun the stage.",
                key=str(name),
            )
        path = Path(os.path.normpath(_resolve(home, stored, entry.get("abs"))))
        real = _real(path)
        # Where the run expects it: from the stored path (the recorded absolute one may lie
        # elsewhere, outside this clone), inside the repository or not.
        expected = _real(_located(home, stored))
        rel = expected.relative_to(root).as_posix() if _inside(expected, root) else None
        check = DataCheck(str(name), path, rel, entry.get("hash"))
        for original, new in real_feeds:
            if real == original or original in real.parents:
                check.path, check.fed = new / real.relative_to(original), True
                check.note = f"read from the rerun {_shown(new)}"
                break
        checks.append(check)
    return checks


def _environment(lock: dict[str, Any]) -> list[str]:
    """How today's packages differ from those the run imported (and Python's major.minor)."""
    env = _mapping(lock.get("environment"))
    lines = []
    old_python = str(env.get("python") or "")
    now_python = platform.python_version()
    if old_python and old_python.split(".")[:2] != now_python.split(".")[:2]:
        lines.append(f"python {old_python} -> {now_python}")
    imported = _mapping(env.get("imported"))
    if imported:
        today = installed_packages()
        for name, old in imported.items():
            new = today.get(str(name))
            if new != old:
                lines.append(f"{name} {old} -> {new}" if new else f"{name} {old} uninstalled")
    return lines


# -- paths ---------------------------------------------------------------------------------


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _located(home: Path, key: str) -> Path:
    return Path(os.path.normpath(key if os.path.isabs(key) else home / key))


def _shown(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel
