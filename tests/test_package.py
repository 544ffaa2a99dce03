"""The package surface: exports, lightness of ``import naga``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


FAST_PATH = """
import sys
from naga import clicfg

class Config:
    param = 1
    save_dir = sys.argv.pop()

@clicfg(config_class=Config)
def main(cfg):
    print(cfg.param)

if __name__ == "__main__":
    main()
    heavy = ("argparse", "pathlib", "yaml", "typing", "inspect", "dataclasses", "tempfile", "xxhash")
    print(" ".join(m for m in heavy if m in sys.modules) or "light")
"""


def test_command_line_fast_path_imports_nothing_heavy(tmp_path: Path) -> None:
    # `python process.py -o param=10` (config.json saved included) must cost little more than a
    # bare argparse script: none of these modules (each 1-15 ms to import) may be on its path.
    (tmp_path / "process.py").write_text(FAST_PATH)
    done = subprocess.run(
        [sys.executable, "process.py", "-o", "param=10", str(tmp_path / "out")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["10", "light"]
    assert (tmp_path / "out" / "config.json").is_file()


BLOCKED = """
import runpy, sys
sys.modules[sys.argv.pop(1)] = None  # as on a machine where this extra is not installed
if sys.argv[1] == "naga":
    from naga.cli import main
    sys.exit(main(sys.argv[2:]))
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

SWEEP = """
from naga import clicfg

class Config:
    param = 1

@clicfg(config_class=Config)
def main(cfg):
    pass

if __name__ == "__main__":
    main()
"""


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        (
            "submitit",
            ["sweep.py", "--slurm_config", "s.yaml"],
            'needs submitit, which is not installed here: pip install "naga-runs[slurm]"',
        ),
        (
            "distributed",
            ["sweep.py", "--dask"],
            'needs distributed, which is not installed here: pip install "naga-runs[dask]"',
        ),
        (
            "mlflow",
            ["naga", "log", "run"],
            'mlflow_lock needs mlflow, which is not installed here: pip install "naga-runs[mlflow]"',
        ),
    ],
)
def test_a_missing_extra_is_named(
    tmp_path: Path, module: str, args: list[str], message: str
) -> None:
    (tmp_path / "sweep.py").write_text(SWEEP)
    (tmp_path / "tasks.txt").write_text("1\n")
    (tmp_path / "s.yaml").write_text("time: 5\n")
    (tmp_path / "run").mkdir()
    if args[0] == "sweep.py":
        args = [*args, "--tasks", "tasks.txt", "--task_to", "param"]
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED, module, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and message in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "s.yaml", "sweep.py", "tasks.txt"]
