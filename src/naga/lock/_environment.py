"""The software environment: Python, platform, installed distributions, environment lock files."""

from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

__all__ = ["LOCK_FILE_PATTERNS", "environment_state", "installed_packages"]

#: Environment lock files hashed when found at the root of a tracked repository.
LOCK_FILE_PATTERNS = (
    "pixi.lock",
    "uv.lock",
    "poetry.lock",
    "Pipfile.lock",
    "requirements*.txt",
    "environment.yml",
    "environment.yaml",
    "conda-lock.yml",
)
_NORMALISE = re.compile(r"[-_.]+")


def installed_packages(path: list[str] | None = None) -> dict[str, str]:
    """``{name: version}`` of the distributions importable from ``path`` (default ``sys.path``).

    Reads the ``*.dist-info`` / ``*.egg-info`` folder names rather than every METADATA file:
    on a large site-packages this is several times faster than ``importlib.metadata``. Names are
    normalised as in PEP 503; the first distribution of a name on the path wins, as for imports.
    """
    found: dict[str, str] = {}
    for folder in path if path is not None else sys.path:
        try:
            entries = os.scandir(folder or ".")
        except OSError:
            continue
        with entries:
            for entry in entries:
                parsed = _parse_dist_folder(entry.name, entry.path)
                if parsed and parsed[0] not in found:
                    found[parsed[0]] = parsed[1]
    return dict(sorted(found.items()))


def _parse_dist_folder(name: str, full: str) -> tuple[str, str] | None:
    if name.endswith(".dist-info"):
        stem = name[: -len(".dist-info")]
    elif name.endswith(".egg-info"):
        stem = name[: -len(".egg-info")]
    else:
        return None
    dist, _, version = stem.partition("-")
    version = version.split("-py", 1)[0]
    if not version:
        version = _version_from_metadata(full) or "unknown"
    return _NORMALISE.sub("-", dist).lower(), version


def _version_from_metadata(full: str) -> str | None:
    for candidate in ("METADATA", "PKG-INFO"):
        file = os.path.join(full, candidate) if os.path.isdir(full) else full
        try:
            with open(file, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip()
                    if not line.strip():
                        break
        except OSError:
            continue
    return None


def environment_state(repo_roots: list[str] | None = None) -> dict[str, Any]:
    """The ``environment`` entry of a run.lock.

    Args:
        repo_roots: Repository roots searched for environment lock files.

    Returns:
        ``{python, implementation, platform, packages, lock_files}``; ``lock_files`` maps each
        lock file's absolute path to its ``xxh3-128:`` hash.
    """
    from naga.lock._hashing import ALGORITHM, hash_file

    lock_files: dict[str, str] = {}
    for root in repo_roots or []:
        for pattern in LOCK_FILE_PATTERNS:
            for file in sorted(Path(root).glob(pattern)):
                if file.is_file():
                    lock_files[str(file)] = f"{ALGORITHM}:{hash_file(file)}"
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "platform": platform.platform(),
        "packages": installed_packages(),
        "lock_files": lock_files,
        # Where the run's packages were found: `naga status` reads their metadata from here
        # (it never starts the run's interpreter).
        "sys_path": [p for p in sys.path if p and os.path.isdir(p)],
    }
