"""What a config class declares: its fields, their types and defaults, nested configs.

A :class:`ConfigSpec` is built once per config class. The resolved config travels as a plain
nested dict (``data``) through every source (files, experiments, overrides, tasks) and becomes an
instance of the user's own class only at the end, in :meth:`ConfigSpec.instantiate`.
"""

from __future__ import annotations

from naga._errors import ConfigError, did_you_mean
from naga._plain import (
    SCALARS,
    is_config_class,
    is_config_instance,
    path_types,
    plain_attributes,
)
from naga.config._values import coerce, parse_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = ["ConfigSpec", "Field", "MISSING"]


class _Missing:
    def __repr__(self) -> str:
        return "<required>"


MISSING: Any = _Missing()


class Field:
    """One field of a config: name, type hint, default, and the nested spec when it has one."""

    __slots__ = ("default", "hint", "name", "nested")

    def __init__(self, name: str, hint: Any, default: Any, nested: ConfigSpec | None) -> None:
        self.name = name
        self.hint = hint
        self.default = default
        self.nested = nested


class ConfigSpec:
    """The fields of a config class (plain, dataclass, pydantic, attrs) or of a dict.

    Example:
        >>> class Config:
        ...     param = 1
        >>> spec = ConfigSpec.from_class(Config)
        >>> data = spec.defaults()
        >>> spec.apply(data, "param", 10, origin="-o param=10")
        >>> spec.instantiate(data).param
        10
    """

    def __init__(self, kind: str, target: Any, fields: dict[str, Field]) -> None:
        self.kind = kind  # "plain", "dataclass", "pydantic", "attrs" or "dict"
        self.target = target  # the class, or for "plain" a prototype instance when given one
        self.fields = fields

    # -- building -------------------------------------------------------------------------

    @classmethod
    def from_class(cls, config_class: Any) -> ConfigSpec:
        """Build the spec of a config class, a config instance, or a dict of defaults."""
        if isinstance(config_class, dict):
            return cls("dict", None, _dict_fields(config_class))
        klass = config_class if isinstance(config_class, type) else type(config_class)
        if hasattr(klass, "__dataclass_fields__"):
            return cls("dataclass", klass, _dataclass_fields(klass))
        if hasattr(klass, "__pydantic_fields__") and hasattr(klass, "model_fields"):
            return cls("pydantic", klass, _pydantic_fields(klass))
        if hasattr(klass, "__attrs_attrs__"):
            return cls("attrs", klass, _attrs_fields(klass))
        proto = None if isinstance(config_class, type) else config_class
        return cls("plain", proto if proto is not None else klass, _plain_fields(klass, proto))

    # -- data -----------------------------------------------------------------------------

    def defaults(self) -> dict[str, Any]:
        """The defaults as a fresh plain nested dict (mutable defaults deep-copied)."""
        out: dict[str, Any] = {}
        for name, field in self.fields.items():
            if field.nested is not None:
                out[name] = field.nested.defaults()
            elif isinstance(field.default, SCALARS) or field.default is MISSING:
                out[name] = field.default
            else:
                import copy

                out[name] = copy.deepcopy(field.default)
        return out

    def field(self, key: str) -> Field | None:
        """The field at a dotted key, or None when the config has no such key."""
        spec: ConfigSpec | None = self
        found: Field | None = None
        for part in key.split("."):
            if spec is None:
                return None
            found = spec.fields.get(part)
            if found is None:
                return None
            spec = found.nested
        return found

    def has(self, key: str) -> bool:
        """True when the dotted ``key`` is a field of this config."""
        return self.field(key) is not None

    def keys(self, prefix: str = "") -> list[str]:
        """Every dotted key, nested ones included."""
        out: list[str] = []
        for name, field in self.fields.items():
            out.append(prefix + name)
            if field.nested is not None:
                out.extend(field.nested.keys(prefix + name + "."))
        return out

    def apply(
        self, data: dict[str, Any], key: str, value: Any, *, origin: str, add: bool = False
    ) -> None:
        """Set the dotted ``key`` of ``data`` to ``value``, coerced to the field's type.

        Raises:
            ConfigError: The key is unknown (with the closest match) and ``add`` is false, or
                the value does not fit the field's type (naming ``origin``, key, type, value).
        """
        if key.startswith("+"):  # a task's column or key, a config file's key: as in -o
            key, add = key[1:], True
        if key.startswith("+"):
            raise ConfigError(
                f"{origin}: '+{key}': naga has no ++ (Hydra's add-or-set). Write +"
                f"{key.lstrip('+')}=... to add a new key, or {key.lstrip('+')}=... to set one.",
                key=key.lstrip("+"),
            )
        field = self.field(key)
        if add:
            self._add(data, key, value, origin=origin, declared=field is not None)
            return
        if field is None:
            raise ConfigError(
                self.unknown_key_message(key, origin), key=key, choices=self.keys(), value=value
            )
        parent = _walk(data, key.split(".")[:-1])
        leaf = key.split(".")[-1]
        if field.nested is not None:
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{origin}: {key} is a nested config, got {value!r}: set its fields "
                    f"one by one ({key}.<field>=...) or give a mapping.",
                    key=key,
                    value=value,
                    choices=[f"{key}.{name}" for name in field.nested.fields],
                )
            current = parent.get(leaf)
            if not isinstance(current, dict):
                current = parent[leaf] = field.nested.defaults()
            for sub_key, sub_value in value.items():
                field.nested.apply(current, str(sub_key), sub_value, origin=origin, add=add)
        else:
            parent[leaf] = coerce(value, field.hint, key=key, origin=origin)

    def _add(
        self, data: dict[str, Any], key: str, value: Any, *, origin: str, declared: bool
    ) -> None:
        """``+key=value``: add a key that does not exist, under a mapping (Hydra's rule)."""
        parts = key.split(".")
        node = data
        for depth, part in enumerate(parts):
            here = ".".join(parts[: depth + 1])
            if declared or (part in node and depth == len(parts) - 1):
                raise ConfigError(
                    f"{origin}: the config already has a key '{key}': + adds only keys that do "
                    f"not exist. Drop the + to set it ({key}=...).",
                    key=key,
                    value=value,
                )
            if depth == len(parts) - 1:
                node[part] = value
                self._check_added(data, parts, origin=origin)
                return
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(
                    f"{origin}: '{here}' holds {child!r}, not a mapping: + adds keys only at the "
                    f"top level or under a mapping. Set '{here}' itself ({here}=...), or add "
                    f"the key elsewhere.",
                    key=key,
                    value=value,
                )
            node = child

    def _check_added(self, data: dict[str, Any], parts: list[str], *, origin: str) -> None:
        """A key added under a typed dict field (``dict[str, int]``): its entry has the dict's
        value type, as a config.json replayed later will check."""
        for depth in range(len(parts) - 1, 0, -1):
            field = self.field(".".join(parts[:depth]))
            if field is None:
                continue
            value_hint = _dict_value_hint(field.hint)
            if value_hint is not None:
                parent = _walk(data, parts[:depth])
                entry = parts[depth]
                key = ".".join(parts[: depth + 1])
                parent[entry] = coerce(parent[entry], value_hint, key=key, origin=origin)
            return

    def apply_text(
        self, data: dict[str, Any], key: str, text: str, *, origin: str, add: bool = False
    ) -> None:
        """Like :meth:`apply` for a value written as text: string fields keep the text as is."""
        field = self.field(key)
        if field is not None and _wants_text(field.hint):
            value: Any = _unquote(text)
        else:
            value = parse_value(text)
        self.apply(data, key, value, origin=origin, add=add)

    def merge(
        self, data: dict[str, Any], mapping: dict[str, Any], *, origin: str, replay: bool = False
    ) -> None:
        """Apply every key of a nested mapping (a config file) onto ``data``.

        ``replay``: the mapping is a run's own config (its run.lock or config.json): keys the
        config class lacks are the ones that run added with ``+``, and are added again.
        """
        for key, value in mapping.items():
            field = self.fields.get(str(key))
            if field is not None and field.nested is not None and isinstance(value, dict):
                current = data.get(str(key))
                if not isinstance(current, dict):
                    current = data[str(key)] = field.nested.defaults()
                field.nested.merge(current, value, origin=origin, replay=replay)
            else:
                add = replay and field is None and not str(key).startswith("+")
                self.apply(data, str(key), value, origin=origin, add=add)

    def unknown_key_message(self, key: str, origin: str, *, can_add: bool = True) -> str:
        """The message for a key the config does not have, with the closest match."""
        hint = did_you_mean(key, self.keys())
        fix = f"To add a new key on purpose, write +{key}=... ; " if can_add else ""
        return f"{origin}: the config has no key '{key}'.{hint} {fix}`--help` lists every key."

    # -- instances ------------------------------------------------------------------------

    def instantiate(self, data: dict[str, Any], prefix: str = "") -> Any:
        """Build an instance of the user's own class (or a dict) from resolved ``data``."""
        values: dict[str, Any] = {}
        for name, value in data.items():
            field = self.fields.get(name)
            if value is MISSING:
                raise ConfigError(
                    f"the config key '{prefix}{name}' has no value: set it with "
                    f"-o {prefix}{name}=... or in a --config file.",
                    key=f"{prefix}{name}",
                )
            if field is not None and field.nested is not None and isinstance(value, dict):
                value = field.nested.instantiate(value, f"{prefix}{name}.")
            values[name] = value
        if self.kind == "dict":
            return values
        if self.kind == "plain":
            return self._instantiate_plain(values)
        known = {k: v for k, v in values.items() if k in self.fields}
        try:
            obj = self.target(**known)
        except Exception as exc:  # the library's own validation (pydantic, attrs validators)
            raise ConfigError(
                f"{self.target.__name__} refused the config: {exc}. Fix the value named above."
            ) from exc
        for name, value in values.items():
            if name not in self.fields:
                setattr(obj, name, value)
        return obj

    def _instantiate_plain(self, values: dict[str, Any]) -> Any:
        target = self.target
        if isinstance(target, type):
            try:
                obj = target()
            except TypeError:
                obj = object.__new__(target)
        else:
            import copy

            obj = copy.copy(target)
        for name, value in values.items():
            setattr(obj, name, value)
        return obj


