"""Content hashes of data files and directories (xxh3-128), with a stat cache.

A file's hash is ``xxh3-128`` of its bytes. A directory's hash is ``xxh3-128`` of the lines
``<relative posix path>\\0<file hex digest>\\n`` of every file below it, sorted by path: it depends
on relative paths and contents only, never on mtimes, permissions or the folder's location.

Unchanged data is not re-read: the hash of every file is cached against its
``(device, inode, size, mtime_ns)`` in an SQLite database (WAL mode, safe for concurrent
processes) under the cache folder; a directory's whole manifest is cached as one row, so a
re-check of an unchanged tree costs one ``stat`` per file and one query.

A directory with nothing cached is listed by name only (no ``stat``); its files are then opened,
``fstat``-ed and read by two processes (forked; threads lose to the GIL on small files), so each
path is looked up once and the look-ups are shared along with the hashing.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import marshal
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import xxhash

from naga._errors import LockError
from naga._paths import LOCK_NAME, cache_dir, own_names

__all__ = ["ALGORITHM", "changed_files", "dir_manifest", "hash_file", "hash_path"]

ALGORITHM = "xxh3-128"
_READ_SIZE = 1 << 20
#: The buffer for files above _READ_SIZE: fewer, larger reads.
_BIG_READ = 1 << 22
#: Below this many files to hash, one process is faster than splitting the work over two.
_PARALLEL_FROM = 2000
#: Files modified this recently are hashed but not cached: a write within the same mtime tick
#: after hashing would otherwise go unseen (git's "racy clean" problem).
_RACY_SECONDS = 2.0

Stat = tuple[int, int, int, int]
#: One file of a directory: relative path, device, inode, size, mtime_ns.
Stat5 = tuple[str, int, int, int, int]


def hash_file(path: str | os.PathLike[str], size: int | None = None) -> str:
    """The xxh3-128 hex digest of one file, read in large chunks into one reused buffer.

    Raises:
        OSError: The file cannot be read, or it changed size while being read
            (:class:`ChangedWhileHashing`).
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        return _hash_fd(fd, os.fstat(fd).st_size if size is None else size)
    except ChangedWhileHashing as exc:
        exc.filename = os.fspath(path)
        raise
    finally:
        os.close(fd)


class ChangedWhileHashing(OSError):
    """A file's size changed while it was read (log rotation, a writer restarting)."""

    def __init__(self) -> None:
        super().__init__(errno.EAGAIN, "it changed while being hashed")


def _hash_fd(fd: int, size: int) -> str:
    # Reads, never mmap: a file truncated while mapped kills the process with SIGBUS, and
    # readinto a reused buffer is as fast as mmap on page-cached data.
    if size <= _READ_SIZE:
        data = os.read(fd, size + 1)
        if len(data) != size:
            raise ChangedWhileHashing()
        return xxhash.xxh3_128_hexdigest(data)
    hasher = xxhash.xxh3_128()
    buffer = bytearray(_BIG_READ)
    view = memoryview(buffer)
    total = 0
    while True:
        count = os.readv(fd, [buffer])
        if not count:
            break
        hasher.update(view[:count])
        total += count
    if total != size:
        raise ChangedWhileHashing()
    return hasher.hexdigest()


class _Cache:
    """The stat cache: file hashes by stat key, and directory manifests."""

    def __init__(self) -> None:
        self.db: sqlite3.Connection | None = None
        try:
            folder = Path(cache_dir())
            folder.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(folder / "hashes-v3.sqlite", timeout=60, isolation_level=None)
            # Big pages: a directory's manifest is one blob of megabytes; with 4 KiB pages its
            # write also triggered a WAL checkpoint (every 1,000 pages) nearly every time.
            self.db.execute("PRAGMA page_size=65536")  # takes effect when the file is created
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

    def has(self, table: str, key: str) -> bool:
        if self.db is None:
            return False
        try:
            key_column, _ = _COLUMNS[table]
            query = f"SELECT 1 FROM {table} WHERE {key_column} = ?"
            return self.db.execute(query, (key,)).fetchone() is not None
        except sqlite3.Error:
            return False

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


