"""``--sweep KEY=V1,V2,...``: grids on the command line, their cartesian product as tasks.

Pure text handling, tested with tables. A value is text typed later like an ``-o`` value (by the
config's own ``apply_text``), so ``lr=0.1,1e-3`` gives floats and ``name=a,b`` strings. Commas
inside brackets, braces, parentheses or quotes belong to the value::

    --sweep 'lr=0.1,0.01' 'model.layers=[64],[128, 128]' 'name="a,b",c'

is the grid ``lr`` in (0.1, 0.01) times ``model.layers`` in ([64], [128, 128]): four tasks.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from naga._errors import TaskError

__all__ = ["grid_points", "parse_grid", "split_values"]

_OPEN = {"[": "]", "{": "}", "(": ")"}
_CLOSE = {v: k for k, v in _OPEN.items()}


def split_values(text: str, where: str) -> list[str]:
    """``text`` cut at its top-level commas, each value stripped.

    Raises:
        TaskError: A bracket or quote is left open or closed twice, or a value is empty.

    Example:
        >>> split_values("[64],[128, 128],'a,b'", "--sweep x")
        ['[64]', '[128, 128]', "'a,b'"]
    """
    values: list[str] = []
    stack: list[str] = []
    quote: str | None = None
    start = 0
    for index, char in enumerate(text):
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in _OPEN:
            stack.append(char)
        elif char in _CLOSE:
            if not stack or stack[-1] != _CLOSE[char]:
                raise TaskError(
                    f"{where}: '{char}' at character {index + 1} closes nothing: balance the "
                    f"brackets, or quote a value that holds one ('a]b').",
                    value=text,
                )
            stack.pop()
        elif char == "," and not stack:
            values.append(text[start:index])
            start = index + 1
    if quote is not None or stack:
        left = quote if quote is not None else stack[-1]
        raise TaskError(f"{where}: '{left}' is never closed: close it.", value=text)
    values.append(text[start:])
    values = [value.strip() for value in values]
    if any(not value for value in values):
        raise TaskError(
            f"{where}: an empty value (two commas in a row, or one at an end): remove it, or "
            f"write '' for an empty text.",
            value=text,
        )
    return values


def parse_grid(spec: str) -> tuple[str, list[str]]:
    """``KEY=V1,V2`` -> ``(KEY, [V1, V2])``.

    Example:
        >>> parse_grid("model.layers=[64],[128]")
        ('model.layers', ['[64]', '[128]'])
    """
    key, sep, text = spec.partition("=")
    key = key.strip()
    if not sep or not key:
        raise TaskError(
            f"--sweep {spec}: a grid is KEY=V1,V2,... (for example --sweep lr=0.1,0.01).",
            value=spec,
        )
    return key, split_values(text, f"--sweep {spec}")


def grid_points(specs: Sequence[str]) -> list[dict[str, str]]:
    """The cartesian product of the grids, in the order given (the first grid varies slowest);
    each point a ``{key: text}`` with its keys sorted, so a point reads the same whatever the
    order of the grids.

    Raises:
        TaskError: A grid is malformed, or two grids name the same key.

    Example:
        >>> grid_points(["lr=0.1,0.01", "depth=2"])
        [{'depth': '2', 'lr': '0.1'}, {'depth': '2', 'lr': '0.01'}]
    """
    grids: dict[str, list[str]] = {}
    for spec in specs:
        key, values = parse_grid(spec)
        name = key.lstrip("+")
        if name in {k.lstrip("+") for k in grids}:
            raise TaskError(
                f"--sweep {spec}: '{name}' has a grid already: give all its values in one "
                f"--sweep {name}=V1,V2,...",
                key=name,
            )
        grids[key] = list(dict.fromkeys(values))
    keys = list(grids)
    return [
        dict(sorted(zip(keys, combination, strict=True)))
        for combination in itertools.product(*(grids[k] for k in keys))
    ]