def _dict_value_hint(hint: Any) -> Any:
    """``V`` of a ``dict[K, V]`` hint (``Mapping``, optional ones too), else None."""
    import collections.abc
    import types
    import typing

    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        found = [_dict_value_hint(arg) for arg in typing.get_args(hint) if arg is not type(None)]
        return found[0] if len(found) == 1 else None
    if origin in (dict, collections.abc.Mapping, collections.abc.MutableMapping):
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is not typing.Any:
            return args[1]
    return None


def _walk(data: dict[str, Any], parts: list[str]) -> dict[str, Any]:
    """The mapping that holds a declared field (its parents are nested configs)."""
    node = data
    for part in parts:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    return node


def _wants_text(hint: Any) -> bool:
    if hint is str or (isinstance(hint, type) and issubclass(hint, path_types())):
        return True
    args = getattr(hint, "__args__", None)
    if args and type(None) in args:
        non_none = [a for a in args if a is not type(None)]
        return len(non_none) == 1 and _wants_text(non_none[0])
    return False


def _unquote(text: str) -> Any:
    stripped = text.strip()
    if stripped.lower() in ("null", "none", "~"):
        return None
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "\"'":
        return stripped[1:-1]
    return text


def _nested_for(hint: Any, default: Any) -> ConfigSpec | None:
    if is_config_class(default) or is_config_instance(default):
        return ConfigSpec.from_class(default)
    if default is MISSING and is_config_class(hint):
        return ConfigSpec.from_class(hint)
    return None