def _walk(root: str, prefix: str = "", *, stat: bool = True, outputs: bool = False) -> list[Any]:
    """Every file below ``root``, symlinks followed: ``(relative posix path, device, inode,
    size, mtime_ns)``, or without a stat call ``(relative posix path, absolute path)``.

    naga's own files are never data or outputs: in a run or sweep folder (one holding run.lock,
    ``.naga/`` or tasks.yaml) the names :func:`naga._paths.own_names` lists are left out. For a
    run's ``outputs``, a nested run folder is another run's, and left out whole.
    """
    out: list[Any] = []
    for entry in _entries(root, prefix, outputs):
        rel = prefix + entry.name
        if entry.is_dir():
            if outputs and own_names(_names(entry.path)):
                continue
            out.extend(_walk(entry.path, rel + "/", stat=stat, outputs=outputs))
        elif not entry.is_file():
            continue
        elif stat:
            st = entry.stat()
            out.append((rel, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
        else:
            out.append((rel, entry.path))
    return out


#: What file browsers, Python, Jupyter and version control leave in any folder: never data nor
#: outputs (a Finder window opened on a data folder must not make its runs stale).
_JUNK_NAMES = frozenset(
    {".DS_Store", "Thumbs.db", "desktop.ini", "Icon\r", "__pycache__", ".ipynb_checkpoints"}
    | {".git", ".hg", ".svn"}
)


def _is_junk(name: str) -> bool:
    """Whether a file or folder name is one of :data:`_JUNK_NAMES` or a macOS ``._`` file."""
    return name in _JUNK_NAMES or name.startswith("._")


def _entries(root: str, prefix: str, outputs: bool) -> list[os.DirEntry[str]]:
    """The entries of a folder that are neither naga's own nor junk (:func:`_is_junk`)."""
    with os.scandir(root) as entries:
        listed = list(entries)
    names = {e.name for e in listed}
    # The run folder whose outputs these are is a run folder even before its run.lock exists.
    own = own_names(names | {LOCK_NAME} if outputs and not prefix else names)
    return [e for e in listed if e.name not in own and not _is_junk(e.name)]


def _walk_in_two(root: str, outputs: bool) -> list[Stat5]:
    """:func:`_walk` with stats, its top-level folders shared between two processes: a re-check
    of a large unchanged tree is a stat per file, and one process spends most of it in Python."""
    entries = _entries(root, "", outputs)
    folders = [e for e in entries if e.is_dir()]
    if len(folders) < 2 or not _fork_is_safe():
        return _walk(root, outputs=outputs)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child walks every other top-level folder and sends its stats back
        try:
            os.close(read_fd)
            found = _walk_folders(folders[1::2], outputs)
            with os.fdopen(write_fd, "wb") as out:
                out.write(marshal.dumps(found, 2))
        finally:
            os._exit(0)
    os.close(write_fd)
    try:
        mine = _walk_folders(folders[0::2], outputs)
        for entry in entries:
            if not entry.is_dir() and entry.is_file():
                st = entry.stat()
                mine.append((entry.name, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    finally:
        with os.fdopen(read_fd, "rb") as incoming:
            blob = incoming.read()
        _, status = os.waitpid(pid, 0)
    theirs = _unmarshal(blob) if status == 0 else None
    if not isinstance(theirs, list):
        return _walk(root, outputs=outputs)  # the child failed: redo here, raise here
    return mine + [tuple(item) for item in theirs]


def _walk_folders(folders: list[os.DirEntry[str]], outputs: bool) -> list[Any]:
    found: list[Any] = []
    for entry in folders:
        if outputs and own_names(_names(entry.path)):
            continue
        found.extend(_walk(entry.path, entry.name + "/", outputs=outputs))
    return found


def _names(folder: str) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def hash_path(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    outputs: bool = False,
    cache: _Cache | None = None,
) -> dict[str, Any]:
    """The ``data`` entry of a run.lock for a file or a directory.

    Args:
        path: A file or a directory.
        name: Unused; kept for callers that name the entry.
        outputs: Hash a run folder's outputs: nested run folders (other runs) are left out.
        cache: An open cache to use (and leave open): many calls then share one connection.

    Returns:
        ``{path, hash: "xxh3-128:<hex>", size, files}``. naga's own files are never counted.

    Raises:
        LockError: The path does not exist, or a file in it cannot be read.

    Example:
        >>> hash_path("data/input.csv")  # doctest: +SKIP
        {'path': 'data/input.csv', 'hash': 'xxh3-128:…', 'size': 9, 'files': 1}
    """
    target = os.fspath(path)
    if not os.path.exists(target):
        raise LockError(f"data path '{target}' does not exist: create it first, or fix the path.")
    own = cache is None
    if cache is None:
        cache = _Cache()
    try:
        if os.path.isdir(target):
            with _gc_paused():  # tens of thousands of small tuples: collections cost 10-20%
                digest, size, count = _hash_dir(os.path.abspath(target), cache, outputs)
        else:
            st = os.stat(target)
            if not stat.S_ISREG(st.st_mode):
                raise LockError(
                    f"data path '{target}' is not a regular file or a directory (a pipe, socket "
                    f"or device): pass the files it stands for."
                )
            digest, size, count = _hash_one(target, st, cache, time.time()), st.st_size, 1
    except OSError as exc:  # unreadable, removed or changed while being hashed, a symlink loop
        raise _read_error(exc, target) from exc
    finally:
        if own:
            cache.close()
    return {"path": target, "hash": f"{ALGORITHM}:{digest}", "size": size, "files": count}


def _read_error(exc: OSError, target: str) -> LockError:
    where = os.fsdecode(exc.filename) if exc.filename else target
    if isinstance(exc, ChangedWhileHashing):
        fix = "it changed while being hashed: wait until its writer is done, then run again"
    elif exc.errno == errno.ELOOP:
        fix = "it is a symbolic link loop: remove or fix the link, or leave it out of data="
    elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
        fix = "it disappeared while being hashed: run again once it is stable"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        fix = "permission denied: fix its permissions, or leave it out of data="
    else:
        fix = f"{exc.strerror}: fix the file, or leave it out of data="
    return LockError(f"cannot read data file '{where}': {fix}.", path=where)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _hash_one(path: str, st: os.stat_result, cache: _Cache, now: float) -> str:
    key = ":".join(map(str, _stat_key(st)))
    cached = cache.get("files", key)
    if cached:
        return str(cached)
    digest = hash_file(path, st.st_size)
    if _cacheable(st, now):
        cache.put("files", key, digest)
    return digest


def _hash_dir(root: str, cache: _Cache, outputs: bool = False) -> tuple[str, int, int]:
    now = time.time()
    walk_root = root
    if outputs:  # the same folder listed two ways: cached under two keys
        root = root + "\0outputs"
    summary = _unmarshal(cache.get("dirs", root))
    if summary is None and not cache.has("dirfiles", root):
        # Nothing known: list names only, and let two processes open, fstat and hash. The stat
        # comes from the descriptor that reads the file, so each path is looked up once; each
        # process also summarises its half (see _Part), so little is left to do after the join.
        names = _walk(walk_root, stat=False, outputs=outputs)
        names.sort(key=_first)
        return _store_dir(root, cache, now, _in_two_processes(_hash_part, names, _join_parts))
    big = isinstance(summary, tuple) and len(summary) > 3 and summary[3] >= _PARALLEL_FROM
    stats = _walk_in_two(walk_root, outputs) if big else _walk(walk_root, outputs=outputs)
    stats.sort(key=_first)
    # The whole tree's stat fingerprint: when it matches the cached one, nothing was touched
    # and no per-file work is needed (a re-check is then one stat per file). The summary is
    # only stored once no file is racy, so a match is never racy either.
    if isinstance(summary, tuple) and summary[0] == _fingerprint(_chunks(stats)):
        return summary[1], summary[2], summary[3]
    known = _known_files(cache, root)
    found: dict[str, tuple[Stat5, str]] = {}
    todo = []
    for key in stats:
        entry = known.get(key[0])
        if entry is not None and entry[0] == key:
            found[key[0]] = entry
        else:
            todo.append((key[0], os.path.join(walk_root, key[0])))
    new_stats, new_digests = _in_two_processes(_hash_list, todo, _join_lists)
    found.update(
        (key[0], (key, digest)) for key, digest in zip(new_stats, new_digests, strict=True)
    )
    ordered = [found[rel] for rel in sorted(found)]
    return _store_dir(
        root, cache, now, _summarise([e[0] for e in ordered], [e[1] for e in ordered])
    )


#: Files per chunk of the stored stats; the cold path splits its work on a chunk boundary, so
#: each process marshals its own chunks and they simply concatenate.
_STATS_CHUNK = 1024

#: A summary of sorted files, as one process makes it and two concatenate:
#: (marshalled stat chunks, digests, "<path>\0<digest>\n" lines, total size, newest mtime_ns).
_Part = tuple[list[bytes], list[str], str, int, int]


def _summarise(stats: list[Stat5], digests: list[str]) -> _Part:
    lines = "".join([f"{key[0]}\0{digest}\n" for key, digest in zip(stats, digests, strict=True)])
    size = sum([key[3] for key in stats])
    newest = max([key[4] for key in stats], default=0)
    return _chunks(stats), digests, lines, size, newest


def _hash_part(items: list[tuple[str, str]]) -> _Part:
    return _summarise(*_hash_list(items))


def _join_parts(a: _Part, b: _Part) -> _Part:
    return a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3], max(a[4], b[4])


def _join_lists(a: tuple[list[Any], list[Any]], b: tuple[list[Any], list[Any]]) -> Any:
    return a[0] + b[0], a[1] + b[1]


def _chunks(stats: list[Stat5]) -> list[bytes]:
    # Version 2: later versions mark shared objects by reference, so equal lists could give
    # different bytes depending on how their strings are shared.
    return [
        marshal.dumps(stats[i : i + _STATS_CHUNK], 2) for i in range(0, len(stats), _STATS_CHUNK)
    ]


def _fingerprint(chunks: list[bytes]) -> str:
    return xxhash.xxh3_128_hexdigest(b"".join(chunks))


def _known_files(cache: _Cache, root: str) -> dict[str, tuple[Stat5, str]]:
    """What the cache knows of the files of ``root``: ``{rel: (stat, digest)}``."""
    files = _unmarshal(cache.get("dirfiles", root))  # a big blob: unpacked only when needed
    if isinstance(files, str):  # a reference to the manifest of the directory's last hash
        files = _unmarshal(cache.get("manifests", files))
    stats, digests = _unpack_files(files) or ([], [])
    return {key[0]: (key, digest) for key, digest in zip(stats, digests, strict=True)}


def _unpack_files(files: Any) -> tuple[list[Stat5], list[str]] | None:
    """A stored file list, ``(stat chunks, digests)``; None when unusable."""
    if isinstance(files, tuple) and len(files) == 2 and isinstance(files[0], list):
        stats: list[Stat5] = []
        for chunk in files[0]:
            part = _unmarshal(chunk)
            if not isinstance(part, list):
                return None
            stats.extend(part)
        if isinstance(files[1], list) and len(files[1]) == len(stats):
            return stats, files[1]
    return None


def _first(item: tuple[Any, ...]) -> Any:
    return item[0]


def _racy(mtime_ns: int, now: float) -> bool:
    return now - mtime_ns / 1e9 <= _RACY_SECONDS


def _store_dir(root: str, cache: _Cache, now: float, part: _Part) -> tuple[str, int, int]:
    """The directory's hash from the summary of its files; cache what is safe to cache.

    The manifest (every file's stat and digest) is stored once, by the directory's hash; the
    directory's own entry refers to it, unless some files are too recent to be trusted.
    """
    chunks, digests, lines, size, newest = part
    dir_digest = xxhash.xxh3_128_hexdigest(lines.encode("utf-8", "surrogateescape"))
    cache.put("manifests", dir_digest, marshal.dumps((chunks, digests)))
    if digests and _racy(newest, now):
        stats = (_unpack_files((chunks, digests)) or ([], []))[0]
        settled = [(k, d) for k, d in zip(stats, digests, strict=True) if not _racy(k[4], now)]
        kept = (_chunks([k for k, _ in settled]), [d for _, d in settled])
        cache.put("dirfiles", root, marshal.dumps(kept))
    else:
        cache.put("dirfiles", root, marshal.dumps(dir_digest))
        summary = (_fingerprint(chunks), dir_digest, size, len(digests))
        cache.put("dirs", root, marshal.dumps(summary))
    return dir_digest, size, len(digests)


def _unmarshal(blob: Any) -> Any:
    if not blob:
        return None
    try:
        return marshal.loads(blob)
    except (ValueError, EOFError, TypeError):
        return None


def _hash_list(items: list[tuple[str, str]]) -> tuple[list[Stat5], list[str]]:
    """The stat and digest of each file, one open each: the stat is the open descriptor's."""
    stats, digests = [], []
    for rel, full in items:
        fd = os.open(full, os.O_RDONLY)
        try:
            st = os.fstat(fd)
            digests.append(_hash_fd(fd, st.st_size))
            stats.append((rel, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
        except ChangedWhileHashing as exc:
            exc.filename = full
            raise
        finally:
            os.close(fd)
    return stats, digests


def _in_two_processes(work: Callable[[list[Any]], Any], items: list[Any], join: Any) -> Any:
    """``work(items)``, split over two processes when it pays (threads lose to the GIL here);
    ``join(first, second)`` puts the two results together. The split falls on a chunk boundary.
    """
    if len(items) < _PARALLEL_FROM or (os.cpu_count() or 1) < 2 or not _fork_is_safe():
        return work(items)
    half = max(_STATS_CHUNK, round(len(items) / 2 / _STATS_CHUNK) * _STATS_CHUNK)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child does the second half and sends its results back
        try:
            os.close(read_fd)
            with os.fdopen(write_fd, "wb") as out:
                out.write(marshal.dumps(work(items[half:])))
        finally:
            os._exit(0)
    os.close(write_fd)
    mine = work(items[:half])
    with os.fdopen(read_fd, "rb") as incoming:
        blob = incoming.read()
    _, status = os.waitpid(pid, 0)
    theirs = _unmarshal(blob) if status == 0 else None
    if theirs is None:
        return work(items)  # the child failed (a file vanished?): redo here, raise here
    return join(mine, theirs)


def _fork_is_safe() -> bool:
    """Fork only a single-threaded process: a thread holding a lock (malloc's, a library's) at
    the fork would leave it held forever in the child. Native threads count too (OpenMP pools
    of numpy or torch): Linux lists every thread under /proc/self/task."""
    import threading

    if not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return True  # no /proc (macOS): Python's own count is what there is


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
    files = _unpack_files(_unmarshal(blob))
    if files is None:
        return None
    return {key[0]: digest for key, digest in zip(*files, strict=True)}


def changed_files(old: dict[str, str], new: dict[str, str]) -> dict[str, list[str]]:
    """Compare two manifests: ``{added, removed, modified}``, each a sorted list of paths."""
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "modified": sorted(p for p in set(old) & set(new) if old[p] != new[p]),
    }
