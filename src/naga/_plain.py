"""Any supported config (instance, class, dataclass, pydantic, attrs, dict) as plain data.

The bottom layer: every subpackage may use it, and it imports none of them.
"""

from __future__ import annotations

import sys

from naga._errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


__all__ = [
    "SCALARS",
    "bare_key",
    "flatten",
    "is_config_class",
    "is_config_instance",
    "path_types",
    "plain_attributes",
    "to_plain",
    "within",
]

SCALARS = (bool, int, float, str, bytes, type(None), complex)


def path_types() -> tuple[type, ...]:
    """``(pathlib.PurePath,)`` once pathlib is imported, else ``()``: no value or type hint can
    be a path before then, and importing pathlib would cost a bare script several ms."""
    module = sys.modules.get("pathlib")
    return (module.PurePath,) if module is not None else ()


def is_config_class(value: Any) -> bool:
    """True for a user-defined class that can hold config fields (not a type like int or Path)."""
    if not isinstance(value, type) or value.__module__ in ("builtins", "pathlib", "typing"):
        return False
    enum_module = sys.modules.get("enum")
    return not (enum_module is not None and issubclass(value, enum_module.Enum))


def is_config_instance(value: Any) -> bool:
    """True for an instance of a user-defined config class (not a scalar, container or path)."""
    return (
        not isinstance(value, (*SCALARS, list, tuple, dict, set, frozenset, *path_types(), type))
        and is_config_class(type(value))
        and (hasattr(value, "__dict__") or hasattr(type(value), "__dataclass_fields__"))
    )


def plain_attributes(klass: type) -> tuple[dict[str, Any], dict[str, Any]]:
    """The raw annotations and the default values that a plain config class declares.

    Public class attributes through the MRO, except methods, properties and other callables
    (a nested class is a value). Returns ``(annotations, defaults)``.
    """
    raw_hints: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    for base in reversed(klass.__mro__[:-1]):
        raw_hints.update(base.__dict__.get("__annotations__", {}))  # noqa: RUF063 - own, not inherited
        for name, value in base.__dict__.items():
            if name.startswith("_") or isinstance(value, (staticmethod, classmethod, property)):
                continue
            if callable(value) and not isinstance(value, type):
                continue
            defaults[name] = value
    return raw_hints, defaults


def to_plain(config: Any, _key: str = "") -> Any:
    """Return ``config`` as plain YAML-able data: dicts, lists, str, int, float, bool, None.

    Paths become strings, tuples and sets lists, enums their values; config classes and
    instances become dicts of their public fields.

    Raises:
        ConfigError: A value has a type that cannot be written as plain data (names its key).

    Example:
        >>> class Config:
        ...     param = 1
        >>> to_plain(Config())
        {'param': 1}
    """
    if config is None or isinstance(config, (bool, int, float, str)):
        return config
    if isinstance(config, path_types()):
        return str(config)
    if isinstance(config, dict):
        return {str(k): to_plain(v, _join(_key, str(k))) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [to_plain(v, f"{_key}[{i}]") for i, v in enumerate(config)]
    if isinstance(config, (set, frozenset)):
        return [to_plain(v, _key) for v in sorted(config, key=repr)]
    enum_module = sys.modules.get("enum")
    if enum_module is not None and isinstance(config, enum_module.Enum):
        return to_plain(config.value, _key)
    return _object_to_plain(config, _key)


def _object_to_plain(config: Any, key: str) -> Any:
    if isinstance(config, type) and is_config_class(config):
        _, defaults = plain_attributes(config)
        return {n: to_plain(v, _join(key, n)) for n, v in defaults.items()}
    klass = type(config)
    if hasattr(klass, "__dataclass_fields__"):
        names = list(klass.__dataclass_fields__)
    elif hasattr(klass, "model_fields") and hasattr(klass, "__pydantic_fields__"):
        names = list(klass.model_fields)
    elif hasattr(klass, "__attrs_attrs__"):
        names = [a.name for a in klass.__attrs_attrs__]
    elif is_config_instance(config):
        raw_hints, defaults = plain_attributes(klass)
        names = [n for n in raw_hints if not n.startswith("_")]
        names += [n for n in defaults if n not in raw_hints]
        names = [n for n in names if hasattr(config, n)]
    else:
        where = f"config key '{key}'" if key else "the config"
        raise ConfigError(
            f"{where} holds a {klass.__module__}.{klass.__qualname__}, which cannot be written "
            f"as plain data: use a str, number, bool, None, list, dict, Path or a nested config.",
            key=key or None,
        )
    extra = [n for n in getattr(config, "__dict__", {}) if not n.startswith("_") and n not in names]
    return {n: to_plain(getattr(config, n), _join(key, n)) for n in [*names, *extra]}


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def bare_key(dotted: Any) -> str:
    """A dotted key without the ``+`` that adds a key: ``+extra.lr`` is ``extra.lr``.

    Example:
        >>> bare_key("+extra. +lr")
        'extra.lr'
    """
    return ".".join(part.strip().lstrip("+") for part in str(dotted).split("."))


def within(key: str, keys: Iterable[str]) -> bool:
    """Whether dotted ``key`` is one of ``keys`` or lies under one (``model.lr`` under ``model``)."""
    return any(key == k or key.startswith(k + ".") for k in keys)


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{dotted.key: value}``; an empty dict stays a value.

    Example:
        >>> flatten({"model": {"lr": 0.1}, "seed": 1})
        {'model.lr': 0.1, 'seed': 1}
    """
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data} if prefix else {}
