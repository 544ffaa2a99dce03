"""Sweeps on a real single-node Slurm and on a real Dask scheduler with workers on 127.0.0.1."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import (
    SLOW_SCRIPT,
    dask_cluster,
    free_port,
    needs_slurm,
    popen_script,
    slurm_ready,
    wait_for,
)
from naga._yaml import load_yaml

SCRIPT = """
import os
from pathlib import Path
from naga import clicfg

class Config:
    param = 1
    save_dir = "results/sweep"

@clicfg(config_class=Config)
def main(cfg: Config):
    out = Path(cfg.save_dir)
    out.mkdir(parents=True, exist_ok=True)
    print(f"task {cfg.param} on {os.environ.get('SLURM_JOB_ID') or os.environ.get('NAGA_WORKER')}")
    if cfg.param == 13:
        raise ValueError("unlucky thirteen")
    if cfg.param == 9:
        os.kill(os.getpid(), 9)
    (out / "result.txt").write_text(str(cfg.param))

if __name__ == "__main__":
    main()
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "sweep.py").write_text(SCRIPT)
    (tmp_path / "tasks.txt").write_text("1\n13\n9\n4\n")
    return tmp_path


def sweep(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "sweep.py", "--tasks", "tasks.txt", "--task_to", "param", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def check_outcome(project: Path, done: subprocess.CompletedProcess[str], killed: str) -> None:
    assert done.returncode == 1, done.stderr
    results = project / "results" / "sweep"
    assert (results / "param=1" / "result.txt").read_text() == "1"
    assert (results / "param=4" / "result.txt").read_text() == "4"
    assert "FAILED param=13: ValueError: unlucky thirteen" in done.stderr
    assert f"FAILED param=9: {killed}" in done.stderr
    assert "unlucky thirteen" in (results / "logs" / "param=13.log").read_text()
    state = {
        t["label"]: t["status"] for t in load_yaml((results / "tasks.yaml").read_text())["tasks"]
    }
    assert state == {
        "param=1": "done",
        "param=13": "failed",
        "param=9": "failed",
        "param=4": "done",
    }


@needs_slurm
def test_slurm_job_array(project: Path) -> None:
    assert slurm_ready(), "NAGA_REQUIRE_SLURM=1 but Slurm is not running"
    (project / "slurm.yaml").write_text("timeout_min: 10\ncpus_per_task: 1\n")
    done = sweep(project, "--n_jobs", "2", "--slurm_config", "slurm.yaml")
    check_outcome(project, done, "Slurm job")
    assert "task 1 on " in (project / "results/sweep/logs/param=1.log").read_text()
    assert len(list((project / "results/sweep/slurm").glob("*_0"))) == 1  # one array
    # Rerun: only the two failed tasks are submitted again.
    again = sweep(project, "--slurm_config", "slurm.yaml")
    assert "2 skipped" in again.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tme: 10\n", "unknown option 'tme'. Did you mean 'time'?"),
        ("time: [\n", "line 2 is not valid YAML"),
        ("- 1\n", "must be a mapping"),
    ],
)
def test_slurm_options_errors(project: Path, text: str, message: str) -> None:
    pytest.importorskip("submitit")
    (project / "slurm.yaml").write_text(text)
    done = sweep(project, "--slurm_config", "slurm.yaml")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert message in done.stderr and not (project / "results").exists()


@needs_slurm
def test_slurm_refusing_the_options_is_one_clean_message(project: Path) -> None:
    assert slurm_ready(), "NAGA_REQUIRE_SLURM=1 but Slurm is not running"
    (project / "slurm.yaml").write_text("partition: nope\ntime: 5\n")
    done = sweep(project, "--slurm_config", "slurm.yaml")
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Slurm refused the job array" in lines[0]
    assert "invalid partition" in lines[0].lower() and "--slurm_config" in lines[0]


@pytest.fixture
def dask_scheduler(tmp_path: Path) -> Iterator[str]:
    with dask_cluster(tmp_path, nworkers=2, nthreads=1) as address:
        yield address


def test_dask_scheduler(project: Path, dask_scheduler: str) -> None:
    done = sweep(project, "--dask", dask_scheduler)
    check_outcome(project, done, "worker process killed by SIG")
    # A task counts as running once a worker has it, not once it is queued: never more than the
    # cluster's two worker processes at a time.
    running = [int(n) for n in re.findall(r"running (\d+)", done.stderr)]
    assert running and max(running) <= 2, done.stderr


def test_dask_local_cluster(project: Path) -> None:
    pytest.importorskip("distributed")
    done = sweep(project, "--dask", "--n_jobs", "2")
    check_outcome(project, done, "worker process killed by SIG")


def test_dask_unreachable(project: Path) -> None:
    pytest.importorskip("distributed")
    done = sweep(project, "--dask", f"tcp://127.0.0.1:{free_port()}")
    assert (
        done.returncode == 2
        and "no Dask scheduler answered" in done.stderr
        and "Traceback" not in done.stderr
    )


