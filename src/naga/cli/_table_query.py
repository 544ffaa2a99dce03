"""The ``--filter`` and ``--sort`` expressions of ``naga ls --table``, on a column's raw values.

A filter is ``KEY OP VALUE``, its value typed like a YAML scalar (and compared as written with a
column of text); a sort is a list of column names, ``-name`` for descending. A run without the
column's value (:data:`MISSING`) passes only ``!= VALUE`` and sorts last either way; numbers and
text have no order between them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from naga._errors import NagaError, did_you_mean
from naga._yaml import YAMLError, load_yaml

__all__ = ["MISSING", "is_number", "matches", "parse_filter", "sort_rows", "unknown_column"]

#: A column's value for a run that does not have it (a config key or metric of other runs).
MISSING = object()
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_FILTER = re.compile(
    r"^\s*(?P<key>[^\s=!<>]+)\s*(?P<op>==|!=|<=|>=|<|>)\s*(?P<value>[^\s=!<>].*?)?\s*$"
)
_Row = TypeVar("_Row")


def unknown_column(kind: str, name: str, known: Iterable[str], hint: str) -> NagaError:
    """The error for an option (``kind``) naming no column: the closest name, then the columns
    (without their ``config.`` and ``result.`` spellings)."""
    names = [n for n in known if not n.startswith(("config.", "result."))]
    return NagaError(
        f"{kind}: no column '{name}'.{did_you_mean(name, known)} {hint} "
        f"(columns: {', '.join(names)}).",
        key=name,
        choices=names,
    )


def parse_filter(text: str) -> tuple[str, str, Any, str]:
    """``'acc >= 0.9'`` as ``("acc", ">=", 0.9, "0.9")``: the value typed like a YAML scalar,
    and as written (compared with a column of text).

    Example:
        >>> parse_filter("status == done")
        ('status', '==', 'done', 'done')
    """
    match = _FILTER.match(text)
    if match is None or not match["value"]:
        raise NagaError(
            f"--filter '{text}': expected KEY OP VALUE with OP one of {', '.join(_OPERATORS)} "
            f"(for example --filter 'acc >= 0.9' or --filter 'status == done').",
            value=text,
            choices=list(_OPERATORS),
        )
    written = match["value"]
    try:
        value = load_yaml(written)
    except YAMLError:
        value = written
    if isinstance(value, str):
        written = value  # 'a b' quoted in the filter: the text inside the quotes
    return match["key"], match["op"], value, written


def is_number(value: Any) -> bool:
    """An int or a float, not a bool: what compares, sorts and aligns as a number."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return actual is wanted
    return bool(actual == wanted)


def matches(actual: Any, op: str, wanted: Any, written: str) -> bool:
    """Whether a run's value passes ``op wanted``; a run without the value passes only
    ``!= VALUE`` (and ``== null``), and numbers and text have no order between them."""
    if actual is MISSING or actual is None:
        return (op == "==" and wanted is None) or (op == "!=" and wanted is not None)
    if isinstance(actual, str):
        wanted = written  # a text column: `run == lr=0.1`, `host == 10.0.0.1`
    if op in ("==", "!="):
        return _equal(actual, wanted) == (op == "==")
    if not (is_number(actual) and is_number(wanted)) and not (
        isinstance(actual, str) and isinstance(wanted, str)
    ):
        return False
    if op == "<":
        return bool(actual < wanted)
    if op == "<=":
        return bool(actual <= wanted)
    if op == ">":
        return bool(actual > wanted)
    return bool(actual >= wanted)


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is MISSING or value is None:
        return (3, 0)
    if is_number(value):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, json.dumps(value, sort_keys=True, default=str))


def sort_rows(
    rows: list[_Row], spec: str, getters: Mapping[str, Callable[[_Row], Any]]
) -> list[_Row]:
    """``rows`` sorted by ``spec`` (``'-acc,lr'``), each name read with ``getters[name]``.

    Stable sorts, last key first; a row without the value goes last either way.

    Raises:
        NagaError: A name no getter has (with the closest name).
    """
    keys = [k.strip() for k in spec.split(",") if k.strip()]
    for key in reversed(keys):
        name = key[1:] if key.startswith("-") else key
        if name not in getters:
            raise unknown_column(
                "--sort", name, getters, "Sort by a column, '-name' for descending"
            )
        get = getters[name]
        present = [r for r in rows if _sort_key(get(r))[0] < 3]
        absent = [r for r in rows if _sort_key(get(r))[0] == 3]
        present.sort(key=_key_of(get), reverse=key.startswith("-"))
        rows = present + absent
    return rows


def _key_of(get: Callable[[_Row], Any]) -> Callable[[_Row], tuple[int, Any]]:
    return lambda row: _sort_key(get(row))
