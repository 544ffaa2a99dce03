"""The files a user names on a command line (``--config``, ``--tasks``): read and parsed.

In the bottom layer, so that config files (naga.config) and tasks files (naga.launch) fail
alike: each failure is the caller's :class:`~naga._errors.NagaError` subclass, with a message
that names the file, says what is wrong with it and ends with the fix.
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from naga._errors import NagaError

__all__ = ["parse_json", "parse_yaml", "read_text"]


def read_text(
    path: str,
    error: type[NagaError],
    *,
    what: str,
    flag: str,
    expected: str,
    file: str | os.PathLike[str] | None = None,
    newline: str | None = None,
) -> str:
    """The text of the UTF-8 file ``path`` that the user gave to ``flag``.

    Args:
        path: The file as the user wrote it; messages and the error's ``path`` name it so.
        error: The error class to raise (``ConfigError``, ``TaskError``).
        what: What the file is, for messages (``"config file"``).
        flag: The flag that takes it (``"--config"``).
        expected: What ``flag`` takes, said when given a folder (``"a YAML or JSON file"``).
        file: What to open, when not ``path`` as written: config files are opened through
            :class:`pathlib.Path`, which drops a trailing slash and reads ``""`` as ``.``.
        newline: As :func:`open`'s: None turns every line end into ``\\n``; ``""`` keeps
            them as written (a CSV cell may hold one).

    Raises:
        error: The file is a folder, does not exist, cannot be read or is not UTF-8.
    """
    opened = path if file is None else file
    try:
        is_folder = stat.S_ISDIR(os.stat(opened).st_mode)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        if isinstance(exc, OSError) and exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            # A folder on the way that cannot be searched: the file may well exist.
            raise error(f"cannot read {what} '{path}': {exc.strerror or exc}.", path=path) from exc
        raise error(
            f"{what} '{path}' does not exist: check the path given to {flag}.", path=path
        ) from None
    if is_folder:
        raise error(f"{what} '{path}' is a folder, not a file: give {flag} {expected}.", path=path)
    try:
        with open(opened, encoding="utf-8", newline=newline) as handle:
            return handle.read()
    except UnicodeDecodeError as exc:
        raise error(
            f"{what} '{path}' is not UTF-8 text ({exc.reason} at byte {exc.start}): save "
            f"it as UTF-8.",
            path=path,
        ) from exc
    except OSError as exc:
        raise error(f"cannot read {what} '{path}': {exc.strerror or exc}.", path=path) from exc


def parse_json(text: str, path: str, error: type[NagaError], *, what: str) -> Any:
    """``text`` (the file ``path``) read as JSON by :func:`naga._yaml.load_json`.

    Raises:
        error: The text is not valid JSON (the message names the line).
    """
    import json

    from naga._yaml import load_json

    try:
        return load_json(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{what} '{path}' line {exc.lineno} is not valid JSON: {exc.msg}. Fix that line.",
            path=path,
            line=exc.lineno,
        ) from exc


def parse_yaml(text: str, path: str, error: type[NagaError], *, what: str) -> Any:
    """``text`` (the file ``path``) read as YAML by :func:`naga._yaml.load_yaml`.

    Raises:
        error: The text is not valid YAML (a key written twice too), or is YAML that naga
            refuses (``!!binary``, an alias bomb); the message names the line when known.
    """
    from naga._yaml import YAMLError, YAMLRefused, load_yaml, yaml_problem

    try:
        return load_yaml(text)
    except YAMLError as exc:
        where, problem = yaml_problem(exc)
        line = int(where.split()[-1]) if where else None
        if isinstance(exc, YAMLRefused):
            message = f"{what} '{path}'{where} is refused: {problem}."
        else:
            message = f"{what} '{path}'{where} is not valid YAML: {problem}. Fix that line."
        raise error(message, path=path, line=line) from exc