def _field(name: str, hint: Any, default: Any) -> Field:
    nested = _nested_for(hint, default)
    if hint is None and default is not None and default is not MISSING and nested is None:
        hint = type(default)
    return Field(name, hint, default, nested)


def _resolve_hints(klass: type, raw: dict[str, Any]) -> dict[str, Any]:
    if not any(isinstance(h, str) for h in raw.values()):
        return raw
    import typing

    try:
        return typing.get_type_hints(klass)
    except Exception:  # an annotation that cannot be evaluated: accept any value there
        return {k: (None if isinstance(h, str) else h) for k, h in raw.items()}


def _plain_fields(klass: type, proto: Any) -> dict[str, Field]:
    raw_hints, defaults = plain_attributes(klass)
    if proto is not None:
        defaults.update({k: v for k, v in vars(proto).items() if not k.startswith("_")})
    hints = _resolve_hints(klass, raw_hints)
    names = [n for n in raw_hints if not n.startswith("_")] + [
        n for n in defaults if n not in raw_hints
    ]
    return {n: _field(n, hints.get(n), defaults.get(n, MISSING)) for n in names}


def _dataclass_fields(klass: type) -> dict[str, Field]:
    import dataclasses

    hints = _resolve_hints(klass, {f.name: f.type for f in dataclasses.fields(klass)})
    out: dict[str, Field] = {}
    for f in dataclasses.fields(klass):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = MISSING
        out[f.name] = _field(f.name, hints.get(f.name), default)
    return out


def _pydantic_fields(klass: Any) -> dict[str, Field]:
    out: dict[str, Field] = {}
    for name, info in klass.model_fields.items():
        default = MISSING if info.is_required() else info.get_default(call_default_factory=True)
        out[name] = _field(name, info.annotation, default)
    return out


def _attrs_fields(klass: Any) -> dict[str, Field]:
    hints = _resolve_hints(klass, {a.name: a.type for a in klass.__attrs_attrs__})
    out: dict[str, Field] = {}
    for a in klass.__attrs_attrs__:
        if not a.init:
            continue
        default = a.default
        if type(default).__name__ == "_Nothing":
            default = MISSING
        elif hasattr(default, "factory") and hasattr(default, "takes_self"):
            default = default.factory()
        out[a.name] = _field(a.name, hints.get(a.name), default)
    return out


def _dict_fields(mapping: dict[str, Any]) -> dict[str, Field]:
    out: dict[str, Field] = {}
    for name, value in mapping.items():
        if isinstance(value, dict):
            out[str(name)] = Field(str(name), dict, value, ConfigSpec.from_class(value))
        else:
            out[str(name)] = _field(str(name), None, value)
    return out
