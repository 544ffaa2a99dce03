"""Any supported config (instance, class, dataclass, pydantic, attrs, dict) as plain data."""

from __future__ import annotations

import sys

from naga._errors import ConfigError
from naga.config._values import path_types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = ["flatten", "to_plain"]


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
    from naga.config._schema import ConfigSpec, _is_config_class, _is_config_instance

    if isinstance(config, type) and _is_config_class(config):
        return to_plain(ConfigSpec.from_class(config).defaults(), key)
    klass = type(config)
    if hasattr(klass, "__dataclass_fields__"):
        names = list(klass.__dataclass_fields__)
    elif hasattr(klass, "model_fields") and hasattr(klass, "__pydantic_fields__"):
        names = list(klass.model_fields)
    elif hasattr(klass, "__attrs_attrs__"):
        names = [a.name for a in klass.__attrs_attrs__]
    elif _is_config_instance(config):
        names = list(ConfigSpec.from_class(klass).fields)
    else:
        where = f"config key '{key}'" if key else "the config"
        raise ConfigError(
            f"{where} holds a {klass.__module__}.{klass.__qualname__}, which cannot be written "
            f"as plain data: use a str, number, bool, None, list, dict, Path or a nested config."
        )
    extra = [n for n in getattr(config, "__dict__", {}) if not n.startswith("_") and n not in names]
    return {n: to_plain(getattr(config, n), _join(key, n)) for n in [*names, *extra]}


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


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
