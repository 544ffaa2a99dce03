"""Task sweeps on real local worker processes."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import SLOW_SCRIPT, popen_script, run_script, wait_for
from naga._errors import TaskError
from naga._yaml import load_yaml
from naga.launch import SweepOptions, TaskStatus
from naga.launch._plan import task_labels
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
    if cfg.param == 21:
        raise KeyboardInterrupt  # the task's own: no Ctrl-C happened
    if cfg.param in (22, 23):
        sys.exit(0 if cfg.param == 22 else 4)

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
        (
            {"t.txt": "1\n"},
            ["--tasks", "t.txt", "--task_to", "param", "--task_timeout", "0"],
            "--task_timeout 0.0: give the minutes a task may run, more than 0",
        ),
        ({}, ["--task_timeout", "1"], "--task_timeout needs a task source"),
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


def state_of(folder: Path) -> dict[str, dict[str, str]]:
    return {t["label"]: t for t in load_yaml((folder / "tasks.yaml").read_text())["tasks"]}


def test_a_tasks_own_keyboard_interrupt_or_exit_status_fails_only_that_task(
    project: Path,
) -> None:
    # No Ctrl-C reached the sweep: a task raising KeyboardInterrupt (or SystemExit(4)) failed,
    # sys.exit(0) finished, and the sweep went on to the later tasks.
    (project / "tasks.txt").write_text("21\n22\n23\n1\n")
    done = run(project, "--tasks", "tasks.txt", "--task_to", "param")
    assert done.returncode == 1, done.stderr
    assert "interrupted" not in done.stderr
    assert "FAILED param=21: KeyboardInterrupt\n" in done.stderr
    assert "FAILED param=23: SystemExit: 4" in done.stderr
    assert "4 task(s): 2 done, 0 skipped (done before), 2 failed" in done.stderr
    state = state_of(project / "results" / "sweep")
    assert {label: t["status"] for label, t in state.items()} == {
        "param=21": "failed",
        "param=22": "done",
        "param=23": "failed",
        "param=1": "done",
    }
    assert state["param=21"]["error"] == "KeyboardInterrupt"


@pytest.mark.parametrize(
    ("how", "status", "message"),
    [
        ("ctrl-c", 130, "naga: interrupted: "),
        ("kill -INT", 130, "naga: interrupted: "),
        ("kill", 143, "naga: stopped by SIGTERM: "),
        ("kill -HUP", 129, "naga: stopped by SIGHUP: "),
    ],
)
def test_ctrl_c_or_sigterm_stops_the_sweep_cleanly_and_a_rerun_continues(
    tmp_path: Path, how: str, status: int, message: str
) -> None:
    import os
    import signal
    import time

    (tmp_path / "slow.py").write_text(SLOW_SCRIPT)
    (tmp_path / "tasks.txt").write_text("1\n2\n3\n4\n5\n")
    args = ["--tasks", "tasks.txt", "--task_to", "param", "--n_jobs", "2"]
    proc = popen_script(tmp_path, "slow.py", *args, start_new_session=True)
    started = [tmp_path / "started-3", tmp_path / "started-4"]
    wait_for(lambda: all(path.exists() for path in started), proc, 120)
    time.sleep(0.3)  # both long tasks are inside their sleep
    # Ctrl-C in a terminal reaches the whole foreground group; `kill -INT` only the parent;
    # `kill` (Slurm, systemd) sends SIGTERM.
    sent = {"kill -INT": signal.SIGINT, "kill": signal.SIGTERM, "kill -HUP": signal.SIGHUP}
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(sent[how])
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == status, err
    assert "Traceback" not in err
    assert f"{message}2 task(s) done, 0 failed, 3 stopped or not started" in err
    state = load_yaml((tmp_path / "results/slow/tasks.yaml").read_text())["tasks"]
    assert [t["status"] for t in state] == ["done", "done", "interrupted", "interrupted", "pending"]
    assert workers_of(tmp_path) == []  # no worker of this sweep is left

    (tmp_path / "fast").write_text("")
    again = run_script(tmp_path, "slow.py", *args)
    assert again.returncode == 0, again.stderr
    assert "5 task(s): 3 done, 2 skipped (done before), 0 failed" in again.stderr


def workers_of(folder: Path) -> list[int]:
    """The pids of the worker processes running in ``folder``."""
    import os

    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            cwd = os.readlink(f"/proc/{pid}/cwd")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"naga.launch._worker" in cmdline and cwd == str(folder) and state != "Z":
            found.append(int(pid))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_workers_die_with_a_killed_sweep(tmp_path: Path) -> None:
    import signal
    import time

    (tmp_path / "slow.py").write_text(SLOW_SCRIPT)
    (tmp_path / "tasks.txt").write_text("3\n4\n")
    args = ["--tasks", "tasks.txt", "--task_to", "param", "--n_jobs", "2"]
    proc = popen_script(tmp_path, "slow.py", *args)
    wait_for(lambda: (tmp_path / "started-4").exists(), proc, 120)
    assert len(workers_of(tmp_path)) == 2
    proc.send_signal(signal.SIGKILL)  # no chance to clean up: the kernel stops the workers
    proc.wait(timeout=60)  # (not its stderr's end: a stray worker would hold it open)
    assert proc.stderr is not None
    proc.stderr.close()
    deadline = time.monotonic() + 10
    while workers_of(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert workers_of(tmp_path) == []


def test_tasks_yaml_shows_a_finished_task_within_a_second_or_so(tmp_path: Path) -> None:
    import signal
    import time

    (tmp_path / "slow.py").write_text(SLOW_SCRIPT)
    (tmp_path / "tasks.txt").write_text("1\n2\n3\n")
    proc = popen_script(tmp_path, "slow.py", "--tasks", "tasks.txt", "--task_to", "param")
    try:
        # Task 2 ends a moment after task 1 and task 3 then runs for a minute: a write skipped
        # to keep writes a second apart must still happen, a second later at most.
        wait_for((tmp_path / "started-3").exists, proc, 120)
        finished = time.monotonic()
        statuses: dict[str, str] = {}
        while time.monotonic() < finished + 3:
            state = load_yaml((tmp_path / "results/slow/tasks.yaml").read_text())["tasks"]
            statuses = {t["label"]: t["status"] for t in state}
            if statuses["param=2"] == "done":
                break
            time.sleep(0.05)
        assert statuses == {"param=1": "done", "param=2": "done", "param=3": "running"}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)


def test_a_hung_task_times_out_alone(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text(SLOW_SCRIPT)
    (tmp_path / "tasks.txt").write_text("3\n1\n")
    done = run_script(
        tmp_path, "slow.py", "--tasks", "tasks.txt", "--task_to", "param", "--task_timeout", "0.05"
    )
    assert done.returncode == 1, done.stderr
    assert "TIMEOUT param=3: timed out after 0.05 min (--task_timeout)" in done.stderr
    assert "2 task(s): 1 done, 0 skipped (done before), 1 failed (1 timed out)" in done.stderr
    state = state_of(tmp_path / "results" / "slow")
    assert state["param=3"]["status"] == "timeout" and state["param=1"]["status"] == "done"
    assert (tmp_path / "results/slow/param=1/out.txt").read_text() == "1"  # on a new worker


def test_a_tasks_folder_stays_its_own_when_a_colliding_task_is_added(project: Path) -> None:
    results = project / "results" / "sweep"
    (project / "tasks.csv").write_text("param,name\n1,a_b\n")
    assert run(project, "--tasks", "tasks.csv").returncode == 0
    (project / "tasks.csv").write_text("param,name\n1,a/b\n1,a_b\n")
    again = run(project, "--tasks", "tasks.csv")
    assert again.returncode == 0, again.stderr
    assert "1 skipped" in again.stderr  # a_b finished: it keeps its folder and is not rerun
    assert (results / "param=1,name=a_b" / "result.txt").read_text().startswith("1 a_b ")
    (other,) = (p for p in results.glob("param=1,name=a_b-*") if p.is_dir())
    assert (other / "result.txt").read_text().startswith("1 a/b ")
    state = state_of(results)
    assert state["param=1,name=a_b"]["status"] == "done"
    assert state[other.name]["save_dir"] == f"results/sweep/{other.name}"

    # The other way round: a/b ran first under a_b and keeps it; a_b added later gets a suffix.
    shutil.rmtree(results)
    (project / "tasks.csv").write_text("param,name\n1,a/b\n")
    assert run(project, "--tasks", "tasks.csv").returncode == 0
    (project / "tasks.csv").write_text("param,name\n1,a/b\n1,a_b\n")
    again = run(project, "--tasks", "tasks.csv")
    assert again.returncode == 0 and "1 skipped" in again.stderr, again.stderr
    assert (results / "param=1,name=a_b" / "result.txt").read_text().startswith("1 a/b ")


@pytest.mark.parametrize(
    ("raw", "recorded", "labels"),
    [
        (["p=1", "p=2"], {}, ["p=1", "p=2"]),
        (["n=a/b"], {}, ["n=a_b"]),  # alone, an unsafe label is simply made safe
        (["n=a/b", "n=a_b"], {}, ["n=a_b-d0", "n=a_b"]),  # the exact text wins the label
        (["n=a/b", "n=a b"], {}, ["n=a_b-d0", "n=a_b-d1"]),  # neither is exact: both suffixed
        (["n=a/b", "n=a_b"], {0: "n=a_b"}, ["n=a_b", "n=a_b-d1"]),  # recorded first: kept
        (["n=a_b", "n=a/b"], {1: "n=a_b-d1"}, ["n=a_b", "n=a_b-d1"]),
        (["x=" + "l" * 100], {}, ["x=" + "l" * 78 + "-d0"]),  # cut, the hash appended
        (["./."], {}, ["task"]),  # nothing safe left
    ],
)
def test_task_labels(raw: list[str], recorded: dict[int, str], labels: list[str]) -> None:
    digests = [f"d{i}" for i in range(len(raw))]
    assert task_labels(raw, digests, lambda i, label: recorded.get(i) == label) == labels


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("0.1,0.01", ["0.1", "0.01"]),
        ("[64],[128, 128]", ["[64]", "[128, 128]"]),
        ("{a: 1, b: 2},{a: 3}", ["{a: 1, b: 2}", "{a: 3}"]),
        ("'a,b',\"c,d\",e", ["'a,b'", '"c,d"', "e"]),
        ("'[',x", ["'['", "x"]),  # a bracket inside quotes is text
        (" 1 , 2 ", ["1", "2"]),
        ("single", ["single"]),
    ],
)
def test_sweep_values_split_at_top_level_commas(text: str, values: list[str]) -> None:
    from naga.launch._grid import split_values

    assert split_values(text, "--sweep k") == values


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1,2", "'[' is never closed"),
        ("1],2", "']' at character 2 closes nothing"),
        ("'a,b", "''' is never closed"),
        ("1,,2", "an empty value"),
        ("1,", "an empty value"),
    ],
)
def test_sweep_values_refused(text: str, message: str) -> None:
    from naga.launch._grid import split_values

    with pytest.raises(TaskError, match=re.escape(message)):
        split_values(text, "--sweep k")


def test_grid_points_are_the_product_and_read_the_same_in_any_order() -> None:
    from naga.launch._grid import grid_points

    points = grid_points(["lr=0.1,0.01", "model.layers=[64],[128]"])
    assert points == [
        {"lr": "0.1", "model.layers": "[64]"},
        {"lr": "0.1", "model.layers": "[128]"},
        {"lr": "0.01", "model.layers": "[64]"},
        {"lr": "0.01", "model.layers": "[128]"},
    ]
    swapped = grid_points(["model.layers=[128],[64]", "lr=0.01,0.1"])
    assert sorted(map(str, swapped)) == sorted(map(str, points))
    assert grid_points(["lr=1,1,2"]) == [{"lr": "1"}, {"lr": "2"}]  # a value twice is one
    with pytest.raises(TaskError, match="'lr' has a grid already"):
        grid_points(["lr=1", "+lr=2"])


def test_grid_tasks_times_file_tasks(tmp_path: Path) -> None:
    (tmp_path / "tasks.txt").write_text("1\n2\n")
    options = SweepOptions(tasks=str(tmp_path / "tasks.txt"), task_to="param", sweep=("lr=a,b",))
    tasks = load_tasks(options, {})
    assert [(t.value, t.grid) for t in tasks] == [
        ("1", {"lr": "a"}),
        ("1", {"lr": "b"}),
        ("2", {"lr": "a"}),
        ("2", {"lr": "b"}),
    ]
    assert tasks[1].origin == "tasks.txt line 1, --sweep lr=b"
    alone = load_tasks(SweepOptions(sweep=("lr=a,b",)), {})
    assert [(t.value, t.grid, t.origin) for t in alone] == [
        ({}, {"lr": "a"}, "--sweep lr=a"),
        ({}, {"lr": "b"}, "--sweep lr=b"),
    ]


def test_slurm_options_of_a_task_are_kept_out_of_its_value(tmp_path: Path) -> None:
    (tmp_path / "tasks.yaml").write_text(
        "- {param: 1, _slurm: {mem_gb: 64, time: 30}}\n- {param: 2}\n"
    )
    (tmp_path / "tasks.csv").write_text("param,_slurm.mem_gb,_slurm.partition\n3,8,gpu\n")
    tasks = load_tasks(SweepOptions(tasks=str(tmp_path / "tasks.yaml")), {})
    assert [(t.value, t.resources) for t in tasks] == [
        ({"param": 1}, {"mem_gb": 64, "time": 30}),
        ({"param": 2}, None),
    ]
    (row,) = load_tasks(SweepOptions(tasks=str(tmp_path / "tasks.csv")), {})
    assert (row.value, row.resources) == ({"param": "3"}, {"mem_gb": 8, "partition": "gpu"})
    (tmp_path / "bad.yaml").write_text("- {param: 1, _slurm: 64}\n")
    with pytest.raises(TaskError, match="_slurm holds 64: give it a mapping of Slurm options"):
        load_tasks(SweepOptions(tasks=str(tmp_path / "bad.yaml")), {})


def test_task_fates() -> None:
    from naga.launch._backend import Outcome
    from naga.launch._jobs import JobCheck, JobState
    from naga.launch._plan import PlannedTask
    from naga.launch._reattach import task_fate

    task = PlannedTask("tasks.txt line 1", {"save_dir": "nowhere/param=1"}, "param=1", "k")
    done = {"status": "done"}
    assert task_fate(task, done, None, {}) == ("skip", "done (no run.lock to judge)")
    assert task_fate(task, done, None, {"k": "forced"}) == ("run", "--force")
    assert task_fate(task, done, None, {"k": "code changed: m.py"}) == (
        "run",
        "stale: code changed: m.py",
    )
    queued = {"status": "pending", "job": "7_1"}
    assert task_fate(task, queued, JobCheck("7_1", JobState.LIVE, "PENDING"), {}) == (
        "watch",
        "job 7_1 PENDING",
    )
    ended = JobCheck("7_1", JobState.ENDED, outcome=Outcome.done())
    assert task_fate(task, queued, ended, {}) == ("collect", "job 7_1 ended: done")
    lost = JobCheck("7_1", JobState.LOST, outcome=Outcome(TaskStatus.LOST, "gone"))
    assert task_fate(task, queued, lost, {}) == ("run", "lost: gone")
    cancelled = {"status": "interrupted", "job": "7_1"}  # cancelled with its sweep: not lost
    assert task_fate(task, cancelled, lost, {}) == ("run", "interrupted before")
    assert task_fate(task, {"status": "timeout", "error": "late"}, None, {}) == (
        "run",
        "timeout before: late",
    )
    assert task_fate(task, {"status": "interrupted"}, None, {}) == ("run", "interrupted before")


def test_outcome_files_of_slurm_jobs(tmp_path: Path) -> None:
    import pickle

    from naga.launch._backend import Outcome
    from naga.launch._jobs import read_outcome

    path = tmp_path / "r.pkl"
    assert read_outcome(path) is None
    path.write_bytes(pickle.dumps(("success", Outcome.done())))
    assert read_outcome(path) == Outcome.done()
    path.write_bytes(pickle.dumps(("error", "Traceback ...\nValueError: bad\n")))
    assert read_outcome(path) == Outcome.failed("ValueError: bad")
    stopped = "Traceback ...\nsubmitit.core.utils.UncompletedJobError: Job not requeued because: timed-out too many times.\n"
    path.write_bytes(pickle.dumps(("error", stopped)))
    outcome = read_outcome(path)
    assert outcome is not None and outcome.status is TaskStatus.TIMEOUT
    assert "not requeued: timed-out too many times" in str(outcome.error)


class _Touch:
    """Unpickled, it creates a file: stands for any code a pickle can run."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        return (open, (self.path, "w"))


def test_a_result_file_never_runs_what_it_names(tmp_path: Path) -> None:
    import pickle

    from naga.launch._backend import Outcome
    from naga.launch._jobs import read_outcome

    path = tmp_path / "r.pkl"
    path.write_bytes(pickle.dumps(("success", Outcome.failed("x")), protocol=5))
    assert read_outcome(path) == Outcome.failed("x")
    marker = tmp_path / "MARKER"
    for payload in [
        ("success", _Touch(str(marker))),
        _Touch(str(marker)),
        ("error", _Touch(str(marker))),
    ]:
        path.write_bytes(pickle.dumps(payload))
        outcome = read_outcome(path)
        assert outcome is not None and outcome.status is TaskStatus.FAILED
        assert "unreadable result file" in str(outcome.error)
    assert not marker.exists()
