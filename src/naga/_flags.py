"""Command-line flags spelled both ways: ``--dry_run`` and ``--dry-run``.

In the bottom layer, so that the ``@clicfg`` command lines (naga.config) and the ``naga``
command (naga.cli) accept the same spellings through one piece of code.
"""

from __future__ import annotations

__all__ = ["flag_names"]


def flag_names(name: str) -> list[str]:
    """The option strings of flag ``name``, for argparse's ``add_argument``.

    Config fields are written with underscores and shell flags usually with dashes, so every
    flag answers to both. The underscore spelling comes first: argparse names the flag after
    it in usage lines and messages, matching the field it sets.

    Example:
        >>> flag_names("dry_run")
        ['--dry_run', '--dry-run']
        >>> flag_names("force")
        ['--force']
    """
    names = [f"--{name}"]
    if "_" in name:
        names.append(f"--{name.replace('_', '-')}")
    return names
