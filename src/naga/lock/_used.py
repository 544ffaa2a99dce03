"""What a run actually used: the files of a repository it imported or read, and the installed
distributions it imported.

A used file is recorded with its git blob id (what ``git hash-object`` gives for it), computed
here from the file's bytes: comparing it with today's file, or with any commit's tree, costs no
git call, so checking a receipt never runs git in the repository it names.
"""

from __future__ import annotations

import glob
import hashlib
import inspect
import os
import sys
from typing import Any

from naga._errors import DISTRIBUTION

__all__ = ["blob_id", "code_digest", "code_digests", "imported_distributions", "used_files"]

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


def code_digest(path: str | os.PathLike[str]) -> str | None:
    """What a Python file does, without its comments and layout: a hash of its syntax tree.

    Two versions of a file with the same digest differ only in comments, blank lines, line
    breaks, quotes or indentation inside docstrings (what ``ruff format`` and ``black`` change):
    they run the same. None when the file cannot be read or parsed. The tree comes from this
    Python's ``ast``: compare digests made by the same major.minor only.
    """
    import ast

    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read())
    except (OSError, ValueError, SyntaxError, RecursionError, MemoryError):
        return None
    scopes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):  # docstrings as ``inspect.cleandoc`` shows them
        first = node.body[0] if isinstance(node, scopes) and node.body else None
        value = first.value if isinstance(first, ast.Expr) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            value.value = inspect.cleandoc(value.value)
    import xxhash

    dumped = ast.dump(tree, annotate_fields=False, include_attributes=False)
    return f"ast:{xxhash.xxh3_128_hexdigest(dumped.encode('utf-8', 'surrogatepass'))}"


def code_digests(root: str, used: dict[str, str]) -> dict[str, str]:
    """``{path: code_digest}`` of the ``.py`` files among ``used`` (paths relative to ``root``)."""
    digests = {}
    for rel in used:
        if rel.endswith(".py"):
            digest = code_digest(os.path.join(root, rel))
            if digest is not None:
                digests[rel] = digest
    return digests


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


def imported_distributions(
    packages: dict[str, str],
    extra_code: list[str] = (),  # type: ignore[assignment]
) -> dict[str, str]:
    """``{distribution: version}`` of the installed distributions the process imported.

    naga's own requirements (PyYAML, xxhash, ...) are loaded by naga itself: each counts only
    when the run's own code imports it, or another imported distribution requires it. Without
    that, upgrading PyYAML would make every run stale while no run used it. When the run's code
    cannot be read (an interactive session has no script), they count.

    Args:
        packages: ``{normalised name: version}`` of every installed distribution (from
            :func:`naga.lock.installed_packages`); its fingerprint keys the cached index of
            top-level module names and requirements, which is slow to build (every
            distribution's metadata) and changes only when packages change.
        extra_code: More files of the run's own code (the calling script).
    """
    index = _index(packages)
    mapping: dict[str, list[str]] = index["top_level"]
    found: dict[str, str] = {}
    names: dict[str, set[str]] = {}  # distribution -> its top-level modules the run imported
    for name in list(sys.modules):
        # Private top-level modules are imported at start-up by .pth files (setuptools'
        # _distutils_hack): not the run's doing.
        if "." in name or name.startswith("_"):
            continue
        for dist in mapping.get(name, ()):
            key = _normalise(dist)
            if key in packages and key not in index["own"]:
                found[key] = packages[key]
                names.setdefault(key, set()).add(name)
    required_by: dict[str, list[str]] = index["required_by"]
    naga_only = [
        key for key in found if key in required_by and not any(d in found for d in required_by[key])
    ]
    if naga_only:
        used = _imported_by_code([m for k in naga_only for m in names[k]], extra_code)
        for key in naga_only:
            if used is not None and not names[key] & used:
                del found[key]
    return dict(sorted(found.items()))


