"""Config files: YAML, TOML and JSON; named experiments with ``defaults:``; ``${...}`` references."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from naga._errors import ConfigError, did_you_mean
from naga._paths import CONFIG_NAME, LOCK_NAME, NAGA_DIR
from naga._userfiles import parse_json, parse_yaml, read_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = ["MAX_EXPANSION", "interpolate", "is_replay", "load_config_file", "select_experiment"]

_REF = re.compile(r"\\?\$\{([^{}]+)\}")


def load_config_file(path: str) -> dict[str, Any]:
    """Read a YAML (default), TOML or JSON file as a mapping.

    A naga ``run.lock`` (a mapping with ``lock_version``) yields its ``config`` entry, so
    ``--config results/run/run.lock`` replays a run. Anything that reads like a file works
    (``/dev/null``, ``<(...)``); TOML dates and times become ISO 8601 text, as YAML's do.

    Raises:
        ConfigError: The path is missing or a folder, the file is unreadable, malformed (with
            its line), refused (see :mod:`naga._yaml`) or not a mapping.
    """
    file = Path(path)
    text = read_text(
        path,
        ConfigError,
        what="config file",
        flag="--config",
        expected="a YAML, TOML or JSON file (or a run.lock)",
        file=file,
    )
    data = _parse(text, path, file.suffix.lower())
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file '{path}' holds a {type(data).__name__}, not a mapping of keys to "
            f"values: write it as `key: value` lines.",
            path=path,
        )
    if "lock_version" in data and isinstance(data.get("config"), dict):
        return data["config"]
    return data


def is_replay(path: str) -> bool:
    """A run's own record of its config (its run.lock, or the config.json in a run folder):
    replaying it accepts the keys that run added with ``+``, as they were then."""
    name = os.path.basename(path)
    if name == LOCK_NAME:
        return True
    folder = os.path.dirname(os.path.abspath(path))
    return name == CONFIG_NAME and (
        os.path.isdir(os.path.join(folder, NAGA_DIR))
        or os.path.isfile(os.path.join(folder, LOCK_NAME))
    )


def _parse(text: str, path: str, suffix: str) -> Any:
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib
        try:
            return _dates_as_text(tomllib.loads(text))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file '{path}' is not valid TOML: {exc}.", path=path) from exc
        except ValueError as exc:  # an int of more than 4300 digits
            problem = str(exc).split(";")[0]
            raise ConfigError(
                f"config file '{path}' is not valid TOML: {problem}.", path=path
            ) from exc
    if suffix == ".json":
        return parse_json(text, path, ConfigError, what="config file")
    return parse_yaml(text, path, ConfigError, what="config file")


def _dates_as_text(value: Any) -> Any:
    """TOML's dates, times and date-times as ISO 8601 text (configs are saved as JSON)."""
    if isinstance(value, dict):
        return {k: _dates_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_as_text(v) for v in value]
    if hasattr(value, "isoformat") and type(value).__module__ == "datetime":
        return value.isoformat()
    return value


def select_experiment(
    doc: dict[str, Any],
    name: str,
    path: str,
    known: Callable[[str], bool] | None = None,
    *,
    literal_env: bool = False,
) -> dict[str, Any]:
    """Return experiment ``name`` of a multi-experiment file, defaults merged and references
    resolved against the whole file.

    Top-level entries are experiments (a dotted name selects a nested one). A top-level
    ``defaults:`` list names entries merged under every experiment; an entry's own ``defaults:``
    list inherits from other entries, in order, the entry's own keys winning.

    Only what ``name`` uses is expanded: a broken entry elsewhere in the file (a parent that
    does not exist, a cycle) is an error only for the experiments that use it.

    Args:
        doc: The whole file.
        name: The experiment to select.
        path: The file, for messages.
        known: Whether a dotted key is a key of the config. When given, keys that only the
            top-level ``defaults:`` supply and that the config does not have are left out: the
            top-level defaults supply defaults, they never add keys an experiment did not ask
            for (a file may hold the experiments of several scripts).
        literal_env: See :func:`interpolate`.
    """
    # YAML keys that are not text (``1:``, ``true:``) are named as text, as they are listed.
    doc = {k if isinstance(k, str) else str(k): v for k, v in doc.items()}
    experiments = _Experiments(doc, path)
    if name == "defaults" or not isinstance(_lookup(doc, name), dict):
        raise experiments.unknown(name)
    selected = experiments.full(name, known)
    return interpolate(
        selected, root=experiments, path=path, local=selected, literal_env=literal_env
    )


