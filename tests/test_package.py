"""The package surface: exports, lightness of ``import naga``."""

from __future__ import annotations

import json
import subprocess
import sys

import naga

HEAVY = ("mlflow", "dask", "distributed", "submitit", "IPython", "rich", "pandas", "git", "loky")


def test_all_is_sorted_and_complete() -> None:
    assert naga.__all__ == sorted(naga.__all__)
    for name in naga.__all__:
        assert getattr(naga, name) is not None


def test_import_naga_and_public_names_stay_light() -> None:
    code = (
        "import sys, json, naga\n"
        "for name in naga.__all__: getattr(naga, name)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert json.loads(out.stdout) == []


def test_unknown_attribute() -> None:
    import pytest

    with pytest.raises(AttributeError):
        naga.not_a_name  # noqa: B018
