"""Content hashes of data files and directories (xxh3-128), with a stat cache.

A file's hash is ``xxh3-128`` of its bytes. A directory's hash is ``xxh3-128`` of the lines
``<relative posix path>\\0<file hex digest>\\n`` of every file below it, sorted by path: it depends
on relative paths and contents only, never on mtimes, permissions or the folder's location.

Unchanged data is not re-read: the hash of every file is cached against its
``(device, inode, size, mtime_ns)`` in an SQLite database (WAL mode, safe for concurrent
processes) under the cache folder; a directory's whole manifest is cached as one row, so a
re-check of an unchanged tree costs one ``stat`` per file and one query.
"""

from __future__ import annotations

import marshal
import mmap
import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import xxhash

from naga._errors import LockError

__all__ = ["ALGORITHM", "cache_dir", "changed_files", "dir_manifest", "hash_file", "hash_path"]

ALGORITHM = "xxh3-128"
_CHUNK = 1 << 20
_MMAP_FROM = 1 << 20
#: Below this many files to hash, one process is faster than splitting the work over two.
_PARALLEL_FROM = 2000
#: Files modified this recently are hashed but not cached: a write within the same mtime tick
#: after hashing would otherwise go unseen (git's "racy clean" problem).
_RACY_SECONDS = 2.0

Stat = tuple[int, int, int, int]


