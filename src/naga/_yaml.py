"""YAML reading and writing shared by every part of naga (libyaml's C classes when present)."""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["YAMLError", "dump_yaml", "load_yaml", "yaml_problem"]

YAMLError = yaml.YAMLError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_yaml(text: str) -> Any:
    """Parse YAML text with the safe loader; raises ``yaml.YAMLError`` (with a line) when malformed."""
    return yaml.load(text, Loader=_Loader)


def yaml_problem(exc: Exception) -> tuple[str, str]:
    """Where and what a ``YAMLError`` says: ``(" line 3", "could not find expected ':'")``."""
    mark = getattr(exc, "problem_mark", None)
    line = f" line {mark.line + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return line, str(problem)


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
