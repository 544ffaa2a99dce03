"""Config files: YAML, TOML and JSON; named experiments with ``defaults:``; ``${...}`` references."""

from __future__ import annotations

import os
import re
from pathlib import Path

from naga._errors import ConfigError, did_you_mean

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = ["interpolate", "load_config_file", "select_experiment"]

_REF = re.compile(r"\\?\$\{([^{}]+)\}")


def load_config_file(path: str) -> dict[str, Any]:
    """Read a YAML (default), TOML or JSON file as a mapping.

    A naga ``run.lock`` (a mapping with ``lock_version``) yields its ``config`` entry, so
    ``--config results/run/run.lock`` replays a run.

    Raises:
        ConfigError: The file is missing, unreadable, malformed (with its line) or not a mapping.
    """
    file = Path(path)
    if not file.is_file():
        where = "is a directory" if file.is_dir() else "does not exist"
        raise ConfigError(f"config file '{path}' {where}: check the path given to --config.")
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc}.") from exc
    data = _parse(text, path, file.suffix.lower())
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file '{path}' holds a {type(data).__name__}, not a mapping of keys to "
            f"values: write it as `key: value` lines."
        )
    if "lock_version" in data and isinstance(data.get("config"), dict):
        return data["config"]
    return data


def _parse(text: str, path: str, suffix: str) -> Any:
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file '{path}' is not valid TOML: {exc}.") from exc
    if suffix == ".json":
        import json

        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"config file '{path}' line {exc.lineno} is not valid JSON: {exc.msg}."
            ) from exc
    from naga._yaml import YAMLError, load_yaml, yaml_problem

    try:
        return load_yaml(text)
    except YAMLError as exc:
        line, problem = yaml_problem(exc)
        raise ConfigError(
            f"config file '{path}'{line} is not valid YAML: {problem}. Fix that line."
        ) from exc


def select_experiment(doc: dict[str, Any], name: str, path: str) -> dict[str, Any]:
    """Return experiment ``name`` of a multi-experiment file, defaults merged and references
    resolved against the whole file.

    Top-level entries are experiments (a dotted name selects a nested one). A top-level
    ``defaults:`` list names entries merged under every experiment; an entry's own ``defaults:``
    list inherits from other entries, in order, the entry's own keys winning.
    """
    global_defaults = _defaults_list(doc.get("defaults"), path, "the top-level defaults")
    names = [str(k) for k in doc if k != "defaults" and isinstance(doc[k], dict)]
    cache: dict[str, dict[str, Any]] = {}

    def expand(entry: str, chain: tuple[str, ...]) -> dict[str, Any]:
        if entry in chain:
            cycle = " -> ".join((*chain[chain.index(entry) :], entry))
            raise ConfigError(
                f"config file '{path}': defaults form a cycle ({cycle}): remove one link."
            )
        if entry in cache:
            return cache[entry]
        node = _lookup(doc, entry)
        if not isinstance(node, dict):
            choices = ", ".join(names) or "none"
            raise ConfigError(
                f"config file '{path}' has no experiment '{entry}'.{did_you_mean(entry, names)} "
                f"Available: {choices}."
            )
        merged: dict[str, Any] = {}
        parents = [d for d in global_defaults if d not in (*chain, entry)] if not chain else []
        parents += _defaults_list(node.get("defaults"), path, f"'{entry}'")
        for parent in parents:
            _deep_merge(merged, expand(parent, (*chain, entry)))
        _deep_merge(merged, {k: v for k, v in node.items() if k != "defaults"})
        cache[entry] = merged
        return merged

    if not isinstance(_lookup(doc, name), dict) or name == "defaults":
        choices = ", ".join(names) or "none"
        raise ConfigError(
            f"config file '{path}' has no experiment '{name}'.{did_you_mean(name, names)} "
            f"Available: {choices}."
        )
    view = {k: v for k, v in doc.items() if k != "defaults"}
    view.update({entry: expand(entry, ()) for entry in names})
    selected = expand(name, ())
    return interpolate(selected, root=view, path=path, local=selected)


def _defaults_list(value: Any, path: str, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(
        f"config file '{path}': {what} must be a list of experiment names, got {value!r}."
    )


_MISSING = object()


def _lookup(doc: Any, dotted: str, missing: Any = None) -> Any:
    """The value at a dotted key of nested dicts, or ``missing`` when there is none."""
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return missing
        node = node[part]
    return node


def _deep_merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            import copy

            into[key] = copy.deepcopy(value)


def interpolate(
    data: Any, *, root: dict[str, Any], path: str, local: dict[str, Any] | None = None
) -> Any:
    """Resolve ``${a.b}`` (a key of ``root``), ``${env:VAR}`` and ``${oc.env:VAR,default}``.

    A key is looked up in ``root`` (the whole file), then in ``local`` (the selected experiment).
    A string that is one reference takes the referenced value with its type; references inside
    a longer string are formatted in. ``\\${...}`` stays literal.
    """

    def resolve(value: Any, where: str, depth: int) -> Any:
        if isinstance(value, dict):
            return {
                k: resolve(v, f"{where}.{k}" if where else str(k), depth) for k, v in value.items()
            }
        if isinstance(value, list):
            return [resolve(v, where, depth) for v in value]
        if not isinstance(value, str) or "${" not in value:
            return value
        if depth > 32:
            raise ConfigError(
                f"config file '{path}': references at '{where}' form a cycle: break it."
            )
        whole = _REF.fullmatch(value)
        if whole and not value.startswith("\\"):
            return resolve(_target(whole.group(1), where), where, depth + 1)

        def sub(match: re.Match[str]) -> str:
            if match.group(0).startswith("\\"):
                return match.group(0)[1:]
            found = resolve(_target(match.group(1), where), where, depth + 1)
            return str(found)

        return _REF.sub(sub, value)

    def _target(expr: str, where: str) -> Any:
        expr = expr.strip()
        for prefix in ("oc.env:", "env:"):
            if expr.startswith(prefix):
                var, _, default = expr[len(prefix) :].partition(",")
                value = os.environ.get(var.strip())
                if value is not None:
                    return value
                if default:
                    return default.strip()
                raise ConfigError(
                    f"config file '{path}': '{where}' needs the environment variable "
                    f"{var.strip()}, which is not set: export it or give a default "
                    f"(${{oc.env:{var.strip()},default}})."
                )
        for scope in (root, local):
            found = _lookup(scope, expr, _MISSING)
            if found is not _MISSING:
                return found
        raise ConfigError(
            f"config file '{path}': '{where}' refers to ${{{expr}}}, which points nowhere: "
            f"no key '{expr}' in the file."
        )

    return resolve(data, "", 0)
