"""YAML and JSON reading, YAML writing, shared by every part of naga.

Reading is stricter than PyYAML's ``safe_load`` and ``json.loads``, so that what naga reads is
plain JSON-able data and a mistake is an error rather than a surprise:

- YAML timestamps (``2024-01-01``, ``2024-01-01 10:00:00``) stay the strings as written (a
  config is saved as JSON, which has no date type); ``!!binary`` is refused;
- a key written twice in one mapping is an error naming its line (YAML and JSON), never
  last-wins;
- aliases (``*name``) that expand to more than :data:`MAX_EXPANSION` values, or a value that
  contains itself, are refused at once: a "billion laughs" document of a few hundred bytes would
  otherwise take minutes and gigabytes to copy or write out.

libyaml's C classes are used when present.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import yaml

__all__ = [
    "MAX_DEPTH",
    "MAX_EXPANSION",
    "YAMLError",
    "YAMLRefused",
    "check_expansion",
    "dump_yaml",
    "load_json",
    "load_yaml",
    "yaml_problem",
]

YAMLError = yaml.YAMLError

#: The most values that aliases may add to a document (a value per 10 characters of text).
MAX_EXPANSION = 1_000_000
#: The deepest nesting of lists and mappings that naga reads.
MAX_DEPTH = 200

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_BINARY = "tag:yaml.org,2002:binary"
_MERGE = "tag:yaml.org,2002:merge"
_FLOAT_TAG = "tag:yaml.org,2002:float"
#: YAML 1.1's floats plus YAML 1.2's: `1e-3` and `1e400` are numbers (PyYAML reads them as text,
#: which a float field then refused), as they are in JSON, TOML and on the command line.
_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.VERBOSE,
)

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class YAMLRefused(yaml.YAMLError):
    """Well-formed YAML that naga refuses: ``problem`` says why, ``problem_mark`` where (or None)."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class _Loader(_Base):
    """The safe loader, with timestamps as text, no ``!!binary`` and no duplicate keys."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {
        first: [
            (tag, _FLOAT if tag == _FLOAT_TAG else rx) for tag, rx in resolvers if tag != _TIMESTAMP
        ]
        for first, resolvers in _Base.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # unhashable: PyYAML's own error follows
                    continue
                if first is not key_node:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"found duplicate key {key!r} (first on line {first.start_mark.line + 1})",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep)


class _Dumper(_BaseDumper):
    """The safe dumper, quoting the text that :class:`_Loader` would read as a float (``'1e-3'``),
    so that what naga writes reads back the same."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {
        first: [(tag, _FLOAT if tag == _FLOAT_TAG else rx) for tag, rx in resolvers]
        for first, resolvers in _BaseDumper.yaml_implicit_resolvers.items()
    }


def _timestamp_as_text(loader: Any, node: Any) -> str:
    return str(loader.construct_scalar(node))


def _refuse_binary(loader: Any, node: Any) -> Any:
    raise YAMLRefused(
        "a !!binary value cannot go in a config (naga saves configs as JSON text): write the "
        "value as text, or save the bytes to a file and give its path",
        node.start_mark,
    )


def _number(convert: Any) -> Any:
    """``convert`` (PyYAML's int or float constructor), a scalar it cannot convert (``0x_``, an
    int of more than 4300 digits) a YAMLError naming its line rather than a ValueError."""

    def construct(loader: Any, node: Any) -> Any:
        try:
            return convert(loader, node)
        except ValueError as exc:
            text = str(node.value)
            problem = str(exc).split(";")[0]
            shown = text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} chars)"
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"{shown!r} reads as a number that cannot be converted ({problem}): quote it to "
                f"keep it as text",
                node.start_mark,
            ) from None

    return construct


_Loader.add_constructor(_TIMESTAMP, _timestamp_as_text)
_Loader.add_constructor(_BINARY, _refuse_binary)
_Loader.add_constructor("tag:yaml.org,2002:int", _number(_Base.construct_yaml_int))
_Loader.add_constructor(_FLOAT_TAG, _number(_Base.construct_yaml_float))


def load_yaml(text: str) -> Any:
    """Parse YAML text with the safe loader, as described in the module docstring.

    Raises:
        yaml.YAMLError: The text is malformed (``problem_mark`` gives the line), or refused
            (:class:`YAMLRefused`: alias bomb, self-containing value, ``!!binary``).

    Example:
        >>> load_yaml("day: 2024-01-01\\nsizes: [1, 2]")
        {'day': '2024-01-01', 'sizes': [1, 2]}
    """
    data = yaml.load(text, Loader=_Loader)
    check_expansion(data)
    return data


