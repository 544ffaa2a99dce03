"""The ``naga`` command: ``status``, ``diff``, ``ls`` and ``log`` of recorded runs."""

from naga.cli._main import main

__all__ = ["main"]
