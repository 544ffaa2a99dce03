"""What a run actually used: the files of a repository it imported or read, and the installed
distributions it imported.

A used file is recorded with its git blob id (what ``git hash-object`` gives for it), computed
here from the file's bytes: comparing it with today's file, or with any commit's tree, costs no
git call, so checking a receipt never runs git in the repository it names.
"""

from __future__ import annotations

import glob
import hashlib
import os
import sys
from typing import Any

__all__ = ["blob_id", "imported_distributions", "used_files"]

#: Folders of installed code: a module under one of them is a distribution's, not the repo's.
_INSTALLED = ("site-packages", "dist-packages")


def blob_id(path: str | os.PathLike[str], object_format: str = "sha1") -> str | None:
    """The git blob id of a file's bytes; None when it cannot be read (missing, a folder).

    Example:
        >>> import tempfile
        >>> with tempfile.NamedTemporaryFile("wb", delete=False) as f:
        ...     _ = f.write(b"hello\\n")
        >>> blob_id(f.name)  # the same as `git hash-object`
        'ce013625030ba8dba906f756967f9e9ca394464a'
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (OSError, ValueError):  # ValueError: a NUL in a path from a receipt
        return None
    digest = hashlib.new(object_format if object_format in ("sha1", "sha256") else "sha1")
    digest.update(b"blob %d\0" % len(data))
    digest.update(data)
    return digest.hexdigest()


def _module_files() -> list[str]:
    files = []
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.endswith((".py", ".pyw")):
            files.append(file)
    return files


def used_files(
    root: str,
    *,
    extra: list[str] = (),  # type: ignore[assignment]
    code: list[str] | None = None,
    object_format: str = "sha1",
) -> dict[str, str]:
    """``{path relative to root: blob id}`` of the files of repo ``root`` that the run used.

    Args:
        root: The repository's root folder.
        extra: More files (the calling script, config files read); those outside ``root`` are
            ignored.
        code: Globs relative to ``root`` for files read at run time (templates, SQL, ...).
        object_format: The repository's object format (``sha1`` or ``sha256``).

    Every module in ``sys.modules`` whose file lies inside ``root``, except installed code
    (site-packages, a virtual environment inside the repository), counts as used.
    """
    real_root = os.path.realpath(root)
    prefixes = {os.path.realpath(p) + os.sep for p in {sys.prefix, sys.exec_prefix}}
    found: dict[str, str] = {}
    candidates = [*_module_files(), *extra]
    for pattern in code or []:
        candidates += sorted(glob.glob(os.path.join(real_root, pattern), recursive=True))
    for file in candidates:
        real = os.path.realpath(file)
        if not real.startswith(real_root + os.sep) or not os.path.isfile(real):
            continue
        if any(real.startswith(p) for p in prefixes if p != real_root + os.sep):
            continue
        rel = os.path.relpath(real, real_root).replace(os.sep, "/")
        if any(part in _INSTALLED for part in rel.split("/")) or rel in found:
            continue
        blob = blob_id(real, object_format)
        if blob is not None:
            found[rel] = blob
    return dict(sorted(found.items()))


def imported_distributions(packages: dict[str, str]) -> dict[str, str]:
    """``{distribution: version}`` of the installed distributions the process imported.

    Args:
        packages: ``{normalised name: version}`` of every installed distribution (from
            :func:`naga.lock.installed_packages`); its fingerprint keys the cached map from
            top-level module names to distributions, which is slow to build (every
            distribution's file list) and changes only when packages change.
    """
    mapping = _top_level_map(packages)
    own = {"naga-runs"}
    found: dict[str, str] = {}
    for name in list(sys.modules):
        # Private top-level modules are imported at start-up by .pth files (setuptools'
        # _distutils_hack): not the run's doing.
        if "." in name or name.startswith("_"):
            continue
        for dist in mapping.get(name, ()):
            key = _normalise(dist)
            if key in packages and key not in own:
                found[key] = packages[key]
    return dict(sorted(found.items()))


def _normalise(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _top_level_map(packages: dict[str, str]) -> dict[str, list[str]]:
    import json

    import xxhash

    from naga._atomic import atomic_write_text
    from naga._paths import cache_dir

    key = xxhash.xxh3_64_hexdigest(
        json.dumps([sys.executable, sys.path, packages], sort_keys=True).encode()
    )
    file = os.path.join(cache_dir(), "dists", f"{key}.json")
    try:
        with open(file, encoding="utf-8") as handle:
            cached: Any = json.load(handle)
        if isinstance(cached, dict):
            return cached
    except (OSError, ValueError):
        pass
    import importlib.metadata

    mapping = {k: sorted(set(v)) for k, v in importlib.metadata.packages_distributions().items()}
    try:
        atomic_write_text(file, json.dumps(mapping))
    except OSError:
        pass  # an unwritable cache costs time, not correctness
    return mapping
