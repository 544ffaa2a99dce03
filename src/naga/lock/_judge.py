"""Judging a receipt: is this run still what today's code, data and environment would produce?

A run is **stale** when something it used differs from today, and each reason names the thing:

- a used file (an imported module of a tracked repo, the calling script, a config file read,
  a ``code=`` glob), compared by git blob id: commits and other files do not matter;
- a config source file, a data entry, the run's own outputs;
- the version of a distribution it imported, or Python's major.minor;
- an upstream stage's outputs (as the run used them), or an upstream that is itself stale.

Everything else that changed (other files, new commits, packages it never imported) is
**information**: listed with ``naga status --all``, never a reason.

Paths resolve from where the run.lock lies now and from the git repository that encloses it,
so a moved project or a results folder copied next to a fresh clone judges the same. Judging
never executes anything a run.lock names and runs no git command that could fire a hook or an
fsmonitor: blob ids are computed here, and packages are read from metadata files.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from naga._errors import GitError, NagaError
from naga._plain import flatten
from naga._provenance import replayer
from naga.lock._environment import installed_packages
from naga.lock._format import find_lock, load_lock
from naga.lock._git import git
from naga.lock._hashing import (
    ALGORITHM,
    _Cache,
    changed_files,
    dir_manifest,
    hash_file,
    hash_path,
)
from naga.lock._used import blob_id, code_digest

__all__ = ["Change", "Verdict", "judge", "judge_many"]

#: Read-only git: no fsmonitor, no optional locks (nothing written to the repository).
_SAFE_GIT = ["-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false", "--no-optional-locks"]


class Change:
    """One difference: its part (config, code, data, outputs, environment, prevs), a key, both
    values, a note, and whether the run used it (``used``: a reason it is stale) or it is
    information only."""

    __slots__ = ("key", "new", "note", "old", "part", "used")

    def __init__(
        self, part: str, key: str, old: Any, new: Any, note: str = "", *, used: bool = True
    ) -> None:
        self.part, self.key, self.old, self.new, self.note = part, key, old, new, note
        self.used = used

    def as_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "key": self.key,
            "old": self.old,
            "new": self.new,
            "note": self.note,
            "used": self.used,
        }

    def reason(self) -> str:
        """The change as one phrase: ``train.py modified``, ``numpy 1.26.0 -> 2.0.0``."""
        key = f"output {self.key}" if self.part == "outputs" else self.key
        if self.old is None and self.new is None:
            return f"{key} {self.note}".strip()
        if self.note:
            return f"{key} {self.note}"
        return f"{key} {self.old} -> {self.new}"

    def __repr__(self) -> str:
        return f"Change({self.part!r}, {self.key!r}, {self.old!r}, {self.new!r}, {self.note!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Change) and self.as_dict() == other.as_dict()


class Verdict:
    """The judgement of one run.lock: reasons it is stale, and information."""

    def __init__(self, lock_file: Path, changes: list[Change], lock_version: int) -> None:
        self.lock_file = lock_file
        self.changes = changes
        self.lock_version = lock_version

    @property
    def reasons(self) -> list[Change]:
        return [c for c in self.changes if c.used]

    @property
    def info(self) -> list[Change]:
        return [c for c in self.changes if not c.used]

    @property
    def stale(self) -> bool:
        return bool(self.reasons)

    def first_reason(self) -> str:
        return self.reasons[0].reason() if self.reasons else ""


def judge(path: str | os.PathLike[str], *, all_changes: bool = False) -> Verdict:
    """Judge the run.lock of ``path`` (a run folder, its run.lock, or a file inside it).

    Args:
        path: The run to judge.
        all_changes: Also list, as information, what changed but the run did not use (other
            files of the repository, new commits, packages it never imported). Costs a listing
            of the repository.

    Returns:
        A :class:`Verdict`; ``verdict.stale`` is True when any used thing changed.

    Raises:
        LockError: ``path`` holds no readable run.lock.
    """
    judge_ = _Judge(all_changes)
    try:
        return judge_.run(find_lock(path).resolve())
    finally:
        judge_.close()


def judge_many(paths: list[str | os.PathLike[str]], *, all_changes: bool = False) -> list[Verdict]:
    """Judge several runs at once, sharing the work: stages of one pipeline and tasks of one
    sweep share code, data and upstreams, each checked once. See :func:`judge`."""
    judge_ = _Judge(all_changes)
    try:
        return [judge_.run(find_lock(p).resolve()) for p in paths]
    finally:
        judge_.close()


class _Judge:
    def __init__(self, all_changes: bool) -> None:
        self.all_changes = all_changes
        self.done: dict[Path, Verdict] = {}
        # Per run.lock: reset in run() before its code is judged.
        self.packages: dict[str, dict[str, str]] = {}
        self.hashes: dict[tuple[str, bool], str] = {}
        self.cache: _Cache | None = None
        self.blobs: dict[tuple[str, str], str | None] = {}
        self.used_paths: set[str] = set()
        # Per run.lock: its config files judged by the values they gave the run, not as code.
        self.by_value: set[str] = set()
        self.replays: dict[str, dict[str, Any] | NagaError] = {}

    def run(self, lock_file: Path) -> Verdict:
        if lock_file in self.done:
            return self.done[lock_file]
        lock = load_lock(lock_file)
        home = lock_file.parent
        version = int(lock.get("lock_version", 1))
        changes: list[Change] = []
        if version < 2:
            changes.append(
                Change(
                    "note",
                    "lock_version",
                    version,
                    None,
                    "1: judged the old way (by commit and every package); rerun the stage for "
                    "a precise verdict",
                    used=False,
                )
            )
        self.used_paths = set()
        self.by_value = self._judged_by_value(lock, home)
        code = self._code(lock, home, version)
        changes += self._config_sources(lock, home) + code
        changes += self._entries("data", lock, home)
        changes += self._entries("outputs", lock, home)
        changes += self._environment(lock, version)
        verdict = Verdict(lock_file, changes, version)
        self.done[lock_file] = verdict  # before upstreams: a cycle ends here
        changes += self._prevs(lock, home)
        return verdict

    # -- config, code --------------------------------------------------------------------

    def _config_sources(self, lock: dict[str, Any], home: Path) -> list[Change]:
        """Config files read. A receipt that holds the values they gave the run (``taken``) is
        judged by those values: an edit elsewhere in a file (a comment, another experiment, a
        key ``-o`` overrode) is information. Otherwise a changed file is a reason; one inside a
        repo is a used file too, named once, as code."""
        changes = []
        sources = _mapping(lock.get("config_sources"))
        files = _mapping(sources.get("files"))
        for file, entry in files.items():
            entry = _mapping(entry)
            path = _resolve(home, str(file), entry.get("abs"))
            real = os.path.realpath(path) if "\0" not in str(path) else None
            if real in self.used_paths and real not in self.by_value:
                continue
            try:
                now: str | None = f"{ALGORITHM}:{hash_file(path)}"
            except (OSError, ValueError):  # ValueError: a NUL in the path a receipt names
                now = None
            if now != entry.get("hash"):
                note = "deleted" if now is None else "modified"
                changes.append(Change("config", f"config file {file}", None, None, note))
        if not changes or not self.by_value:
            return changes
        return self._config_values(lock, home, changes)

    def _judged_by_value(self, lock: dict[str, Any], home: Path) -> set[str]:
        """The real paths of the config files judged by value (see :meth:`_config_values`)."""
        sources = _mapping(lock.get("config_sources"))
        if replayer() is None or not isinstance(sources.get("taken"), dict):
            return set()
        if not isinstance(sources.get("configs"), list):
            return set()
        paths = set()
        for file, entry in _mapping(sources.get("files")).items():
            path = _resolve(home, str(file), _mapping(entry).get("abs"))
            if "\0" not in str(path):
                paths.add(os.path.realpath(path))
        return paths

    def _config_values(
        self, lock: dict[str, Any], home: Path, files_changed: list[Change]
    ) -> list[Change]:
        """The values the changed config files give the run now, against those it took."""
        sources = _mapping(lock.get("config_sources"))
        files = _mapping(sources.get("files"))

        def where(stored: Any) -> str:
            return str(_resolve(home, str(stored), _mapping(files.get(stored)).get("abs")))

        config = lock.get("config")
        extra = sources.get("overrides_file")
        args = [
            [where(f) for f in _strings(sources.get("configs"))],
            sources.get("experiment") if isinstance(sources.get("experiment"), str) else None,
            where(extra) if isinstance(extra, str) else None,
            _strings(sources.get("overrides"))
            + [f"{k}=" for k in _strings(sources.get("task_keys"))],
            config if isinstance(config, dict) else {},
        ]
        key = json.dumps([args[:4], sorted(flatten(args[4]))], default=str)
        if key not in self.replays:
            try:
                self.replays[key] = replayer()(*args)  # type: ignore[misc]
            except NagaError as exc:  # the file no longer reads, or lost the experiment
                self.replays[key] = exc
            except (OSError, ValueError, TypeError, RecursionError) as exc:  # a receipt's odd shape
                self.replays[key] = NagaError(f"it cannot be replayed ({type(exc).__name__})")
        now = self.replays[key]
        if isinstance(now, NagaError):
            why = str(now)
            return [
                c if c.note == "deleted" else Change(c.part, c.key, None, None, f"{c.note}: {why}")
                for c in files_changed
            ]
        then = {str(k): v for k, v in _mapping(sources.get("taken")).items()}
        defaults = {str(k): v for k, v in _mapping(sources.get("defaults")).items()}
        recorded = flatten(args[4])  # the run's whole config: what a newly set key had
        shown = ", ".join(c.key.removeprefix("config file ") for c in files_changed)
        changes = []
        for name in sorted(set(then) | set(now)):
            old, new = then.get(name, _UNSET), now.get(name, _UNSET)
            if _same(old, new):
                continue
            if old is _UNSET and _same(recorded.get(name, _UNSET), new):
                continue  # a file now sets what the run had anyway
            if old is _UNSET:
                note = f"the default -> {new} (set by {shown} now)"
                changes.append(Change("config", name, None, new, note))
            elif new is _UNSET:
                default = defaults.get(name, _UNSET)
                if _same(default, old):
                    continue  # no file sets it now, and the default is what the file said
                shown_default = "the default" if default is _UNSET else f"{default} (the default)"
                note = f"{old} -> {shown_default}: {shown} no longer sets it"
                now_value = None if default is _UNSET else default
                changes.append(Change("config", name, old, now_value, note))
            else:
                changes.append(Change("config", name, old, new, f"{old} -> {new} ({shown})"))
        if changes:
            return changes
        return [
            Change(
                c.part, c.key, None, None, f"{c.note}: no value this run took changed", used=False
            )
            for c in files_changed
        ]

    def _code(self, lock: dict[str, Any], home: Path, version: int) -> list[Change]:
        changes: list[Change] = []
        repos = _mapping(lock.get("repos"))
        for name, repo in repos.items():
            repo = _mapping(repo)
            root = _repo_root(home, repo, first=name == next(iter(repos)))
            label = "" if len(repos) == 1 else f"{name}:"
            if root is None:
                changes.append(
                    Change("code", f"repository {name}", None, None, "missing", used=True)
                )
                continue
            fmt = str(repo.get("object_format") or "sha1")
            used = _mapping(repo.get("used"))
            self.used_paths |= {
                os.path.realpath(root / str(rel)) for rel in used if "\0" not in str(rel)
            }
            trees = _mapping(repo.get("used_ast")) if self._same_ast(lock) else {}
            for rel, blob in used.items():
                if self.by_value and os.path.realpath(root / str(rel)) in self.by_value:
                    continue  # a config file: judged by the values it gave the run
                now = self._blob(root / str(rel), fmt)
                if now == blob:
                    continue
                if now is not None and rel in trees and code_digest(root / str(rel)) == trees[rel]:
                    note = "modified: comments or layout only (the same syntax tree)"
                    changes.append(Change("code", f"{label}{rel}", None, None, note, used=False))
                    continue
                note = "deleted" if now is None else "modified"
                changes.append(Change("code", f"{label}{rel}", None, None, note))
            if version < 2 or self.all_changes:
                changes += self._repo_changes(root, repo, label, set(used), version)
        return changes

    def _repo_changes(
        self, root: Path, repo: dict[str, Any], label: str, used: set[str], version: int
    ) -> list[Change]:
        """Files that differ from the recorded tree, and a moved HEAD: information for a
        version-2 lock; for a version-1 lock (no used files) every one is a reason."""
        stale = version < 2
        changes: list[Change] = []
        try:
            head = git([*_SAFE_GIT, "rev-parse", "--verify", "-q", "HEAD"], root).strip()
        except GitError:
            head = None
        if head != repo.get("commit"):
            changes.append(Change("code", f"{label}HEAD", repo.get("commit"), head, "", used=stale))
        tree = repo.get("tree") or repo.get("snapshot") or repo.get("commit")
        if not tree:
            return changes
        try:
            recorded = _tree_blobs(root, str(tree))
        except GitError:
            changes.append(_missing_commit(repo, label, stale))
            return changes
        fmt = str(repo.get("object_format") or "sha1")
        for rel, kind in _working_changes(root, recorded, fmt).items():
            if rel in used or _inside_a_run(root, rel):
                continue
            changes.append(Change("code", f"{label}{rel}", None, None, kind, used=stale))
        return changes

    # -- data and outputs ----------------------------------------------------------------

    def _entries(self, part: str, lock: dict[str, Any], home: Path) -> list[Change]:
        changes: list[Change] = []
        base = Path(lock.get("cwd") or home) if lock.get("lock_version", 1) < 2 else home
        for name, entry in _mapping(lock.get(part)).items():
            entry = _mapping(entry)
            path = _resolve(base, str(entry.get("path", name)), entry.get("abs"))
            label = str(name)
            if not _exists(path):
                changes.append(Change(part, label, None, None, "deleted"))
                continue
            try:
                now = self._hash(path, part == "outputs")
            except NagaError as exc:
                changes.append(Change(part, label, None, None, f"unreadable: {exc}"))
                continue
            if now == entry.get("hash"):
                continue
            files = _changed_files(str(entry.get("hash", "")), now)
            if files:
                prefix = "" if part == "outputs" and name == "." else f"{name}/"
                changes += [Change(part, f"{prefix}{f}", None, None, k) for f, k in files]
            else:
                changes.append(Change(part, label, entry.get("hash"), now, "content changed"))
        return changes

    def _hash(self, path: Path, outputs: bool) -> str:
        key = (os.path.abspath(path), outputs)
        if key not in self.hashes:
            if self.cache is None:
                self.cache = _Cache()  # one connection for every run judged
            self.hashes[key] = hash_path(path, outputs=outputs, cache=self.cache)["hash"]
        return self.hashes[key]

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    @staticmethod
    def _same_ast(lock: dict[str, Any]) -> bool:
        """Whether this Python parses as the run's did (same major.minor): only then do syntax
        tree digests compare (``ast`` changes between versions)."""
        recorded = str(_mapping(lock.get("environment")).get("python") or "")
        return recorded.split(".")[:2] == [str(sys.version_info[0]), str(sys.version_info[1])]

    def _blob(self, path: Path, fmt: str) -> str | None:
        key = (os.path.abspath(path), fmt)
        if key not in self.blobs:
            self.blobs[key] = blob_id(path, fmt)
        return self.blobs[key]

    # -- environment ---------------------------------------------------------------------

    def _environment(self, lock: dict[str, Any], version: int) -> list[Change]:
        env = _mapping(lock.get("environment"))
        changes: list[Change] = []
        python, packages, note = self._run_python(env)
        if note:
            changes.append(Change("note", "python:", None, None, note, used=False))
        old_python = str(env.get("python") or "")
        if old_python and python and _minor(old_python) != _minor(python):
            changes.append(Change("environment", "python", old_python, python))
        elif old_python and python and old_python != python:
            changes.append(Change("environment", "python", old_python, python, used=False))
        recorded = _mapping(env.get("packages"))
        imported = _mapping(env.get("imported")) if version >= 2 else recorded
        for name, old in imported.items():
            new = packages.get(str(name))
            if new != old:
                note = "" if new is not None else "uninstalled"
                changes.append(Change("environment", str(name), old, new, note))
        if version >= 2 and self.all_changes:
            for name in sorted(set(recorded) | set(packages)):
                if name in imported or recorded.get(name) == packages.get(name):
                    continue
                old, new = recorded.get(name), packages.get(name)
                note = "installed" if old is None else "uninstalled" if new is None else ""
                changes.append(Change("environment", str(name), old, new, note, used=False))
        return changes

    def _run_python(self, env: dict[str, Any]) -> tuple[str, dict[str, str], str]:
        """Python version and packages of the run's interpreter today, read from files: the
        metadata in the folders the run found its packages in (never by starting it)."""
        recorded = env.get("executable")
        here = platform.python_version()
        recorded_paths = env.get("sys_path")
        paths = [
            p
            for p in (recorded_paths if isinstance(recorded_paths, list) else [])
            if isinstance(p, str) and "\0" not in p and os.path.isdir(p)
        ]
        if not isinstance(recorded, str) or os.path.abspath(recorded) == os.path.abspath(
            sys.executable
        ):
            return here, self._installed(paths or None), ""
        if not os.path.exists(recorded) or not paths:
            note = (
                "the run's Python is gone: compared with the one running naga"
                if not os.path.exists(recorded)
                else "the run's packages were not recorded: compared with the one running naga"
            )
            return here, self._installed(None), note
        return _venv_version(recorded) or str(env.get("python") or ""), self._installed(paths), ""

    def _installed(self, paths: list[str] | None) -> dict[str, str]:
        key = "\0".join(paths) if paths is not None else ""
        if key not in self.packages:
            self.packages[key] = installed_packages(paths)
        return self.packages[key]

    # -- upstream stages -----------------------------------------------------------------

    def _prevs(self, lock: dict[str, Any], home: Path) -> list[Change]:
        changes: list[Change] = []
        for key, embedded in _mapping(lock.get("prevs")).items():
            embedded = _mapping(embedded)
            where = _resolve(home, str(key), None)
            label = _display(where)
            try:
                upstream_file = find_lock(where).resolve()
                current = load_lock(upstream_file)
            except NagaError as exc:
                changes.append(
                    Change("prevs", f"upstream {label}", None, None, f"unreadable: {exc}")
                )
                continue
            if current.get("created") != embedded.get("created"):
                changes.append(_rerun_change(label, embedded, current))
            verdict = self.run(upstream_file)
            if verdict.stale:
                changes.append(
                    Change(
                        "prevs",
                        f"upstream {label}",
                        None,
                        None,
                        f"is stale: {verdict.first_reason()}",
                    )
                )
        return changes


# -- helpers ------------------------------------------------------------------------------


def _rerun_change(label: str, embedded: dict[str, Any], current: dict[str, Any]) -> Change:
    """An upstream rerun since the run used it: a reason when its outputs changed."""
    used_outputs = _mapping(embedded.get("outputs"))
    now_outputs = _mapping(current.get("outputs"))
    key = f"upstream {label}"
    if not used_outputs and not now_outputs:
        # No outputs recorded (a version-1 stage): a rerun is all we can tell.
        return Change("prevs", key, None, None, "was rerun")
    if _hashes(used_outputs) == _hashes(now_outputs):
        return Change("prevs", key, None, None, "rerun with identical outputs", used=False)
    files = _outputs_diff(used_outputs, now_outputs, label)
    return Change("prevs", key, None, None, f"outputs changed: {files}")


def _mapping(value: Any) -> dict[str, Any]:
    """A receipt may come from anyone: a part of the wrong shape reads as empty."""
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    """The text items of a receipt's list (a list of anything else is not trusted in shape)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


