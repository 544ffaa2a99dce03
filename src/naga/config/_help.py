"""``--help``: the flags, then every config field with its type, default and comment."""

from __future__ import annotations

from typing import Any

from naga.config._schema import MISSING, ConfigSpec
from naga.config._values import type_name

__all__ = ["field_comments", "render_help"]


def render_help(command: Any, prog: str) -> str:
    """The full help text of a clicfg command."""
    from naga.config._argv import build_parser

    description = (command.__doc__ or "").strip() or None
    lines = [
        build_parser(prog, description).format_help().rstrip(),
        "",
        "config fields (set with -o KEY=VALUE):",
    ]
    lines += _field_lines(command.spec, "")
    lines += [
        "",
        "examples:",
        f"  python {prog} -o param=10",
        f"  python {prog} --config conf/my_config.yml",
        f"  python {prog} --config conf/multi_stage.yml --experiment process_v2",
        f"  python {prog} --tasks tasks.txt --task_to param --n_jobs=3",
    ]
    return "\n".join(lines)


def _field_lines(spec: ConfigSpec, prefix: str) -> list[str]:
    comments = field_comments(spec)
    out: list[str] = []
    for name, field in spec.fields.items():
        key = prefix + name
        if field.nested is not None:
            note = f"  {comments[name]}" if name in comments else ""
            out.append(f"  {key}: nested config{note}")
            out += _field_lines(field.nested, key + ".")
            continue
        default = "required" if field.default is MISSING else f"default {field.default!r}"
        kind = type_name(field.hint) if field.hint is not None else "any"
        line = f"  {key} ({kind}, {default})"
        if name in comments:
            line = f"{line:<48} {comments[name]}"
        out.append(line)
    return out


def field_comments(spec: ConfigSpec) -> dict[str, str]:
    """Each field's ``# comment`` (same line) or attribute docstring, read from the source."""
    klass: Any = spec.target if isinstance(spec.target, type) else type(spec.target)
    found: dict[str, str] = {}
    if spec.kind == "pydantic":
        for name, info in klass.model_fields.items():
            if info.description:
                found[name] = info.description
    if spec.kind == "dict" or klass is None:
        return found
    for base in reversed(klass.__mro__[:-1]):
        found.update(_source_comments(base))
    return found


def _source_comments(klass: type) -> dict[str, str]:
    import ast
    import inspect
    import io
    import textwrap
    import tokenize

    try:
        source = textwrap.dedent(inspect.getsource(klass))
    except (OSError, TypeError):
        return {}
    comments: dict[int, str] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):
        return {}
    try:
        body = ast.parse(source).body[0]
    except SyntaxError:
        return {}
    out: dict[str, str] = {}
    statements = getattr(body, "body", [])
    for index, node in enumerate(statements):
        names = _assigned_names(node)
        if not names:
            continue
        text = comments.get(node.end_lineno or node.lineno) or comments.get(node.lineno)
        following = statements[index + 1] if index + 1 < len(statements) else None
        if (
            following is not None
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            text = inspect.cleandoc(following.value.value)
        if text:
            for name in names:
                out[name] = text
    return out


def _assigned_names(node: Any) -> list[str]:
    import ast

    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.ClassDef):
        return [node.name]
    return []
