"""Lazy exports: a package's public names imported on first use, so ``import naga`` (and a
command that needs one part of a package) does not pay for the rest."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package``.

    Args:
        package: The package's name (``__name__``).
        exports: Public name -> the module that defines it (absolute, or relative to
            ``package`` when it starts with ``_``).
        namespace: The package's ``globals()``: a name is cached there once imported.

    Example:
        >>> getattr_, dir_ = lazy_exports("naga", {"runlock": "naga.lock"}, {})
        >>> getattr_("runlock").__name__
        'runlock'
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute {name!r}")
        if module.startswith("_"):
            module = f"{package}.{module}"
        # __import__ rather than importlib: importing importlib costs start-up time.
        value = getattr(__import__(module, fromlist=[name]), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted([*namespace, *exports])

    return __getattr__, __dir__