#: A config key no file sets (the config class's default applies).
_UNSET = object()


def _same(a: Any, b: Any) -> bool:
    """Equal as config values: as plain data, NaN equal to NaN (a file read twice), and a
    whole float equal to its integer (``2`` and ``2.0`` are one float once clicfg types them)."""
    if a is _UNSET or b is _UNSET:
        return a is b
    return _comparable(a) == _comparable(b)


def _comparable(value: Any) -> str:
    def whole(v: Any) -> Any:
        if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
            return int(v)
        if isinstance(v, dict):
            return {str(k): whole(x) for k, x in v.items()}
        if isinstance(v, list):
            return [whole(x) for x in v]
        return v

    return json.dumps(whole(value), sort_keys=True, default=str)


def _resolve(base: Path, stored: str, absolute: Any) -> Path:
    """A stored path, from where the run.lock lies now; the recorded absolute path only when
    the relative one no longer exists (information, kept for that)."""
    candidate = Path(stored) if os.path.isabs(stored) else base / stored
    if not _exists(candidate) and isinstance(absolute, str) and _exists(Path(absolute)):
        return Path(absolute)
    return Path(os.path.normpath(candidate))


def _exists(path: Path) -> bool:
    """``path.exists()``, False for a path no file can have (a NUL in a receipt's path)."""
    try:
        return path.exists()
    except ValueError:
        return False


