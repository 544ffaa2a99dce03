"""Planning a sweep, before anything runs: each task's resolved config, folder name and key.

Pure functions of the tasks, the base config and the previous tasks.yaml, tested with tables.

A task's label (its folder and log name) is ``key=value`` from the task (then the ``--sweep``
values, keys sorted: ``param=1,lr=0.1``), with characters that are unsafe in file names replaced
by ``_``, cut at 80 characters (then followed by a hash of
the config). It depends on the task alone, except when two tasks would share it:

- a task tasks.yaml already holds keeps the label it has there, whatever tasks are added;
- among new tasks that want the same label, the one whose text is the label itself (``a_b``,
  not ``a/b``) gets it, and the others get ``<label>-<hash of the config>``.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

from naga._errors import TaskError
from naga._paths import NAGA_DIR, SWEEPS_DIR
from naga._plain import bare_key, to_plain, within
from naga.launch._sources import TaskValue

__all__ = [
    "PlannedTask",
    "config_key",
    "place_tasks",
    "resolve_tasks",
    "sweep_dir_of",
    "task_config",
    "task_labels",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+@-]+")
_MAX_LABEL = 80


@dataclass(frozen=True)
class PlannedTask:
    """A task ready to run: where it came from, its config (own save_dir set), label and key,
    and its own Slurm options (``_slurm``), if any."""

    origin: str
    config: dict[str, Any]
    label: str
    key: str
    resources: dict[str, Any] | None = None
    #: Where its config came from (``naga._provenance``): the sweep's config files, and the
    #: keys the task sets itself, which its files no longer give it.
    provenance: dict[str, Any] | None = None


def resolve_tasks(
    spec: Any, base: dict[str, Any], values: Sequence[TaskValue], task_to: str | None
) -> list[tuple[TaskValue, dict[str, Any]]]:
    """Each task with its resolved config, in order; the same resolved config twice is one task.

    Raises:
        TaskError: A task does not fit the config (unknown ``--task_to`` key, a single value
            without ``--task_to``); ``ConfigError`` for a value of the wrong type.
    """
    resolved = []
    seen: set[str] = set()
    for value in values:
        config = task_config(spec, base, value, task_to)
        key = config_key(config)
        if key not in seen:
            seen.add(key)
            resolved.append((value, config))
    return resolved


def place_tasks(
    resolved: Sequence[tuple[TaskValue, dict[str, Any]]],
    base: dict[str, Any],
    task_to: str | None,
    previous: Mapping[str, Mapping[str, Any]],
    provenance: dict[str, Any] | None = None,
) -> list[PlannedTask]:
    """Give every task a label and, when ``base`` has a ``save_dir``, its own ``save_dir``
    under it (``<save_dir>/<label>``); a task of ``previous`` keeps its label. Each config is
    plain data (:func:`naga._plain.to_plain`), as its config.json will hold it.

    Args:
        resolved: The tasks and their configs (:func:`resolve_tasks`).
        base: The resolved config the tasks start from.
        task_to: The key a task value goes to; None when dict tasks merge at the root.
        previous: An earlier tasks.yaml's entries by key (:func:`naga.launch._state.load_state`).
        provenance: Where ``base`` came from (its config files), None when not known.
    """
    parent = str(base["save_dir"]) if base.get("save_dir") else None

    def placed(index: int, label: str) -> dict[str, Any]:
        # Plain data (enums their values, paths strings), as config.json holds it: a worker
        # unpickles it where the user's script is not __main__, so an object of a class the
        # script defines (an enum default) could not be read there.
        config: dict[str, Any] = to_plain(resolved[index][1])
        return config if parent is None else {**config, "save_dir": os.path.join(parent, label)}

    def recorded(index: int, label: str) -> bool:
        entry = previous.get(config_key(placed(index, label)))
        return entry is not None and entry.get("label") == label

    labels = task_labels(
        [_raw_label(value.value, task_to, value.grid) for value, _ in resolved],
        [config_key(config)[:8] for _, config in resolved],
        recorded,
    )
    planned = []
    for index, ((value, _), label) in enumerate(zip(resolved, labels, strict=True)):
        config = placed(index, label)
        own = _task_provenance(provenance, value, task_to, has_save_dir=parent is not None)
        planned.append(
            PlannedTask(value.origin, config, label, config_key(config), value.resources, own)
        )
    return planned


def _task_provenance(
    provenance: dict[str, Any] | None, value: TaskValue, task_to: str | None, has_save_dir: bool
) -> dict[str, Any] | None:
    """The sweep's provenance for one task: the keys the task sets (``task_keys``) win over
    its config files, so they leave the values the files gave it (``taken``)."""
    if provenance is None:
        return None
    keys = [task_to] if task_to is not None else []
    if isinstance(value.value, dict) and task_to is None:
        keys += [str(k) for k in value.value]
    keys += [str(k) for k in value.grid or {}]
    keys += ["save_dir"] if has_save_dir else []
    keys = [bare_key(k) for k in dict.fromkeys(keys)]
    own = {**provenance, "task_keys": keys}
    if isinstance(provenance.get("taken"), dict):
        own["taken"] = {k: v for k, v in provenance["taken"].items() if not within(k, keys)}
    return own


def task_config(
    spec: Any, base: dict[str, Any], task: TaskValue, task_to: str | None
) -> dict[str, Any]:
    """``base`` with ``task``'s value at ``task_to`` (or its dict merged at the root), then its
    ``--sweep`` point."""
    config = copy.deepcopy(base)
    apply = spec.apply_text if task.text else spec.apply
    if task.grid is not None:
        _check_grid(task, task_to)
        if task_to is None and not task.value:  # the grid alone
            for key, text in task.grid.items():
                spec.apply_text(config, key, text, origin=f"--sweep {key}={text}")
            return config
    if task_to is not None:
        if not spec.has(task_to):
            raise TaskError(
                spec.unknown_key_message(task_to, f"--task_to {task_to}", can_add=False),
                key=task_to,
            )
        if task.text and isinstance(task.value, dict):
            raise TaskError(
                f"{task.origin}: a table row cannot go to --task_to {task_to}: drop --task_to to "
                f"merge its columns.",
                key=task_to,
            )
        apply(config, task_to, task.value, origin=task.origin)
    elif isinstance(task.value, dict):
        for key, value in task.value.items():
            apply(config, str(key), value, origin=task.origin)
    else:
        raise TaskError(
            f"{task.origin}: the task {task.value!r} is a single value: say which config key it "
            f"sets with --task_to KEY (for example --task_to param).",
            value=task.value,
        )
    for key, text in (task.grid or {}).items():
        spec.apply_text(config, key, text, origin=f"--sweep {key}={text}")
    return config


def _check_grid(task: TaskValue, task_to: str | None) -> None:
    """A ``--sweep`` key may not also be set by the task itself: which would win is unclear."""
    own = {task_to} if task_to is not None else set()
    if isinstance(task.value, dict) and task_to is None:
        own = {str(k).lstrip("+") for k in task.value}
    for key in task.grid or {}:
        if key.lstrip("+") in own:
            raise TaskError(
                f"{task.origin}: '{key.lstrip('+')}' is set both by the task and by --sweep: "
                f"drop it from one of them.",
                key=key.lstrip("+"),
            )


def task_labels(
    raw: Sequence[str],
    digests: Sequence[str],
    recorded: Callable[[int, str], bool] | None = None,
) -> list[str]:
    """Each task's folder name, unique within the sweep and stable across reruns.

    Args:
        raw: Each task's ``key=value`` text.
        digests: A short hash of each task's config, the suffix that separates tasks.
        recorded: ``recorded(index, label)`` is True when the previous tasks.yaml holds task
            ``index`` under ``label``; None when there is no previous tasks.yaml.

    Example:
        >>> task_labels(["name=a/b", "name=a_b", "name=c d"], ["1111", "2222", "3333"])
        ['name=a_b-1111', 'name=a_b', 'name=c_d']
        >>> task_labels(["name=a/b", "name=a_b"], ["1111", "2222"], lambda i, label: i == 0)
        ['name=a_b', 'name=a_b-2222']
    """
    natural = [_safe(text, digest) for text, digest in zip(raw, digests, strict=True)]
    suffixed = [
        label if len(label) > _MAX_LABEL else f"{label}-{digest}"
        for label, digest in zip(natural, digests, strict=True)
    ]
    labels: list[str | None] = [None] * len(raw)
    for index in range(len(raw)):
        for label in (natural[index], suffixed[index]):
            if recorded is not None and recorded(index, label):
                labels[index] = label
                break
    kept = {label for label in labels if label is not None}
    new = [index for index, label in enumerate(labels) if label is None]
    wanted = Counter(natural[index] for index in new)
    exact = Counter(natural[index] for index in new if raw[index] == natural[index])
    # Another task's suffixed label is taken: a task whose own text is `<label>-<hash>` of
    # another task must not get the folder that other task may need.
    with_suffix = Counter(suffixed)
    for index in new:
        label = natural[index]
        alone = wanted[label] == 1 or (exact[label] == 1 and raw[index] == label)
        others = with_suffix[label] - (suffixed[index] == label)
        free = label not in kept and others == 0
        labels[index] = label if alone and free else suffixed[index]
    return _distinct([label for label in labels if label is not None], new)


def _distinct(labels: list[str], new: Sequence[int]) -> list[str]:
    """``labels`` with any repeat (a digest's collision, an older tasks.yaml that already held
    one folder twice) made unique by a counter: recorded tasks keep theirs first."""
    fresh = set(new)
    order = [i for i in range(len(labels)) if i not in fresh] + list(new)
    used: set[str] = set()
    for index in order:
        label, count = labels[index], 1
        while label in used:
            count += 1
            label = f"{labels[index]}-{count}"
        used.add(label)
        labels[index] = label
    return labels


def _raw_label(value: Any, task_to: str | None, grid: dict[str, str] | None = None) -> str:
    if task_to is not None:
        parts = [f"{task_to.rsplit('.', 1)[-1]}={_text(value)}"]
    else:
        parts = [f"{k}={_text(v)}" for k, v in value.items()]
    parts += [f"{k.lstrip('+')}={v}" for k, v in sorted((grid or {}).items())]
    return ",".join(parts)


def _safe(text: str, digest: str) -> str:
    label = _UNSAFE.sub("_", text).strip("._") or "task"
    if len(label) > _MAX_LABEL:
        label = f"{label[:_MAX_LABEL]}-{digest}"
    return label


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(to_plain(value), separators=(",", ":"))


def config_key(config: dict[str, Any]) -> str:
    """A task's identity across reruns: a hash of its resolved config."""
    return xxhash.xxh3_64_hexdigest(json.dumps(to_plain(config), sort_keys=True).encode())


def sweep_dir_of(base: dict[str, Any], configs: Sequence[dict[str, Any]]) -> Path:
    """The sweep's folder: the config's ``save_dir``, else ``.naga/sweeps/<hash of the tasks>``."""
    if base.get("save_dir"):
        return Path(str(base["save_dir"]))
    digest = xxhash.xxh3_64_hexdigest(
        json.dumps([to_plain(c) for c in configs], sort_keys=True).encode()
    )
    return Path(NAGA_DIR, SWEEPS_DIR, digest[:12])
