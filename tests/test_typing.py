"""Types reach users: a user's mypy sees ``@clicfg`` and ``@unsafe_debug`` functions typed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

USER_SCRIPT = """
from dataclasses import dataclass

from naga import clicfg, runlock, unsafe_debug


@dataclass
class Config:
    param: int = 1


@clicfg(config_class=Config)
def main(cfg: Config) -> int:
    return cfg.param


@clicfg
def bare(cfg: Config) -> str:
    return str(cfg.param)


@unsafe_debug
@clicfg(config_class=Config)
def debugged(cfg: Config) -> float:
    return float(cfg.param)


a: int = main(Config())
b: int = main()
c: int = main(argv=["-o", "param=3"])
d: str = bare(Config())
e: float = debugged(Config())
f: float = debugged()
"""

WRONG = """
g: int = main("not a config")
h: str = main(Config())
"""


def _mypy(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "user_script.py"
    script.write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_correct_user_script_type_checks(tmp_path: Path) -> None:
    done = _mypy(tmp_path, USER_SCRIPT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success" in done.stdout


def test_wrong_argument_types_are_reported(tmp_path: Path) -> None:
    source = USER_SCRIPT + WRONG
    done = _mypy(tmp_path, source)
    assert done.returncode == 1, done.stdout
    lines = done.stdout.splitlines()
    numbers = {line.split(":", 1)[0]: n for n, line in enumerate(source.splitlines(), 1) if line}
    # main("not a config"): no signature of main takes a str.
    wrong_arg = f":{numbers['g']}:"
    assert any(wrong_arg in line and 'matches argument type "str"' in line for line in lines), lines
    # main(...) returns int, not str: the return type is the function's own.
    wrong_ret = f":{numbers['h']}:"
    assert any(wrong_ret in line and 'expression has type "int"' in line for line in lines), lines
    assert len([line for line in lines if ": error:" in line]) == 2, lines


def test_the_package_ships_py_typed() -> None:
    import naga

    assert (Path(naga.__file__).parent / "py.typed").is_file()
    assert shutil.which("git")  # the receipts' tests need it too; a clear failure if not