def cache_dir() -> Path:
    """naga's cache folder: ``$NAGA_CACHE_DIR``, else ``$XDG_CACHE_HOME/naga``, else ~/.cache/naga."""
    explicit = os.environ.get("NAGA_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "naga")


def hash_file(path: str | os.PathLike[str], size: int | None = None) -> str:
    """The xxh3-128 hex digest of one file (mmap for large files, plain reads for small)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return _hash_fd(fd, os.fstat(fd).st_size if size is None else size)
    finally:
        os.close(fd)


def _hash_fd(fd: int, size: int) -> str:
    if size >= _MMAP_FROM:
        with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as view:
            return xxhash.xxh3_128_hexdigest(view)
    if size <= _CHUNK:
        data = os.read(fd, size + 1)
        if len(data) <= size:  # the usual case: the whole file in one read
            return xxhash.xxh3_128_hexdigest(data)
        hasher = xxhash.xxh3_128(data)
    else:
        hasher = xxhash.xxh3_128()
    while chunk := os.read(fd, _CHUNK):
        hasher.update(chunk)
    return hasher.hexdigest()


class _Cache:
    """The stat cache: file hashes by stat key, and directory manifests."""

    def __init__(self) -> None:
        self.db: sqlite3.Connection | None = None
        try:
            folder = cache_dir()
            folder.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(folder / "hashes-v1.sqlite", timeout=60, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("CREATE TABLE IF NOT EXISTS files (key TEXT PRIMARY KEY, hash TEXT)")
            self.db.execute("CREATE TABLE IF NOT EXISTS dirs (path TEXT PRIMARY KEY, summary BLOB)")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS dirfiles (path TEXT PRIMARY KEY, files BLOB)"
            )
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS manifests (hash TEXT PRIMARY KEY, files BLOB)"
            )
        except (OSError, sqlite3.Error):
            self.db = None  # no usable cache: hash everything, still correct

    def get(self, table: str, key: str) -> Any:
        if self.db is None:
            return None
        try:
            key_column, value_column = _COLUMNS[table]
            row = self.db.execute(
                f"SELECT {value_column} FROM {table} WHERE {key_column} = ?", (key,)
            ).fetchone()
        except sqlite3.Error:
            return None
        return row[0] if row else None

    def put(self, table: str, key: str, value: Any) -> None:
        if self.db is None:
            return
        try:
            self.db.execute(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)", (key, value))
        except sqlite3.Error:
            pass

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


_COLUMNS = {
    "files": ("key", "hash"),
    "dirs": ("path", "summary"),
    "dirfiles": ("path", "files"),
    "manifests": ("hash", "files"),
}


def _stat_key(st: os.stat_result) -> Stat:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _cacheable(st: os.stat_result, now: float) -> bool:
    return now - st.st_mtime > _RACY_SECONDS


def _walk(root: str, prefix: str = "", *, stat: bool = True) -> list[tuple[Any, ...]]:
    """Every file below ``root``: (relative posix path, absolute path, stat), or without the stat
    (no stat call at all where the file system reports entry types). Symlinks followed."""
    out: list[tuple[Any, ...]] = []
    with os.scandir(root) as entries:
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_dir():
                out.extend(_walk(entry.path, rel + "/", stat=stat))
            elif entry.is_file():
                out.append((rel, entry.path, entry.stat()) if stat else (rel, entry.path))
    return out


def hash_path(path: str | os.PathLike[str], *, name: str | None = None) -> dict[str, Any]:
    """The ``data`` entry of a run.lock for a file or a directory.

    Returns:
        ``{path, hash: "xxh3-128:<hex>", size, files}``.

    Raises:
        LockError: The path does not exist.

    Example:
        >>> hash_path("data/input.csv")  # doctest: +SKIP
        {'path': 'data/input.csv', 'hash': 'xxh3-128:…', 'size': 9, 'files': 1}
    """
    target = os.fspath(path)
    if not os.path.exists(target):
        raise LockError(f"data path '{target}' does not exist: create it first, or fix the path.")
    cache = _Cache()
    try:
        if os.path.isdir(target):
            digest, size, count = _hash_dir(os.path.abspath(target), cache)
        else:
            st = os.stat(target)
            digest, size, count = _hash_one(target, st, cache, time.time()), st.st_size, 1
    finally:
        cache.close()
    return {"path": target, "hash": f"{ALGORITHM}:{digest}", "size": size, "files": count}


def _hash_one(path: str, st: os.stat_result, cache: _Cache, now: float) -> str:
    key = ":".join(map(str, _stat_key(st)))
    cached = cache.get("files", key)
    if cached:
        return str(cached)
    digest = hash_file(path, st.st_size)
    if _cacheable(st, now):
        cache.put("files", key, digest)
    return digest


def _hash_dir(root: str, cache: _Cache) -> tuple[str, int, int]:
    now = time.time()
    summary = _unmarshal(cache.get("dirs", root))
    previous = _unmarshal(cache.get("dirfiles", root))
    if summary is None and previous is None:
        return _hash_dir_cold(root, cache, now)
    entries = _walk(root)
    entries.sort()
    stats = [(rel, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) for rel, _, st in entries]
    # The whole tree's stat fingerprint: when it matches the cached one, nothing was touched
    # and no per-file work is needed (a re-check is then one stat per file).
    fingerprint = xxhash.xxh3_128_hexdigest(marshal.dumps(stats, 2))
    if isinstance(summary, tuple) and summary[0] == fingerprint and not _racy(stats, now):
        return summary[1], summary[2], summary[3]
    known_files = previous if isinstance(previous, dict) else {}
    digests: dict[str, str] = {}
    todo = []
    for (rel, full, _), key in zip(entries, stats, strict=True):
        known = known_files.get(rel)
        if known is not None and known[0] == key[1:]:
            digests[rel] = known[1]
        else:
            todo.append((rel, full))
    digests.update((rel, digest) for rel, _, digest in _in_two_processes(_hash_list, todo))
    return _store_dir(root, cache, now, stats, digests, fingerprint)


def _hash_dir_cold(root: str, cache: _Cache, now: float) -> tuple[str, int, int]:
    """Nothing cached for ``root``: list names only, then open, fstat and hash in two processes.

    The stat of each file comes from ``fstat`` on the descriptor that reads it, so the cold path
    looks every path up once and shares the lookups, not just the hashing, between processes.
    """
    names = _walk(root, stat=False)
    names.sort()
    results = _in_two_processes(_hash_list, names)
    stats = [(rel, *key) for rel, key, _ in results]
    digests = {rel: digest for rel, _, digest in results}
    fingerprint = xxhash.xxh3_128_hexdigest(marshal.dumps(stats, 2))
    return _store_dir(root, cache, now, stats, digests, fingerprint)


def _racy(stats: list[tuple[str, int, int, int, int]], now: float) -> bool:
    return bool(stats) and now - max(key[4] for key in stats) / 1e9 <= _RACY_SECONDS


def _store_dir(
    root: str,
    cache: _Cache,
    now: float,
    stats: list[tuple[str, int, int, int, int]],
    digests: dict[str, str],
    fingerprint: str,
) -> tuple[str, int, int]:
    """The directory's hash from its files' digests; cache what is safe to cache."""
    lines = [f"{key[0]}\0{digests[key[0]]}\n" for key in stats]
    dir_digest = xxhash.xxh3_128_hexdigest("".join(lines).encode())
    size = sum(key[3] for key in stats)
    settled = now * 1e9 - _RACY_SECONDS * 1e9
    current = {key[0]: (key[1:], digests[key[0]]) for key in stats if key[4] < settled}
    cache.put("dirfiles", root, marshal.dumps(current, 2))
    if not _racy(stats, now):
        cache.put("dirs", root, marshal.dumps((fingerprint, dir_digest, size, len(stats)), 2))
    cache.put("manifests", dir_digest, marshal.dumps(digests, 2))
    return dir_digest, size, len(stats)


def _unmarshal(blob: Any) -> Any:
    if not blob:
        return None
    try:
        return marshal.loads(blob)
    except (ValueError, EOFError, TypeError):
        return None


def _hash_list(items: list[tuple[str, str]]) -> list[tuple[str, tuple[int, int, int, int], str]]:
    """(relative path, (device, inode, size, mtime_ns), digest) of each file, one open each."""
    out = []
    for rel, full in items:
        fd = os.open(full, os.O_RDONLY)
        try:
            st = os.fstat(fd)
            out.append((rel, _stat_key(st), _hash_fd(fd, st.st_size)))
        finally:
            os.close(fd)
    return out


def _in_two_processes(work: Any, items: list[Any]) -> list[Any]:
    """``work(items)``, split over two processes when it pays (threads lose to the GIL here)."""
    if len(items) < _PARALLEL_FROM or (os.cpu_count() or 1) < 2 or not _fork_is_safe():
        return list(work(items))
    half = len(items) // 2
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child does the second half and sends its results back
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as out:
                out.write(marshal.dumps(work(items[half:]), 2))
        finally:
            os._exit(0)
    os.close(write_fd)
    mine = work(items[:half])
    with os.fdopen(read_fd, "rb") as incoming:
        theirs = incoming.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not theirs:
        return list(work(items))  # the child failed (a file vanished?): redo, raise here
    return list(mine) + list(marshal.loads(theirs))


def _fork_is_safe() -> bool:
    import threading

    return hasattr(os, "fork") and threading.active_count() == 1


def dir_manifest(digest: str) -> dict[str, str] | None:
    """The files of a hashed directory, ``{relative path: hex digest}``, by its hash.

    Available while the cache holds it (on the machine that hashed the directory); None
    otherwise. ``digest`` may carry the ``xxh3-128:`` prefix.
    """
    cache = _Cache()
    try:
        blob = cache.get("manifests", digest.split(":", 1)[-1])
    finally:
        cache.close()
    if not blob:
        return None
    try:
        return dict(marshal.loads(blob))
    except (ValueError, EOFError, TypeError):
        return None


def changed_files(old: dict[str, str], new: dict[str, str]) -> dict[str, list[str]]:
    """Compare two manifests: ``{added, removed, modified}``, each a sorted list of paths."""
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "modified": sorted(p for p in set(old) & set(new) if old[p] != new[p]),
    }
