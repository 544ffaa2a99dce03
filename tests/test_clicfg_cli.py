"""clicfg through real processes: the seed README's commands, bad inputs, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run_script

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart"

SCRIPT = '''
from pathlib import Path
from naga import clicfg

class Config:
    param = 1  # how many copies
    input_path = 'data/preprocess/input.csv'
    save_dir = 'results/process'

def process(cfg):
    print(f"Running with param: {cfg.param}")
    Path(cfg.input_path).parent.mkdir(parents=True, exist_ok=True)
    Path(cfg.input_path).write_text("some data")
    output_path = Path(cfg.save_dir) / 'out.txt'
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(Path(cfg.input_path).read_text() * cfg.param)

def helper(cfg):
    raise RuntimeError("boom in user code")

@clicfg(config_class=Config)
def main(cfg: Config):
    """Main entry point for the process."""
    if cfg.param < 0:
        helper(cfg)
    process(cfg)

if __name__ == '__main__':
    main()
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "process.py").write_text(SCRIPT)
    shutil.copytree(QUICKSTART / "conf", tmp_path / "conf")
    return tmp_path


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_script(project, "process.py", *args)


def test_seed_commands(project: Path) -> None:
    assert run(project).returncode == 0
    assert (project / "results/process/out.txt").read_text() == "some data"
    done = run(project, "-o", "param=10")
    assert done.returncode == 0, done.stderr
    assert "Running with param: 10" in done.stdout
    assert (project / "results/process/out.txt").read_text() == "some data" * 10
    assert json.loads((project / "results/process/config.json").read_text())["param"] == 10
    done = run(project, "--config", "conf/my_config.yml")
    assert done.returncode == 0, done.stderr
    assert (project / "results/my_config/out.txt").read_text() == "some data" * 2
    done = run(project, "--config", "conf/multi_stage.yml", "--experiment", "process_v2")
    assert done.returncode == 0, done.stderr
    assert (project / "results/process_v2/out.txt").read_text() == "some data" * 2
    done = run(project, "--n-jobs", "1", "--print_config", "-o", "param=3")
    assert done.stdout.splitlines()[0] == "param: 3"


@pytest.mark.parametrize(
    ("args", "files", "message"),
    [
        (["-o", "param=abc"], {}, "-o param=abc: param expects int, got 'abc'"),
        (["-o", "parm=3"], {}, "no key 'parm'. Did you mean 'param'?"),
        (["-o", "param"], {}, "an override is KEY=VALUE"),
        (["-o", "=3"], {}, "-o =3: the key is missing; write -o KEY=3"),
        (
            ["--config", "bad.yml"],
            {"bad.yml": "param: 1\nx: [1,\n"},
            "bad.yml' line 3 is not valid YAML",
        ),
        (["--config", "nope.yml"], {}, "config file 'nope.yml' does not exist"),
        (
            ["--config", "conf/multi_stage.yml", "--experiment", "process_v9"],
            {},
            "no experiment 'process_v9'. Did you mean 'process_v2'? Available: base, process_v1, process_v2",
        ),
        (
            ["--config", "cyc.yml", "--experiment", "a"],
            {"cyc.yml": "a:\n  defaults: [b]\nb:\n  defaults: [a]\n"},
            "cycle",
        ),
        (
            ["--config", "ref.yml", "--experiment", "a"],
            {"ref.yml": "a:\n  param: ${b.param}\n"},
            "points nowhere",
        ),
    ],
)
def test_bad_input_exits_2_cleanly(
    project: Path, args: list[str], files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (project / name).write_text(text)
    done = run(project, *args)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("process.py: error: "), done.stderr
    assert message in lines[0]
    assert not (project / "results").exists()


def test_user_exception_keeps_its_traceback(project: Path) -> None:
    done = run(project, "-o", "param=-1")
    assert done.returncode == 1
    assert "RuntimeError: boom in user code" in done.stderr
    assert 'in helper\n    raise RuntimeError("boom in user code")' in done.stderr
    assert "During handling" not in done.stderr


def test_help_shows_fields(project: Path) -> None:
    done = run(project, "--help")
    assert done.returncode == 0
    assert "param (int, default 1)" in done.stdout and "how many copies" in done.stdout
    assert "Main entry point for the process." in done.stdout


def test_imported_module_parses_nothing(project: Path) -> None:
    code = "import sys; sys.argv = ['x', '-o', 'param=oops']; import process; process.main(param=2)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Running with param: 2" in done.stdout


def test_ipython_i_parses_argv(project: Path) -> None:
    ipython = shutil.which("ipython", path=os.path.dirname(sys.executable))
    if ipython is None:
        pytest.skip("IPython is not installed (the debug extra)")
    env = {**os.environ, "IPYTHONDIR": str(project / ".ipython")}
    done = subprocess.run(
        [ipython, "--no-banner", "--simple-prompt", "-i", "process.py", "-o", "param=3"],
        cwd=project,
        input="exit\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert "Running with param: 3" in done.stdout, done.stdout + done.stderr
    assert (project / "results/process/out.txt").read_text() == "some data" * 3