class _Experiments(Mapping[str, Any]):
    """The entries of a file of experiments, each expanded (defaults merged) when first read.

    A read-only mapping, so that ``${entry.key}`` references see merged entries while an entry
    that nothing uses is never expanded.
    """

    def __init__(self, doc: dict[str, Any], path: str) -> None:
        self.doc = doc
        self.path = path
        self.names = [str(k) for k in doc if k != "defaults" and isinstance(doc[k], dict)]
        self.global_defaults = _defaults_list(doc.get("defaults"), path, "the top-level defaults")
        self._own: dict[str, dict[str, Any]] = {}
        self._full: dict[str, dict[str, Any]] = {}

    def __getitem__(self, key: str) -> Any:
        if key == "defaults" or key not in self.doc:
            raise KeyError(key)
        if not isinstance(self.doc[key], dict):
            return self.doc[key]
        if key not in self._full:
            self._full[key] = self.full(key)
        return self._full[key]

    def __iter__(self) -> Iterator[str]:
        return (str(k) for k in self.doc if k != "defaults")

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def unknown(self, name: str, used_by: str | None = None) -> ConfigError:
        choices = ", ".join(self.names) or "none"
        hint = did_you_mean(name, self.names)
        if used_by is None:
            start = f"config file '{self.path}' has no experiment '{name}'."
        elif used_by == "":
            start = (
                f"config file '{self.path}': the top-level defaults: list names '{name}', "
                f"which the file does not define."
            )
        else:
            start = (
                f"config file '{self.path}': experiment '{used_by}' lists '{name}' in its "
                f"defaults:, but the file has no entry '{name}'."
            )
        return ConfigError(
            f"{start}{hint} Available: {choices}.", path=self.path, key=name, choices=self.names
        )

    def full(self, entry: str, known: Callable[[str], bool] | None = None) -> dict[str, Any]:
        """``entry`` over the top-level defaults (those ``known`` accepts, when given)."""
        merged: dict[str, Any] = {}
        for parent in self.global_defaults:
            if parent != entry:
                _deep_merge(merged, self.own(parent, (), used_by=""))
        if known is not None:
            merged = _known_only(merged, known, "")
        _deep_merge(merged, self.own(entry, ()))
        return merged

    def own(self, entry: str, chain: tuple[str, ...], used_by: str | None = None) -> dict[str, Any]:
        """``entry`` over its own ``defaults:`` chain (without the top-level defaults)."""
        if entry in chain:
            cycle = " -> ".join((*chain[chain.index(entry) :], entry))
            raise ConfigError(
                f"config file '{self.path}': defaults form a cycle ({cycle}): remove one link.",
                path=self.path,
                key=entry,
            )
        if entry in self._own:
            return self._own[entry]
        node = _lookup(self.doc, entry)
        if not isinstance(node, dict):
            raise self.unknown(entry, used_by)
        merged: dict[str, Any] = {}
        for parent in _defaults_list(node.get("defaults"), self.path, f"'{entry}'"):
            _deep_merge(merged, self.own(parent, (*chain, entry), used_by=entry))
        _deep_merge(merged, {k: v for k, v in node.items() if k != "defaults"})
        self._own[entry] = merged
        return merged


