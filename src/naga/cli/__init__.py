"""The ``naga`` command: ``status``, ``diff``, ``ls`` and ``log`` of recorded runs."""

from naga.cli import _replay  # noqa: F401  (config files judged by value, config loaded lazily)
from naga.cli._main import main

__all__ = ["main"]
