"""The values a run's config files gave it, computed again from the files as they are now.

A config file edited after a run (a comment, another experiment, a key the run overrode with
``-o``) may change nothing the run took from it. When a run starts, clicfg records what its
files gave it (``config_sources.taken`` in run.lock: dotted keys of its config, the keys ``-o``
overrode left out); ``naga status`` computes the same from today's files and names the values
that differ, instead of the file.

Both sides run :func:`taken_values`, without the config class (a judgement never imports the
user's script), so they agree whenever the files do. ``${env:VAR}`` stays as written: the
environment of whoever checks a run is not the run's.
"""

from __future__ import annotations

from naga._plain import bare_key, flatten, to_plain, within
from naga._provenance import set_replayer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["defaults_of", "taken_values"]


def taken_values(
    configs: list[str],
    experiment: str | None,
    overrides_file: str | None,
    overrides: list[str],
    config: dict[str, Any],
) -> dict[str, Any]:
    """``{dotted key: value}`` that ``configs`` (the last one's ``experiment``) and the
    ``overrides_file`` give a run whose resolved config is ``config``, as plain data.

    Only the keys of ``config`` count (a file may hold keys for other scripts); the keys the
    ``overrides`` (``-o KEY=VALUE`` items) set, and those under them, are left out: ``-o`` wins.

    Raises:
        ConfigError: A file is missing, unreadable or malformed, or lost the experiment.
    """
    from naga.config._files import interpolate, is_replay, load_config_file, select_experiment

    keys = {bare_key(k) for k in flatten(to_plain(config))}
    parents = {k.rsplit(".", depth)[0] for k in keys for depth in range(1, k.count(".") + 1)}

    def known(dotted: str) -> bool:
        return dotted in keys or dotted in parents

    found: dict[str, Any] = {}
    for index, path in enumerate(configs):
        doc = load_config_file(path)
        if experiment and index == len(configs) - 1:
            doc = select_experiment(doc, experiment, path, known=known, literal_env=True)
        elif not is_replay(path):  # a run's record holds its values as the run took them
            doc = interpolate(doc, root=doc, path=path, literal_env=True)
        found.update(flatten(doc))
    if overrides_file:
        found.update(flatten(load_config_file(overrides_file)))
    overridden = [bare_key(item.partition("=")[0]) for item in overrides]
    return {
        key: to_plain(value)
        for key, value in ((bare_key(k), v) for k, v in found.items())
        if key in keys and not within(key, overridden)
    }


def defaults_of(defaults: dict[str, Any], taken: dict[str, Any]) -> dict[str, Any]:
    """The config class's defaults of the ``taken`` keys, as plain data: the value a key falls
    back to when no file sets it any more (keys without a default are left out)."""
    from naga.config._schema import MISSING

    flat = flatten(defaults)
    return {k: to_plain(flat[k]) for k in taken if k in flat and flat[k] is not MISSING}


set_replayer(taken_values)