def _display(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def _enclosing_repo(folder: Path) -> Path | None:
    for candidate in (folder, *folder.parents):
        if _exists(candidate / ".git"):
            return candidate
    return None


def _repo_root(home: Path, repo: dict[str, Any], *, first: bool) -> Path | None:
    location = repo.get("location")
    if isinstance(location, str):
        candidate = Path(os.path.normpath(home / location))
        if _exists(candidate / ".git"):
            return candidate
    if first:
        enclosing = _enclosing_repo(home)
        if enclosing is not None:
            return enclosing
    root = repo.get("root")
    if isinstance(root, str) and _exists(Path(root) / ".git"):
        return Path(root)
    return None


def _missing_commit(repo: dict[str, Any], label: str, used: bool) -> Change:
    """The recorded code is not in this clone: name the commit and the command that fetches it."""
    snapshot = repo.get("snapshot")
    if snapshot:
        return Change(
            "code",
            f"{label}snapshot",
            None,
            None,
            f"commit {snapshot} is not in this repository: fetch it with `naga pull` (from the "
            f"remote that the run's clone ran `naga push` to) to compare the code",
            used=used,
        )
    return Change(
        "code",
        f"{label}commit",
        None,
        None,
        f"{repo.get('commit')} is not in this repository: fetch it with `git fetch` to compare "
        f"the code",
        used=used,
    )


def _tree_blobs(root: Path, tree: str) -> dict[str, str]:
    out = git([*_SAFE_GIT, "ls-tree", "-r", "-z", "--full-tree", tree], root)
    blobs = {}
    for item in out.split("\0"):
        meta, _, rel = item.partition("\t")
        parts = meta.split()
        if rel and len(parts) == 3 and parts[1] == "blob":
            blobs[rel] = parts[2]
    return blobs


def _working_changes(root: Path, recorded: dict[str, str], fmt: str) -> dict[str, str]:
    """How today's working tree (tracked and untracked, not ignored) differs from ``recorded``."""
    listed = git([*_SAFE_GIT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], root)
    now = {rel for rel in listed.split("\0") if rel}
    changes: dict[str, str] = {}
    for rel in sorted(now | set(recorded)):
        if rel not in now or not (root / rel).is_file():
            if rel in recorded:
                changes[rel] = "deleted"
            continue
        if rel not in recorded:
            changes[rel] = "added"
        elif blob_id(root / rel, fmt) != recorded[rel]:
            changes[rel] = "modified"
    return changes


def _inside_a_run(root: Path, rel: str) -> bool:
    """Outputs of runs (anything in a folder holding a run.lock or .naga/) are not code."""
    from naga._paths import LOCK_NAME, NAGA_DIR

    parts = Path(rel).parts[:-1]
    for i in range(len(parts)):
        folder = root.joinpath(*parts[: i + 1])
        if (folder / LOCK_NAME).is_file() or (folder / NAGA_DIR).is_dir():
            return True
    return False


def _changed_files(old: str, new: str) -> list[tuple[str, str]]:
    before, after = dir_manifest(old), dir_manifest(new)
    if before is None or after is None:
        return []
    kinds = changed_files(before, after)
    names = {"added": "added", "removed": "deleted", "modified": "modified"}
    return [(f, names[k]) for k in ("modified", "removed", "added") for f in kinds[k]]


def _hashes(outputs: dict[str, Any]) -> dict[str, Any]:
    return {k: _mapping(v).get("hash") for k, v in outputs.items()}


def _outputs_diff(old: dict[str, Any], new: dict[str, Any], label: str) -> str:
    parts = []
    for name in sorted(set(old) | set(new), key=str):
        a, b = _mapping(old.get(name)).get("hash"), _mapping(new.get(name)).get("hash")
        if a == b:
            continue
        files = _changed_files(str(a or ""), str(b or ""))
        prefix = f"{label}/" if name == "." else f"{label}/{name}/"
        if files:
            parts += [f"{prefix}{f} {k}" for f, k in files]
        else:
            parts.append(f"{prefix.rstrip('/')} content changed")
    return ", ".join(parts[:5]) + (f" (+{len(parts) - 5} more)" if len(parts) > 5 else "")


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _venv_version(executable: str) -> str | None:
    """The Python version of a virtual environment's interpreter, from its pyvenv.cfg."""
    for folder in (Path(executable).parent.parent, Path(executable).parent):
        try:
            text = (folder / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version", "version_info"):
                return value.strip()
    return None
