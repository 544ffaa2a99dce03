"""Atomic file writes: a reader sees the old file or the new one, never a partial one."""

from __future__ import annotations

import os
import time

__all__ = ["atomic_write_bytes", "atomic_write_text"]


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, *, mode: int | None = None, durable: bool = True
) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same folder, fsync, rename.

    The parent folders are created when missing, as ``mkdir -p`` would (so
    ``results/a/../b/config.json`` works when ``results/a`` does not exist yet), and the folder
    is fsynced after the rename so the new name survives a crash of the machine, not only of the
    process.

    Args:
        path: The file to write.
        data: Its whole new content.
        mode: Permission bits of the new file, exactly. By default the file gets what ``open``
            gives a new file: ``0o666`` less the process's umask (``0o644`` under the usual
            umask 022, ``0o600`` under umask 077).
        durable: fsync the file and its folder (the default). ``False`` keeps the write atomic
            for every reader (a killed process leaves the old file or the new one) but lets a
            crash of the machine lose it: for state that is rewritten often, like a run record.

    Raises:
        OSError: The folder or the file cannot be written (the caller names the fix).
    """
    # os.path rather than pathlib: this runs before every @clicfg function with a save_dir,
    # and importing pathlib costs a bare script several milliseconds.
    target = os.fspath(path)
    folder = os.path.dirname(target) or os.curdir
    # The folder as written, not a normalised one: `a/link/../b` must mean what the kernel (and
    # the user's own code writing next to this file) takes it to mean.
    os.makedirs(folder, exist_ok=True)
    fd, tmp = _create_temp(target, folder, 0o600 if mode is not None else 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable:
        _fsync_dir(folder)


def atomic_write_text(
    path: str | os.PathLike[str],
    text: str,
    *,
    encoding: str = "utf-8",
    mode: int | None = None,
    durable: bool = True,
) -> None:
    """Write ``text`` to ``path`` atomically; see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode(encoding), mode=mode, durable=durable)


def _create_temp(target: str, folder: str, mode: int) -> tuple[int, str]:
    """A new exclusive temp file beside ``target`` (``tempfile`` costs ms of import time).

    ``mode`` goes through the umask, as for any new file: no need to read the umask, which
    only ``os.umask`` (thread-unsafe: it sets it) or /proc can tell.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for attempt in range(100):
        name = (
            f".{os.path.basename(target)}.{os.getpid()}.{time.monotonic_ns() % 10**9}.{attempt}.tmp"
        )
        tmp = os.path.join(folder, name)
        try:
            return os.open(tmp, flags, mode), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temp file beside {target}")


def _fsync_dir(folder: str) -> None:
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