def check_expansion(data: Any) -> None:
    """Refuse ``data`` when shared parts (YAML aliases) expand it beyond :data:`MAX_EXPANSION`
    values, when a value contains itself, or when it nests deeper than :data:`MAX_DEPTH`.

    Cost: one visit per distinct list, mapping and long string.

    Raises:
        YAMLRefused: Saying which limit was passed.
    """
    sizes: dict[int, int] = {}
    extra = 0

    def size(node: Any, depth: int) -> int:
        nonlocal extra
        is_container = isinstance(node, (list, dict))
        if not is_container and not (isinstance(node, str) and len(node) >= 100):
            return 1
        known = sizes.get(id(node))
        if known is not None:
            if known < 0:
                raise YAMLRefused("a value contains itself (an alias inside its own anchor)")
            extra += known
            if extra > MAX_EXPANSION:
                raise YAMLRefused(
                    f"its aliases (*name) expand to more than {MAX_EXPANSION:,} values, as a "
                    f"'billion laughs' document does: write the values out, or use fewer nested "
                    f"aliases"
                )
            return known
        if depth > MAX_DEPTH:
            raise YAMLRefused(f"values are nested more than {MAX_DEPTH} levels deep: flatten them")
        if isinstance(node, str):
            total = 1 + len(node) // 10
        else:
            sizes[id(node)] = -1
            children = node.values() if isinstance(node, dict) else node
            total = 1 + sum(size(child, depth + 1) for child in children)
        sizes[id(node)] = total
        return total

    size(data, 0)


def yaml_problem(exc: Exception) -> tuple[str, str]:
    """Where and what a ``YAMLError`` says: ``(" line 3", "could not find expected ':'")``."""
    mark = getattr(exc, "problem_mark", None)
    line = f" line {mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return line, str(problem)


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def load_json(text: str) -> Any:
    """Parse JSON text; a key written twice in one object is an error, never last-wins.

    Raises:
        json.JSONDecodeError: Malformed, or a duplicate key (``msg`` names it, ``lineno`` is
            the line of the second one).

    Example:
        >>> load_json('{"a": 1, "b": [2]}')
        {'a': 1, 'b': [2]}
    """
    import json

    try:
        data = json.loads(text, object_pairs_hook=_unique_pairs)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # an int of more than 4300 digits
        digits = re.search(r"[0-9]{1000,}", text)
        raise json.JSONDecodeError(
            f"{exc}".split(";")[0], text, digits.start() if digits else 0
        ) from None
    except _Duplicate as dup:
        position, first = _duplicate_position(text, dup.key)
        raise json.JSONDecodeError(
            f"duplicate key {dup.key!r} (first on line {text.count(chr(10), 0, first) + 1})",
            text,
            position,
        ) from None
    try:
        check_expansion(data)
    except YAMLRefused as exc:
        raise json.JSONDecodeError(exc.problem, text, 0) from None
    return data


def _duplicate_position(text: str, key: str) -> tuple[int, int]:
    """Where the second and the first ``key`` of the first object holding it twice begin.

    Only called on text that is valid JSON but for duplicate keys.
    """
    import re
    from json import JSONDecoder

    decoder = JSONDecoder()
    scanstring: Any = getattr(decoder, "parse_string")  # noqa: B009 - json.decoder.scanstring
    whitespace = re.compile(r"[ \t\n\r]*")

    class Found(Exception):
        pass

    def skip(pos: int) -> int:
        return whitespace.match(text, pos).end()  # type: ignore[union-attr]

    def value(pos: int) -> int:
        pos = skip(pos)
        opening = text[pos : pos + 1]
        if opening not in ("{", "["):
            return decoder.raw_decode(text, pos)[1]
        closing = "}" if opening == "{" else "]"
        seen: dict[str, int] = {}
        pos = skip(pos + 1)
        if text[pos] == closing:
            return pos + 1
        while True:
            if opening == "{":
                start = pos
                name, pos = scanstring(text, pos + 1)
                if name in seen and name == key:
                    raise Found(start, seen[name])
                seen[name] = start
                pos = skip(pos) + 1  # the ':'
            pos = skip(value(pos))
            if text[pos] == closing:
                return pos + 1
            pos = skip(pos + 1)  # the ','

    try:
        value(0)
    except Found as found:
        return found.args[0], found.args[1]
    except (RecursionError, ValueError, IndexError):
        pass
    return 0, 0


def dump_yaml(data: Any) -> str:
    """Render plain data (dicts, lists, scalars) as block-style YAML, keys in insertion order."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1000,
    )