@needs_slurm
def test_slurm_ctrl_c_cancels_the_array(tmp_path: Path) -> None:
    import signal

    assert slurm_ready(), "NAGA_REQUIRE_SLURM=1 but Slurm is not running"
    (tmp_path / "slow.py").write_text(SLOW_SCRIPT)
    (tmp_path / "tasks.txt").write_text("3\n4\n")
    (tmp_path / "slurm.yaml").write_text("timeout_min: 10\ncpus_per_task: 1\n")
    args = ["--tasks", "tasks.txt", "--task_to", "param", "--slurm_config", "slurm.yaml"]
    proc = popen_script(tmp_path, "slow.py", *args)
    wait_for((tmp_path / "started-3").exists, proc, 300)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "naga: interrupted: 0 task(s) done" in err
    array = next((tmp_path / "results/slow/slurm").glob("*_0")).name.split("_")[0]
    for _ in range(60):  # scancel is asynchronous: the jobs leave the queue shortly after
        queue = subprocess.run(
            ["squeue", "-h", "-j", array], capture_output=True, text=True, check=False
        )
        if not queue.stdout.strip():
            break
        time.sleep(1)
    assert not queue.stdout.strip(), queue.stdout


def test_dask_ctrl_c_stops_the_sweep(tmp_path: Path) -> None:
    import signal

    pytest.importorskip("distributed")
    (tmp_path / "slow.py").write_text(SLOW_SCRIPT)
    (tmp_path / "tasks.txt").write_text("1\n3\n")
    args = ["--tasks", "tasks.txt", "--task_to", "param", "--dask", "--n_jobs", "2"]
    proc = popen_script(tmp_path, "slow.py", *args)
    wait_for((tmp_path / "started-3").exists, proc, 120)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "naga: interrupted: " in err and "stopped or not started" in err
    state = load_yaml((tmp_path / "results/slow/tasks.yaml").read_text())["tasks"]
    statuses = {t["label"]: t["status"] for t in state}
    # The watcher polls the scheduler: a task may be stopped before it was seen running.
    assert statuses["param=3"] in ("interrupted", "pending")
    (tmp_path / "fast").write_text("")
    again = subprocess.run(
        [sys.executable, "slow.py", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "results/slow/param=3/out.txt").read_text() == "3"


def slow_sweep(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "slow.py", "--tasks", "tasks.txt", "--task_to", "param", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def no_worker_left(folder: Path) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if b"naga.launch._worker" in cmdline and cwd == str(folder):
            return False
    return True


def test_dask_task_timeout_and_a_tasks_own_keyboard_interrupt(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    (tmp_path / "slow.py").write_text(SLOW_SCRIPT)
    (tmp_path / "tasks.txt").write_text("1\n3\n0\n")
    done = slow_sweep(tmp_path, "--dask", "--n_jobs", "2", "--task_timeout", "0.05")
    assert done.returncode == 1, done.stderr
    assert "TIMEOUT param=3: timed out after 0.05 min (--task_timeout)" in done.stderr
    assert "FAILED param=0: KeyboardInterrupt\n" in done.stderr  # its own: the sweep went on
    state = load_yaml((tmp_path / "results/slow/tasks.yaml").read_text())["tasks"]
    statuses = {t["label"]: t["status"] for t in state}
    assert statuses == {"param=1": "done", "param=3": "timeout", "param=0": "failed"}
    assert no_worker_left(tmp_path)


def test_slurm_parameters() -> None:
    from naga.launch._slurm import slurm_parameters

    assert slurm_parameters({}, 2, None) == {"array_parallelism": 2}
    assert slurm_parameters({}, 2, 0.05) == {"array_parallelism": 2, "time": 3}
    assert slurm_parameters({"time": 30}, 2, 60) == {"array_parallelism": 2, "time": 30}
    assert slurm_parameters({"array_parallelism": 5}, 2, 10) == {
        "array_parallelism": 5,
        "time": 12,
    }


@needs_slurm
def test_slurm_task_timeout(tmp_path: Path) -> None:
    assert slurm_ready(), "NAGA_REQUIRE_SLURM=1 but Slurm is not running"
    (tmp_path / "slow.py").write_text(SLOW_SCRIPT)
    (tmp_path / "tasks.txt").write_text("3\n1\n")
    (tmp_path / "slurm.yaml").write_text("cpus_per_task: 1\n")
    done = slow_sweep(tmp_path, "--slurm_config", "slurm.yaml", "--task_timeout", "0.05")
    assert done.returncode == 1, done.stderr
    assert "TIMEOUT param=3: timed out after 0.05 min (--task_timeout)" in done.stderr
    assert (tmp_path / "results/slow/param=1/out.txt").read_text() == "1"
    scripts = list((tmp_path / "results/slow/slurm").rglob("*.sh"))
    assert any("#SBATCH --time=3\n" in p.read_text() for p in scripts), scripts


def test_slurm_options_per_task_and_requeues() -> None:
    pytest.importorskip("submitit")
    from naga._errors import TaskError
    from naga.launch._backend import Entry, Task
    from naga.launch._slurm import check_slurm_options, resource_groups

    assert check_slurm_options({"mem_gb": 64, "slurm_max_num_timeout": 2}, "x") == {
        "mem": "64GB",
        "max_num_timeout": 2,
    }
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(TaskError, match="a whole number, 0 or more"):
            check_slurm_options({"max_num_timeout": bad}, "slurm.yaml")

    def task(index: int, resources: dict[str, object] | None = None) -> Task:
        return Task(
            index, f"k{index}", f"t{index}", {}, "", Entry(None, "m", "f"), "", resources=resources
        )

    groups = resource_groups(
        [task(0), task(1, {"mem": "64GB"}), task(2), task(3, {"mem": "64GB"})], {"time": 5}
    )
    assert [(options, [t.index for t in tasks]) for options, tasks in groups] == [
        ({"time": 5}, [0, 2]),
        ({"time": 5, "mem": "64GB"}, [1, 3]),
    ]
