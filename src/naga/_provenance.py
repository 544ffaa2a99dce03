"""Where a config object built by ``@clicfg`` came from, for ``runlock``'s ``config_sources``.

The bottom layer: ``config`` records, ``lock`` reads, neither imports the other.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["provenance_of", "remember", "replayer", "set_replayer"]

#: Keyed by ``id``; the object itself is kept with its entry so that an id is never reused while
#: listed.
_PROVENANCE: dict[int, tuple[Any, dict[str, Any]]] = {}
_PROVENANCE_MAX = 256


def provenance_of(config: Any) -> dict[str, Any] | None:
    """Where a config object made by ``@clicfg`` came from: ``{files, experiment, overrides}``.

    Returns None for an object clicfg did not build.
    """
    entry = _PROVENANCE.get(id(config))
    return entry[1] if entry is not None and entry[0] is config else None


def remember(config: Any, provenance: dict[str, Any] | None) -> None:
    """Record where ``config`` came from (nothing when ``provenance`` is None)."""
    if provenance is None:
        return
    if len(_PROVENANCE) >= _PROVENANCE_MAX:
        _PROVENANCE.pop(next(iter(_PROVENANCE)))
    _PROVENANCE[id(config)] = (config, provenance)


#: How the config layer computes what a run's config files gave it (``naga.config._replay``),
#: registered when that layer is imported; the lock layer's judgement calls it through here.
_REPLAYER: list[Callable[..., dict[str, Any]]] = []


def set_replayer(replayer: Callable[..., dict[str, Any]]) -> None:
    """Register the function that computes a run's ``config_sources.taken`` values."""
    _REPLAYER[:] = [replayer]


def replayer() -> Callable[..., dict[str, Any]] | None:
    """The registered function (None until ``naga.config`` is imported)."""
    return _REPLAYER[0] if _REPLAYER else None