def _imported_by_code(modules: list[str], extra: list[str]) -> set[str] | None:
    """Which of the top-level ``modules`` the run's own code imports, by its import lines.

    The run's code: the modules loaded from outside installed code, naga and Python's own
    library (the script, its helpers, an editable project), and ``extra``. None when there is
    no such file to read: an interactive session.
    """
    import re

    naga_dir = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep
    prefixes = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix}
    installed = tuple(
        {p + os.sep for p in prefixes} | {os.path.realpath(p) + os.sep for p in prefixes}
    )
    files = set()
    for file in {*_module_files(), *extra}:
        # Cheap tests first, on the path as imported: most modules are installed code.
        if file.startswith(installed) or any(
            f"{os.sep}{part}{os.sep}" in file for part in _INSTALLED
        ):
            continue
        real = os.path.realpath(file)
        if not real.startswith(installed) and not real.startswith(naga_dir):
            files.add(real)
    if not files:
        return None
    alternatives = "|".join(re.escape(m) for m in sorted(set(modules)))
    pattern = re.compile(
        rf"^[ \t]*(?:from[ \t]+({alternatives})\b|import[ \t]+[^\n#;]*?\b({alternatives})\b)",
        re.MULTILINE,
    )
    used: set[str] = set()
    for file in files:
        try:
            with open(file, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            return None  # a file of the run's code cannot be read: count them all
        used.update(a or b for a, b in pattern.findall(text))
    return used


def _normalise(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _index(packages: dict[str, str]) -> dict[str, Any]:
    """``{"top_level": {module: [distributions]}, "own": [naga's distributions],
    "required_by": {requirement of naga: [other distributions that require it]}}``, cached per
    environment (a JSON file in naga's cache keyed by the interpreter, ``sys.path`` and the
    installed versions).

    naga's distribution is the one that provides the ``naga`` module, whatever its name.
    """
    import json

    import xxhash

    from naga._atomic import atomic_write_text
    from naga._paths import cache_dir

    key = xxhash.xxh3_64_hexdigest(
        json.dumps(["index-2", sys.executable, sys.path, packages], sort_keys=True).encode()
    )
    file = os.path.join(cache_dir(), "dists", f"{key}.json")
    try:
        with open(file, encoding="utf-8") as handle:
            cached: Any = json.load(handle)
        if (
            isinstance(cached, dict)
            and isinstance(cached.get("top_level"), dict)
            and isinstance(cached.get("own"), list)
            and isinstance(cached.get("required_by"), dict)
        ):
            return cached
    except (OSError, ValueError):
        pass
    import importlib.metadata

    top_level = {k: sorted(set(v)) for k, v in importlib.metadata.packages_distributions().items()}
    # the published name, or whatever distribution provides ``naga`` (an editable install's
    # files are a .pth: only its name tells)
    own = sorted(
        {_normalise(DISTRIBUTION), *(_normalise(name) for name in top_level.get("naga", []))}
    )
    dists = [(_normalise(d.metadata["Name"] or ""), d) for d in importlib.metadata.distributions()]
    # naga's requirements (not its extras'), unless naga runs from a source tree without any
    required_by: dict[str, list[str]] = {
        requirement: []
        for name, dist in dists
        if name in own
        for requirement in _requirements(dist, extras=False)
    }
    for name, dist in dists:
        for requirement in _requirements(dist, extras=True) if name not in own else ():
            if requirement in required_by and name not in required_by[requirement]:
                required_by[requirement].append(name)
    index = {"top_level": top_level, "own": own, "required_by": required_by}
    try:
        atomic_write_text(file, json.dumps(index))
    except OSError:
        pass  # an unwritable cache costs time, not correctness
    return index


def _requirements(dist: Any, *, extras: bool) -> list[str]:
    """The normalised names ``dist`` requires; with ``extras``, those of its extras too."""
    import re

    names = []
    for line in dist.requires or []:
        if not extras and re.search(r"\bextra\s*==", line):
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if match:
            names.append(_normalise(match.group(1)))
    return names
