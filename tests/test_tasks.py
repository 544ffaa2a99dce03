"""Task sweeps on real local worker processes."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import SLOW_SCRIPT, run_script
from naga._errors import TaskError
from naga._yaml import load_yaml
from naga.launch import SweepOptions
from naga.launch._sources import load_tasks

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart"

SCRIPT = """
import os, sys
from pathlib import Path
from naga import clicfg, unsafe_debug

class Config:
    param = 1
    name = "x"
    save_dir = "results/sweep"

@unsafe_debug
@clicfg(config_class=Config)
def main(cfg: Config):
    out = Path(cfg.save_dir)
    out.mkdir(parents=True, exist_ok=True)
    print(f"task {cfg.param} {cfg.name}")
    (out / "result.txt").write_text(f"{cfg.param} {cfg.name} {os.environ.get('NAGA_WORKER')} {sys.stdin.read()!r}")
    if cfg.param == 13:
        raise ValueError("unlucky thirteen")
    if cfg.param == 9 and not Path("heal").exists():
        os.kill(os.getpid(), 9)

if __name__ == "__main__":
    main()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "sweep.py").write_text(SCRIPT)
    return tmp_path


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_script(project, "sweep.py", *args)


def test_seed_sweep_keeps_every_task_output(tmp_path: Path) -> None:
    for name in ("process.py", ".gitignore"):
        shutil.copy(QUICKSTART / name, tmp_path / name)
    for args in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "i"],
    ):
        subprocess.run(args, cwd=tmp_path, check=True)
    (tmp_path / "tasks.txt").write_text("1\n2\n3\n")
    done = subprocess.run(
        [sys.executable, "process.py", "--tasks", "tasks.txt", "--task_to", "param", "--n_jobs=3"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    for n in (1, 2, 3):
        folder = tmp_path / "results" / "process" / f"param={n}"
        assert (folder / "out.txt").read_text() == "some data" * n
        assert load_yaml((folder / "run.lock").read_text())["config"]["param"] == n
    state = load_yaml((tmp_path / "results/process/tasks.yaml").read_text())
    assert [t["status"] for t in state["tasks"]] == ["done"] * 3


def test_failures_are_isolated_summarised_and_rerun(project: Path) -> None:
    (project / "tasks.txt").write_text("# a comment\n1\n\n13\n9\n4\n")
    done = run(project, "--tasks", "tasks.txt", "--task-to", "param", "--n-jobs", "2")
    assert done.returncode == 1
    results = project / "results" / "sweep"
    assert (
        results / "param=1" / "result.txt"
    ).read_text() == "1 x 1 ''"  # NAGA_WORKER=1, stdin empty
    assert (results / "param=4" / "result.txt").read_text().startswith("4 x")
    assert "FAILED param=13: ValueError: unlucky thirteen" in done.stderr
    assert "FAILED param=9: worker process killed by SIGKILL" in done.stderr
    assert f"log: {(results / 'logs' / 'param=13.log').resolve()}" in done.stderr
    log = (results / "logs" / "param=13.log").read_text()
    assert "task 13 x" in log and "Traceback" in log and "unlucky thirteen" in log
    state = {t["label"]: t for t in load_yaml((results / "tasks.yaml").read_text())["tasks"]}
    assert state["param=13"]["status"] == "failed" and state["param=1"]["status"] == "done"

    # Rerun: only the unfinished tasks run again (keyed on the resolved config, not the line).
    (project / "heal").write_text("")
    (results / "param=1" / "result.txt").unlink()
    (project / "tasks.txt").write_text("4\n9\n1\n13\n")
    again = run(project, "--tasks", "tasks.txt", "--task_to", "param", "--n_jobs", "2")
    assert again.returncode == 1
    assert "2 skipped" in again.stderr and "FAILED param=13" in again.stderr
    assert "param=9" not in again.stderr.split("failed.")[-1]
    assert not (results / "param=1" / "result.txt").exists()
    assert (results / "param=9" / "result.txt").exists()


def test_dict_tasks_merge_at_the_root_with_unique_dirs(project: Path) -> None:
    (project / "tasks.csv").write_text("param,name\n1,a/b\n2,with space\n3," + "l" * 120 + "\n")
    done = run(project, "--tasks", "tasks.csv", "--n_jobs", "2")
    assert done.returncode == 0, done.stderr
    dirs = sorted(
        p.name for p in (project / "results" / "sweep").iterdir() if p.name.startswith("param")
    )
    assert dirs[0] == "param=1,name=a_b" and dirs[1] == "param=2,name=with_space"
    assert len(dirs[2]) < 100
    assert (project / "results/sweep" / dirs[0] / "result.txt").read_text().startswith("1 a/b")
    (project / "tasks.yaml").write_text("- {param: 5, name: y}\n- {param: 5, name: 'y'}\n")
    # Two tasks with the same resolved config are one task: it runs once.
    done = run(project, "--tasks", "tasks.yaml")
    assert done.returncode == 0, done.stderr
    assert (project / "results/sweep/param=5,name=y/result.txt").exists()


@pytest.mark.parametrize(
    ("files", "args", "message"),
    [
        ({}, ["--tasks", "nope.txt", "--task_to", "param"], "tasks file 'nope.txt' does not exist"),
        (
            {"t.txt": "# only a comment\n\n"},
            ["--tasks", "t.txt", "--task_to", "param"],
            "has no tasks",
        ),
        (
            {"t.txt": "1\nabc\n"},
            ["--tasks", "t.txt", "--task_to", "param"],
            "t.txt line 2: param expects int, got 'abc'",
        ),
        (
            {"t.txt": "1\\n2\\n3\n"},
            ["--tasks", "t.txt", "--task_to", "param"],
            "printf '1\\n2\\n3\\n' > t.txt",
        ),
        (
            {"t.txt": "1\n"},
            ["--tasks", "t.txt", "--task_to", "parm"],
            "no key 'parm'. Did you mean 'param'? `--help` lists every key.",
        ),
        ({}, ["--tasks_key", "param"], "holds 1, not a list of tasks: point --tasks_key at a list"),
        ({"t.txt": "1\n"}, ["--tasks", "t.txt"], "say which config key it sets with --task_to"),
        ({"t.yaml": "a: [\n"}, ["--tasks", "t.yaml"], "t.yaml' line 2 is not valid YAML"),
        (
            {"t.txt": "1\n"},
            ["--tasks", "t.txt", "--task_to", "param", "--slurm_config", "s.yaml"],
            "--slurm_config",
        ),
    ],
)
def test_bad_task_input_exits_2_and_starts_nothing(
    project: Path, files: dict[str, str], args: list[str], message: str
) -> None:
    for name, text in files.items():
        (project / name).write_text(text)
    done = run(project, *args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweep.py: error: "), done.stderr
    assert message in lines[0]
    assert not (project / "results").exists()


@pytest.mark.parametrize(
    ("name", "text", "values"),
    [
        ("t.txt", "1\n# c\n\n x \n", ["1", "x"]),
        ("t.json", '[1, {"a": 2}]', [1, {"a": 2}]),
        ("t.yml", "- 1\n- [2, 3]\n", [1, [2, 3]]),
        ("t.tsv", "a\tb\n1\tx\n", [{"a": "1", "b": "x"}]),
    ],
)
def test_sources(tmp_path: Path, name: str, text: str, values: list[object]) -> None:
    (tmp_path / name).write_text(text)
    tasks = load_tasks(SweepOptions(tasks=str(tmp_path / name)), {})
    assert [t.value for t in tasks] == values


def test_tasks_key(tmp_path: Path) -> None:
    tasks = load_tasks(SweepOptions(tasks_key="grid.lr"), {"grid": {"lr": [0.1, 0.2]}})
    assert [t.value for t in tasks] == [0.1, 0.2] and tasks[1].origin == "grid.lr[1]"
    with pytest.raises(TaskError, match="not a list"):
        load_tasks(SweepOptions(tasks_key="grid"), {"grid": {"lr": 1}})


def test_progress_is_plain_lines_without_a_terminal(project: Path) -> None:
    (project / "tasks.txt").write_text("1\n2\n13\n")
    done = run(project, "--tasks", "tasks.txt", "--task_to", "param", "--n_jobs", "2")
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("naga: ")]
    assert any(line.startswith("naga: done param=1 [") for line in lines)
    assert any(line.startswith("naga: FAILED param=13 [") for line in lines)
    assert any("[3/3] done 2, failed 1, running 0" in line for line in lines)
    assert "\r" not in done.stderr and "\x1b[" not in done.stderr


def test_progress_bar_on_a_terminal(project: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    (project / "tasks.txt").write_text("1\n2\n13\n")
    child = pexpect.spawn(
        sys.executable,
        ["sweep.py", "--tasks", "tasks.txt", "--task_to", "param", "--n_jobs", "2"],
        cwd=str(project),
        encoding="utf-8",
        timeout=120,
        dimensions=(24, 160),
    )
    child.logfile_read = io.StringIO()
    child.expect_exact("done 2, failed 1, running 0")  # the bar's last state
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1
    output = child.logfile_read.getvalue()
    assert "naga tasks" in output and "3/3" in output and "\x1b[" in output  # drawn, coloured
    assert "naga: done param=1" not in output  # no plain lines on a terminal
    assert "FAILED param=13: ValueError: unlucky thirteen" in output


@pytest.mark.parametrize("whole_group", [True, False], ids=["ctrl-c", "parent-only"])
def test_ctrl_c_stops_the_sweep_cleanly_and_a_rerun_continues(
    tmp_path: Path, whole_group: bool
) -> None:
    import os
    import signal
    import time

    (tmp_path / "slow.py").write_text(SLOW_SCRIPT)
    (tmp_path / "tasks.txt").write_text("1\n2\n3\n4\n5\n")
    args = [
        sys.executable,
        "slow.py",
        "--tasks",
        "tasks.txt",
        "--task_to",
        "param",
        "--n_jobs",
        "2",
    ]
    proc = subprocess.Popen(
        args, cwd=tmp_path, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not ((tmp_path / "started-3").exists() and (tmp_path / "started-4").exists()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    time.sleep(0.3)  # both long tasks are inside their sleep
    # Ctrl-C in a terminal reaches the whole foreground group; `kill -INT` only the parent.
    os.killpg(proc.pid, signal.SIGINT) if whole_group else proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "naga: interrupted: 2 task(s) done, 0 failed, 3 stopped or not started" in err
    state = load_yaml((tmp_path / "results/slow/tasks.yaml").read_text())["tasks"]
    assert [t["status"] for t in state] == ["done", "done", "interrupted", "interrupted", "pending"]
    for pid in filter(str.isdigit, os.listdir("/proc")):  # no worker of this sweep is left
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        assert not (b"naga.launch._worker" in cmdline and cwd == str(tmp_path))

    (tmp_path / "fast").write_text("")
    again = run_script(tmp_path, "slow.py", *args[2:])
    assert again.returncode == 0, again.stderr
    assert "5 task(s): 3 done, 2 skipped (done before), 0 failed" in again.stderr
