"""Config files judged by value from the command line, with the config layer loaded lazily.

``naga status`` (and ``ls``, ``dag``, ``tasks``) judge a run's config files by the values they
gave it (``naga.config._replay``). The config layer costs ~7 ms to import, so it is imported
only when a judgement needs it: a config file changed since the run.
"""

from __future__ import annotations

from typing import Any

from naga._provenance import replayer, set_replayer

__all__: list[str] = []


def _replay_config_files(*args: Any) -> dict[str, Any]:
    """``naga.config``'s replay, imported on first use (it registers itself in place of this)."""
    import naga.config  # noqa: F401

    real = replayer()
    assert real is not None and real is not _replay_config_files
    return real(*args)


if replayer() is None:
    set_replayer(_replay_config_files)
