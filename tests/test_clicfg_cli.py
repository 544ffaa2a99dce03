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


def _git_project(tmp_path: Path) -> Path:
    """A copy of examples/quickstart committed in a fresh git repository."""
    project = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, project)
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-q", "-m", "init"],
    ):
        subprocess.run(["git", *args], cwd=project, check=True, env=env, capture_output=True)
    return project


def test_run_lock_and_config_json_follow_the_umask(tmp_path: Path) -> None:
    # Issue 14.10: both were forced to 0644, readable by everyone under `umask 077`.
    project = _git_project(tmp_path)
    done = subprocess.run(
        [sys.executable, "process.py"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=lambda: os.umask(0o077),  # in the child only
    )
    assert done.returncode == 0, done.stderr
    for name in ("run.lock", "config.json"):
        assert (project / "results/process" / name).stat().st_mode & 0o777 == 0o600, name


@pytest.mark.skipif(not os.path.isdir("/sys"), reason="needs Linux's /sys, unwritable even to root")
def test_an_unwritable_save_dir_is_a_clean_error(project: Path) -> None:
    # Issue 14.13: an OSError traceback while writing config.json.
    done = run(project, "-o", "save_dir=/sys/naga-test/run")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(
        "process.py: error: cannot write config.json in save_dir '/sys/naga-test/run': "
    )
    assert (
        "Give a folder you can write to (-o save_dir=PATH), or make '/sys' writable." in done.stderr
    )


def test_an_alias_bomb_is_refused_quickly(project: Path) -> None:
    # Issue 14.12: ran for over a minute and took 4 GB; the timeout only guards against that.
    text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    (project / "bomb.yml").write_text(text)
    done = run_script(project, "process.py", "--config", "bomb.yml", timeout=60)
    assert done.returncode == 2
    assert "config file 'bomb.yml' is refused: its aliases (*name) expand" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["-o", "param=3", "-o", "save_dir=results/ip"],
        ["--", "-o", "param=3", "save_dir=results/ip"],
    ],
    ids=["repeated -o", "after --"],
)
def test_ipython_forms_with_several_overrides(project: Path, args: list[str]) -> None:
    # Issue 14.16: `ipython -i process.py -o a=1 b=2` is refused by IPython's own parser before
    # the script runs; the documented forms must work.
    ipython = shutil.which("ipython", path=os.path.dirname(sys.executable))
    if ipython is None:
        pytest.skip("IPython is not installed (the debug extra)")
    env = {**os.environ, "IPYTHONDIR": str(project / ".ipython")}
    done = subprocess.run(
        [ipython, "--no-banner", "--simple-prompt", "-i", "process.py", *args],
        cwd=project,
        input="exit\n",
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert "Running with param: 3" in done.stdout, done.stdout + done.stderr
    assert (project / "results/ip/out.txt").read_text() == "some data" * 3
