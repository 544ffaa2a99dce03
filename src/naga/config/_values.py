"""Typing of override values and coercion of values to a field's type.

Kept free of heavy imports: this runs on every command line, so ``typing``, ``yaml`` and
``enum`` load only when a value needs them.
"""

from __future__ import annotations

import sys

from naga._errors import ConfigError
from naga._plain import path_types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


__all__ = ["coerce", "parse_value", "type_name"]

_NULLS = {"null": None, "none": None, "~": None, "None": None}
_BOOLS = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False}
#: What a float field accepts besides numbers: Python's and YAML's spellings of infinity and NaN
#: (config.json stores non-finite floats as "inf", "-inf" and "nan").
_NON_FINITE = {
    f"{sign}{word}": float(f"{sign or '+'}{'nan' if 'nan' in word else 'inf'}")
    for sign in ("", "+", "-")
    for word in ("inf", "infinity", ".inf", "nan", ".nan")
}


def parse_value(text: str) -> Any:
    """Type a value written on the command line, the way YAML would.

    Example:
        >>> [parse_value(v) for v in ["10", "1e-3", "true", "null", "[64,64]", "abc"]]
        [10, 0.001, True, None, [64, 64], 'abc']
    """
    stripped = text.strip()
    if not stripped:
        return ""
    lowered = stripped.lower()
    if lowered in _NULLS or stripped == "~":
        return None
    if lowered in _BOOLS:
        return _BOOLS[lowered]
    first = stripped[0]
    if first in "0123456789+-.":
        number = _parse_number(stripped)
        if number is not None:
            return number
    if first in "[{\"'":
        from naga._yaml import YAMLError, load_yaml

        try:
            return load_yaml(stripped)
        except (YAMLError, UnicodeEncodeError):  # UnicodeEncodeError: a lone surrogate (libyaml)
            return text
    return text


def _parse_number(text: str) -> int | float | None:
    if "n" in text.lower():  # -inf, nan, +infinity: text, as in YAML (a float field takes them)
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return None


def type_name(hint: Any) -> str:
    """A short readable name of a type hint: ``int``, ``list[int]``, ``str | None``."""
    if isinstance(hint, type) and not getattr(hint, "__args__", None):
        return hint.__name__
    text = repr(hint).replace("typing.", "").replace("pathlib.", "")
    return text.replace("<class '", "").replace("'>", "")


def _union_args(hint: Any) -> tuple[Any, ...] | None:
    origin = getattr(hint, "__origin__", None)
    if origin is not None and repr(origin) == "typing.Union":
        return tuple(hint.__args__)
    if type(hint).__name__ == "UnionType":
        return tuple(hint.__args__)
    return None


def coerce(value: Any, hint: Any, *, key: str, origin: str) -> Any:
    """Return ``value`` converted to ``hint``, or raise ``ConfigError`` naming key and origin.

    Args:
        value: A typed value (from ``parse_value``, a config file or a task source).
        hint: The field's annotation, or the type of its default; ``None`` accepts anything.
        key: The dotted key, for the message.
        origin: Where the value came from (``-o param=abc``, ``tasks.txt line 3``).
    """
    try:
        return _coerce(value, hint)
    except (TypeError, ValueError, KeyError) as exc:
        choices = _choices(hint)
        if choices:
            from naga._errors import did_you_mean

            listed = ", ".join(choices)
            hint_text = did_you_mean(_scalar_text(value), choices) if value is not None else ""
            message = f"{origin}: {key} expects one of {listed}, got {value!r}.{hint_text}"
        else:
            message = (
                f"{origin}: {key} expects {type_name(hint)}, got {value!r}: "
                f"give a value of type {type_name(hint)}."
            )
        raise ConfigError(message, key=key, value=value, choices=choices or None) from exc


def _choices(hint: Any) -> list[str]:
    """The allowed values of a ``Literal`` or an enum (``Optional`` of one too), as text."""
    union = _union_args(hint)
    if union is not None:
        arms = [a for a in union if a is not type(None)]
        return _choices(arms[0]) if len(arms) == 1 else []
    origin = getattr(hint, "__origin__", None)
    if origin is not None and repr(origin) == "typing.Literal":
        return [_scalar_text(c) for c in hint.__args__]
    enum_module = sys.modules.get("enum")
    if enum_module is not None and isinstance(hint, type) and issubclass(hint, enum_module.Enum):
        enum_type: Any = hint
        return list(enum_type.__members__)
    return []


def _coerce(value: Any, hint: Any) -> Any:
    if hint is None or hint is object or isinstance(hint, str) or _is_any(hint):
        return value
    union = _union_args(hint)
    if union is not None:
        if value is None and type(None) in union:
            return None
        for arm in union:
            if arm is type(None):
                continue
            try:
                return _coerce(value, arm)
            except (TypeError, ValueError, KeyError):
                continue
        raise ValueError(value)
    if hint is type(None):
        if value is None:
            return None
        raise ValueError(value)
    origin = getattr(hint, "__origin__", None)
    if origin is not None:
        return _coerce_generic(value, hint, origin)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ValueError(value)
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValueError(value)
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and value.strip().lower() in _NON_FINITE:
            return _NON_FINITE[value.strip().lower()]
        raise ValueError(value)
    if hint is str:
        if isinstance(value, (dict, list)) or value is None:
            raise ValueError(value)
        return value if isinstance(value, str) else _scalar_text(value)
    if isinstance(hint, type) and issubclass(hint, path_types()):
        if isinstance(value, (str, *path_types())):
            path_class: Any = hint
            return path_class(value)
        raise ValueError(value)
    if hint in (list, tuple, set, frozenset):
        if isinstance(value, (list, tuple, set, frozenset)):
            return hint(value)
        raise ValueError(value)
    if hint is dict:
        if isinstance(value, dict):
            return value
        raise ValueError(value)
    enum_module = sys.modules.get("enum")
    if enum_module is not None and isinstance(hint, type) and issubclass(hint, enum_module.Enum):
        enum_type: Any = hint
        if isinstance(value, enum_type):
            return value
        if isinstance(value, str) and value in enum_type.__members__:
            return enum_type[value]
        return enum_type(value)
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    if isinstance(hint, type) and isinstance(value, dict):
        return value  # a nested config given as a mapping: merged by the caller
    raise TypeError(value)


def _is_any(hint: Any) -> bool:
    typing_module = sys.modules.get("typing")  # no hint can be typing.Any unless it is loaded
    return typing_module is not None and hint is typing_module.Any


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _coerce_generic(value: Any, hint: Any, origin: Any) -> Any:
    args: tuple[Any, ...] = getattr(hint, "__args__", ())
    if repr(origin) == "typing.Literal":
        for choice in args:
            if value == choice and type(value) is type(choice):
                return choice
            if (
                isinstance(choice, str)
                and not isinstance(value, str)
                and _scalar_text(value) == choice
            ):
                return choice
        raise ValueError(value)
    if origin in (list, set, frozenset):
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise ValueError(value)
        item = args[0] if args else None
        return origin(_coerce(v, item) for v in value)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0]) for v in value)
        if args and len(args) != len(value):
            raise ValueError(value)
        return (
            tuple(_coerce(v, a) for v, a in zip(value, args, strict=True)) if args else tuple(value)
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ValueError(value)
        key_hint, value_hint = args if len(args) == 2 else (None, None)
        return {_coerce(k, key_hint): _coerce(v, value_hint) for k, v in value.items()}
    if isinstance(origin, type) and isinstance(value, origin):
        return value
    raise TypeError(value)