def _known_only(data: dict[str, Any], known: Callable[[str], bool], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if not known(dotted):
            continue
        if isinstance(value, dict) and any(known(f"{dotted}.{k}") for k in value):
            value = _known_only(value, known, f"{dotted}.")
        out[key] = value
    return out


def _defaults_list(value: Any, path: str, what: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(
        f"config file '{path}': {what} must be a list of experiment names, got {value!r}.",
        path=path,
    )


_MISSING = object()


def _lookup(doc: Any, dotted: str, missing: Any = None) -> Any:
    """The value at a dotted key of nested mappings, or ``missing`` when there is none."""
    node = doc
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return missing
        key: Any = part
        if key not in node:  # a key that is not text (``1:``) is named as text
            key = next((k for k in node if not isinstance(k, str) and str(k) == part), _MISSING)
            if key is _MISSING:
                return missing
        node = node[key]
    return node


def _deep_merge(into: dict[str, Any], other: dict[str, Any]) -> None:
    for key, value in other.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value)
        else:
            import copy

            into[key] = copy.deepcopy(value)


#: The most values (a value per 10 characters of text) that ``${...}`` references may add.
MAX_EXPANSION = 1_000_000


def interpolate(
    data: Any,
    *,
    root: Mapping[str, Any],
    path: str,
    local: dict[str, Any] | None = None,
    literal_env: bool = False,
) -> Any:
    """Resolve ``${a.b}`` (a key of ``root``), ``${env:VAR}`` and ``${oc.env:VAR,default}``.

    A key is looked up in ``root`` (the whole file), then in ``local`` (the selected experiment).
    A string that is one reference takes the referenced value with its type; references inside
    a longer string are formatted in. ``\\${...}`` stays literal. With ``literal_env``, an
    environment reference stays as written (``${env:VAR}``): what the file says, whatever the
    environment of the process reading it (see :mod:`naga.config._replay`).

    Raises:
        ConfigError: A reference points nowhere, names an unset variable, forms a cycle, or
            expands the config beyond :data:`MAX_EXPANSION` values (references of references
            can grow exponentially, as a YAML alias bomb does).
    """
    added = 0

    def count(value: Any, depth: int) -> Any:
        nonlocal added
        if depth:
            added += 1 + (len(value) // 10 if isinstance(value, str) else 0)
            if added > MAX_EXPANSION:
                raise ConfigError(
                    f"config file '{path}': its ${{...}} references expand the config to more "
                    f"than {MAX_EXPANSION:,} values: refused, as a reference bomb would be. "
                    f"Refer to fewer, smaller values.",
                    path=path,
                )
        return value

    def resolve(value: Any, where: str, depth: int) -> Any:
        if isinstance(value, dict):
            return count(
                {
                    k: resolve(v, f"{where}.{k}" if where else str(k), depth)
                    for k, v in value.items()
                },
                depth,
            )
        if isinstance(value, list):
            return count([resolve(v, where, depth) for v in value], depth)
        if not isinstance(value, str) or "${" not in value:
            return count(value, depth)
        if depth > 32:
            raise ConfigError(
                f"config file '{path}': references at '{where}' form a cycle: break it.",
                path=path,
                key=where,
            )
        whole = _REF.fullmatch(value)
        if whole and not value.startswith("\\"):
            return resolve(_target(whole.group(1), where), where, depth + 1)

        def sub(match: re.Match[str]) -> str:
            if match.group(0).startswith("\\"):
                return match.group(0)[1:]
            found = resolve(_target(match.group(1), where), where, depth + 1)
            return str(found)

        return count(_REF.sub(sub, value), depth)

    def _target(expr: str, where: str) -> Any:
        expr = expr.strip()
        for prefix in ("oc.env:", "env:"):
            if expr.startswith(prefix):
                if literal_env:  # escaped: resolving the result gives the text as written
                    return f"\\${{{expr}}}"
                var, _, default = expr[len(prefix) :].partition(",")
                value = os.environ.get(var.strip())
                if value is not None:
                    _check_env_text(value, var.strip(), path)
                    return value
                if default:
                    return default.strip()
                raise ConfigError(
                    f"config file '{path}': '{where}' needs the environment variable "
                    f"{var.strip()}, which is not set: export it or give a default "
                    f"(${{oc.env:{var.strip()},default}}).",
                    path=path,
                    key=where,
                )
        for scope in (root, local):
            found = _lookup(scope, expr, _MISSING)
            if found is not _MISSING:
                return found
        raise ConfigError(
            f"config file '{path}': '{where}' refers to ${{{expr}}}, which points nowhere: "
            f"no key '{expr}' in the file.",
            path=path,
            key=where,
            value=f"${{{expr}}}",
        )

    return resolve(data, "", 0)


def _check_env_text(value: str, var: str, path: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        byte = value[exc.start].encode("utf-8", "surrogateescape")[0]
        raise ConfigError(
            f"config file '{path}': the environment variable {var} holds byte 0x{byte:02x}, "
            f"which is not UTF-8, and naga saves configs as UTF-8 JSON. Set it in UTF-8.",
            path=path,
            key=var,
        ) from exc
