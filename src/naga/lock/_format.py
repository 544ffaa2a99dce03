"""The run.lock file: its name, its format version, and reading one back."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from naga._errors import LockError
from naga._paths import LOCK_NAME, NAGA_DIR
from naga._yaml import YAMLError, load_yaml, yaml_problem

__all__ = ["LOCK_NAME", "LOCK_VERSION", "compact", "expand", "find_lock", "load_lock"]

#: Written as the top-level ``lock_version`` key. Readers refuse a newer version with a clear
#: message; additive changes (new keys) do not bump it. Version 2 records what the run used
#: (files, imported distributions), its outputs, and relative paths; version 1 still loads.
LOCK_VERSION = 2
#: In an embedded previous stage: the environment keys left out because the run's own are equal.
SAME_AS_RUN = "same_as_run"
#: Inside ``.naga/``: the parsed run.lock, for fast reading (see :func:`write_twin`).
TWIN_NAME = "lock.json"


def compact(prev: dict[str, Any], environment: dict[str, Any]) -> dict[str, Any]:
    """An embedded previous stage without what the run itself records (its environment keys
    equal to the run's), at every depth: run.lock grows with information, not with depth."""
    out = dict(prev)
    env = out.get("environment")
    if isinstance(env, dict):
        same = sorted(k for k, v in env.items() if k != SAME_AS_RUN and environment.get(k) == v)
        if same:
            out["environment"] = {
                **{k: v for k, v in env.items() if k not in same},
                SAME_AS_RUN: sorted({*same, *(env.get(SAME_AS_RUN) or [])}),
            }
    prevs = out.get("prevs")
    if isinstance(prevs, dict):
        out["prevs"] = {
            k: compact(v, environment) if isinstance(v, dict) else v for k, v in prevs.items()
        }
    return out


def expand(lock: dict[str, Any], environment: dict[str, Any] | None = None) -> dict[str, Any]:
    """The inverse of :func:`compact`: every embedded stage with its whole environment again."""
    top = environment if environment is not None else (lock.get("environment") or {})
    if not isinstance(top, dict):
        return lock
    out = dict(lock)
    env = out.get("environment")
    if environment is not None and isinstance(env, dict) and isinstance(env.get(SAME_AS_RUN), list):
        restored = {k: top.get(k) for k in env[SAME_AS_RUN] if isinstance(k, str) and k in top}
        out["environment"] = {
            **restored,
            **{k: v for k, v in env.items() if k != SAME_AS_RUN},
        }
    prevs = out.get("prevs")
    if isinstance(prevs, dict):
        out["prevs"] = {k: expand(v, top) if isinstance(v, dict) else v for k, v in prevs.items()}
    return out


def find_lock(path: str | os.PathLike[str]) -> Path:
    """Return the run.lock that ``path`` names: a run directory, a run.lock, or a file in a run dir.

    Raises:
        LockError: ``path`` does not exist, or no run.lock is there.
    """
    given = Path(path)
    if "\0" in os.fspath(path):
        raise LockError(
            f"{os.fspath(path)!r} holds a NUL character, which no path can: pass a run "
            f"directory or its run.lock.",
            path=os.fspath(path).replace("\0", "\\0"),
        )
    if not given.exists():
        raise LockError(
            f"{os.fspath(path)!r} does not exist: pass a run directory or its run.lock."
        )
    if given.is_dir():
        candidate = given / LOCK_NAME
    elif given.name == LOCK_NAME:
        candidate = given
    else:
        candidate = given.parent / LOCK_NAME
    if not candidate.is_file():
        raise LockError(
            f"no {LOCK_NAME} in {os.fspath(candidate.parent)!r}: run that stage first "
            f"(it writes {LOCK_NAME} with naga.runlock), or pass the directory that holds it."
        )
    return candidate


def write_twin(lock_file: Path, text: str, lock: dict[str, Any]) -> None:
    """Keep the parsed lock beside run.lock (``.naga/lock.json``), keyed by a hash of its text.

    Reading JSON is some 50 times faster than YAML: judging thousands of sweep tasks reads their
    receipts from here. It is a cache: a missing, partial or outdated twin (the run.lock edited
    by hand) is ignored, so it is written without fsync.
    """
    import json

    import xxhash

    twin = lock_file.parent / NAGA_DIR / TWIN_NAME
    try:
        twin.parent.mkdir(parents=True, exist_ok=True)
        tmp = twin.with_name(f".{TWIN_NAME}.{os.getpid()}.tmp")
        source = xxhash.xxh3_128_hexdigest(text.encode("utf-8"))
        tmp.write_text(json.dumps({"source": source, "lock": lock}), encoding="utf-8")
        os.replace(tmp, twin)
    except (OSError, TypeError, ValueError):
        pass  # a cache: a run.lock without its twin reads as YAML


def _parsed_twin(lock_file: Path, text: str) -> dict[str, Any] | None:
    import json

    try:
        with open(lock_file.parent / NAGA_DIR / TWIN_NAME, encoding="utf-8") as handle:
            twin = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(twin, dict) or not isinstance(twin.get("lock"), dict):
        return None
    import xxhash

    if twin.get("source") != xxhash.xxh3_128_hexdigest(text.encode("utf-8")):
        return None
    data: dict[str, Any] = twin["lock"]
    return data


def load_lock(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a run.lock back as plain data.

    Args:
        path: A run directory, its run.lock, or any file inside the run directory.

    Returns:
        The lock as a dict, exactly as written by :func:`naga.runlock`.

    Raises:
        LockError: The lock is missing, not valid YAML, not a naga run.lock, or written by a newer
            naga (a ``lock_version`` above this reader's).

    Example:
        >>> lock = load_lock("results/process")  # doctest: +SKIP
        >>> lock["config"]["param"]  # doctest: +SKIP
        10
    """
    lock_file = find_lock(path)
    try:
        text = lock_file.read_text(encoding="utf-8")
        data = _parsed_twin(lock_file, text)
        if data is None:
            data = load_yaml(text)
    except YAMLError as exc:
        where, problem = yaml_problem(exc)
        raise LockError(
            f"{os.fspath(lock_file)!r}{where} is not valid YAML ({problem}): "
            f"restore it from version control or rerun the stage to write it again."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise LockError(f"cannot read {os.fspath(lock_file)!r}: {exc}.") from exc
    if not isinstance(data, dict) or "lock_version" not in data:
        raise LockError(
            f"{os.fspath(lock_file)!r} is not a naga run.lock (no 'lock_version' key): "
            f"pass a file written by naga.runlock."
        )
    version = data["lock_version"]
    if not isinstance(version, int) or version < 1:
        raise LockError(
            f"{os.fspath(lock_file)!r} has an invalid lock_version {version!r}: expected a "
            f"positive integer; rerun the stage to write it again."
        )
    if version > LOCK_VERSION:
        raise LockError(
            f"{os.fspath(lock_file)!r} has lock_version {version}, newer than this naga reads "
            f"({LOCK_VERSION}): upgrade naga (the naga-runs distribution)."
        )
    return expand(data)
