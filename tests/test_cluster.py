"""Cluster-grade sweeps, on the real single-node Slurm (and local and Dask sweeps where the
feature is theirs too): detach and reattach, requeue on timeout and ``scontrol requeue``,
``--sweep`` grids, ``--dry_run``, ``--debug_task`` in a terminal, per-task Slurm options, and
``naga tasks``.

Slurm holds a requeued job back for two minutes; :func:`helpers.release_requeued` starts the
test's own requeued jobs two seconds after their requeue, as an administrator may (``scontrol
update StartTime=now``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import needs_slurm, popen_script, release_requeued, run_script, slurm_ready, wait_for
from naga._record import read_record
from naga._yaml import load_yaml

SCRIPT = """
import time
from pathlib import Path
from naga import clicfg, unsafe_debug

class Model:
    layers: list = [32]

class Config:
    param = 1
    lr = 0.1
    model = Model
    save_dir = "results/sweep"

@unsafe_debug
@clicfg(config_class=Config)
def main(cfg: Config):
    runs = len(list(Path(".").glob(f"started-{cfg.param}-*")))
    Path(f"started-{cfg.param}-{runs}").write_text("")
    a = cfg.param - 2
    if cfg.param == 13:
        raise ValueError("unlucky thirteen")
    if cfg.param == 2:
        b = 1 / a
    while cfg.param >= 3 and not Path("fast").exists():
        time.sleep(0.2)
    return {"param": cfg.param, "lr": cfg.lr, "layers": cfg.model.layers}

if __name__ == "__main__":
    main()
"""

#: Task 1 resumes from the step its checkpoint() saw; task 2's checkpoint() returns None, so it
#: restarts from its start, and runs out of requeues. Imported again when a requeued job starts,
#: before its run's record is rewritten, the script says in the log what the records said.
REQUEUE_SCRIPT = """
import json
import time
from pathlib import Path
from naga import clicfg

for found in sorted(Path("results/requeue").glob("*/.naga/record.json")):
    status = json.loads(found.read_text())["status"]
    print(f"record of {found.parent.parent.name}: {status}", flush=True)

STATE = {"step": 0}

class Config:
    param = 1
    start = 0
    save_dir = "results/requeue"

@clicfg(config_class=Config)
def main(cfg: Config):
    print(f"task {cfg.param} starts at step {cfg.start}", flush=True)
    STATE["step"] = cfg.start
    if cfg.start > 0:
        return {"resumed_at": cfg.start}
    while True:
        time.sleep(0.2)
        STATE["step"] += 1

def checkpoint(cfg):
    if cfg.param == 2:
        return None
    cfg.start = STATE["step"]
    return cfg

main.checkpoint = checkpoint

if __name__ == "__main__":
    main()
"""

SLURM = "time: 5\ncpus_per_task: 1\n"
TASKS = ["--tasks", "tasks.txt", "--task_to", "param"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "cluster.py").write_text(SCRIPT)
    (tmp_path / "slurm.yaml").write_text(SLURM)
    return tmp_path


def sweep(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_script(folder, "cluster.py", *args, timeout=600)


def naga(folder: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "naga", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def state(folder: Path, sweep_dir: str = "results/sweep") -> dict[str, dict]:
    data = load_yaml((folder / sweep_dir / "tasks.yaml").read_text())
    return {t["label"]: t for t in data["tasks"]}


def arrays(folder: Path, sweep_dir: str = "results/sweep") -> set[str]:
    """The Slurm arrays (or jobs) the sweep's tasks ran as, from tasks.yaml."""
    try:
        entries = state(folder, sweep_dir).values()
    except (OSError, KeyError, TypeError):
        return set()
    return {str(e["job"]).split("_")[0] for e in entries if e.get("job")}


def wait_until(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out after {timeout} s"
        time.sleep(0.2)


def in_queue(job: str) -> bool:
    queue = subprocess.run(
        ["squeue", "-h", "-r", "-j", job.split("_")[0], "-o", "%i %T"],
        capture_output=True,
        text=True,
        check=False,
    )
    return any(line.split()[0] == job for line in queue.stdout.splitlines() if line.split())


# -- detach and reattach ---------------------------------------------------------------------


@needs_slurm
def test_detach_then_naga_tasks_watches_and_collects(project: Path) -> None:
    assert slurm_ready(), "NAGA_REQUIRE_SLURM=1 but Slurm is not running"
    (project / "tasks.txt").write_text("1\n13\n3\n")
    args = [*TASKS, "--slurm_config", "slurm.yaml", "--n_jobs", "3"]
    detached = sweep(project, *args, "--detach")
    assert detached.returncode == 0, detached.stderr
    assert "3 task(s): 3 submitted to Slurm (job array " in detached.stderr
    assert "follow the sweep with `naga tasks results/sweep --watch`" in detached.stderr
    entries = state(project)
    jobs = {label: str(entry["job"]) for label, entry in entries.items()}
    (array,) = {job.split("_")[0] for job in jobs.values()}
    assert jobs == {"param=1": f"{array}_0", "param=13": f"{array}_1", "param=3": f"{array}_2"}

    shown = naga(project, "tasks", "results/sweep")
    assert "results/sweep: 3 task(s): " in shown.stdout, shown.stderr
    for label, job in jobs.items():
        assert any(label in line and job in line for line in shown.stdout.splitlines())

    watch = subprocess.Popen(
        [sys.executable, "-m", "naga", "tasks", "results/sweep", "--watch", "--interval", "1"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for((project / "started-3-0").exists, watch, 300)  # type: ignore[arg-type]
    (project / "fast").write_text("")
    out, err = watch.communicate(timeout=300)
    assert watch.returncode == 1, err  # one task failed
    assert "naga: done param=3 (" in out
    assert "ValueError: unlucky thirteen" in out and f"{array}_1" in out
    entries = state(project)  # collected into tasks.yaml by naga tasks
    assert {label: e["status"] for label, e in entries.items()} == {
        "param=1": "done",
        "param=13": "failed",
        "param=3": "done",
    }
    assert entries["param=3"]["result"] == {"param": 3, "lr": 0.1, "layers": [32]}
    assert isinstance(entries["param=3"]["duration_s"], float)

    # The same command again runs only the failed task, as a job of its own.
    again = sweep(project, *args)
    assert again.returncode == 1 and "2 skipped" in again.stderr, again.stderr
    assert str(state(project)["param=13"]["job"]).split("_")[0] != array
    assert state(project)["param=1"]["job"] == f"{array}_0"


@needs_slurm
def test_a_killed_submitter_is_reattached_without_resubmitting(project: Path) -> None:
    assert slurm_ready(), "NAGA_REQUIRE_SLURM=1 but Slurm is not running"
    (project / "tasks.txt").write_text("3\n4\n")
    args = [*TASKS, "--slurm_config", "slurm.yaml", "--n_jobs", "2"]
    first = popen_script(project, "cluster.py", *args)
    wait_for((project / "started-3-0").exists, first, 300)
    jobs = {label: entry["job"] for label, entry in state(project).items()}
    assert set(jobs) == {"param=3", "param=4"} and all(jobs.values())
    first.kill()  # SIGKILL: nothing cancels the jobs
    first.communicate()
    assert in_queue(jobs["param=3"]), "the job should outlive its submitter"

    again = popen_script(project, "cluster.py", *args)
    time.sleep(4)  # reattached and watching
    (project / "fast").write_text("")
    err = again.communicate(timeout=300)[1]
    assert again.returncode == 0, err
    assert "already queued or running on Slurm" in err or "collected 2 task(s)" in err, err
    after = state(project)
    assert {label: e["job"] for label, e in after.items()} == jobs  # nothing submitted again
    assert {label: e["status"] for label, e in after.items()} == {
        "param=3": "done",
        "param=4": "done",
    }
    (array,) = {str(job).split("_")[0] for job in jobs.values()}
    slurm = project / "results/sweep/slurm"
    assert len(list(slurm.glob(".submission_file_*.sh"))) == 1  # submitit's link per sbatch
    folders = {p.name for p in slurm.iterdir() if not p.name.startswith(".")}
    assert all(name.split("_")[0] == array for name in folders), folders
    assert sorted(p.name for p in project.glob("started-*")) == ["started-3-0", "started-4-0"]


@needs_slurm
def test_a_job_lost_while_detached_is_marked_lost_and_run_again(project: Path) -> None:
    assert slurm_ready(), "NAGA_REQUIRE_SLURM=1 but Slurm is not running"
    (project / "tasks.txt").write_text("3\n4\n")
    args = [*TASKS, "--slurm_config", "slurm.yaml", "--n_jobs", "1"]  # 4 waits for 3
    assert sweep(project, *args, "--detach").returncode == 0
    wait_until((project / "started-3-0").exists, 300)
    jobs = {label: str(entry["job"]) for label, entry in state(project).items()}
    subprocess.run(["scancel", jobs["param=4"]], check=True)  # gone while still pending
    wait_until(lambda: not in_queue(jobs["param=4"]), 60)

    shown = naga(project, "tasks", "results/sweep", "--json")
    assert shown.returncode == 1, shown.stderr
    view = json.loads(shown.stdout)
    tasks = {t["label"]: t for t in view["tasks"]}
    assert tasks["param=4"]["status"] == "lost"
    assert (
        f"Slurm job {jobs['param=4']} left the queue without a result" in tasks["param=4"]["error"]
    )
    assert tasks["param=3"]["status"] == "running" and tasks["param=3"]["queue"] == "RUNNING"
    assert view["counts"]["lost"] == 1 and state(project)["param=4"]["status"] == "lost"

    (project / "fast").write_text("")
    again = sweep(project, *args)
    assert again.returncode == 0, again.stderr
    after = state(project)
    assert after["param=3"]["job"] == jobs["param=3"]  # watched or collected, not resubmitted
    assert after["param=4"]["job"] != jobs["param=4"]  # run again
    assert {e["status"] for e in after.values()} == {"done"}


# -- requeue ---------------------------------------------------------------------------------


@needs_slurm
def test_time_limit_requeues_with_checkpoint_and_stops_at_max_num_timeout(tmp_path: Path) -> None:
    assert slurm_ready(), "NAGA_REQUIRE_SLURM=1 but Slurm is not running"
    (tmp_path / "requeue.py").write_text(REQUEUE_SCRIPT)
    (tmp_path / "tasks.txt").write_text("1\n2\n")
    # USR2 comes signal_delay_s (10 s) before the 2-minute limit, or up to 60 s earlier (Slurm
    # handles its events on a tick): 50 s into the job at the earliest, well after a requeued
    # job has started its task again. With a 1-minute limit it could come while the restarted
    # job was still starting (1 run in 4 ended `failed` instead of `timeout`).
    (tmp_path / "slurm.yaml").write_text(
        "time: 2\nsignal_delay_s: 10\nmax_num_timeout: 1\ncpus_per_task: 1\n"
    )
    with release_requeued(lambda: arrays(tmp_path, "results/requeue")):
        done = run_script(
            tmp_path, "requeue.py", *TASKS, "--slurm_config", "slurm.yaml", "--n_jobs", "2"
        )
    assert done.returncode == 1, done.stderr
    entries = state(tmp_path, "results/requeue")
    assert entries["param=1"]["status"] == "done"
    resumed = entries["param=1"]["result"]["resumed_at"]
    assert resumed > 0
    log1 = (tmp_path / "results/requeue/logs/param=1.log").read_text()
    assert (
        "the job is requeued (1 of max_num_timeout 1); the task resumes from its checkpoint()"
        in log1
    )
    assert f"task 1 starts at step {resumed}" in log1
    assert entries["param=2"]["status"] == "timeout", (entries["param=2"], done.stderr)
    assert "after 1 requeue(s); max_num_timeout is 1" in entries["param=2"]["error"]
    assert "TIMEOUT param=2: stopped by Slurm (time limit or preemption)" in done.stderr
    log2 = (tmp_path / "results/requeue/logs/param=2.log").read_text()
    assert log2.count("task 2 starts at step 0") == 2 and "the task restarts" in log2
    assert entries["param=1"]["job"] and entries["param=2"]["job"]  # same jobs, requeued
    # While each job waited to start again, its run's record said requeued, never failed.
    assert "record of param=1: requeued" in log1 and "record of param=2: requeued" in log2
    assert "record of param=1: failed" not in log1
    records = {p: read_record(tmp_path / "results/requeue" / p) or {} for p in entries}
    assert records["param=1"]["status"] == "done"
    # Out of requeues, task 2 was stopped for good: its run failed.
    assert records["param=2"]["status"] == "failed"
    assert records["param=2"]["error"]["type"] == "UncompletedJobError"


@needs_slurm
def test_scontrol_requeue_restarts_the_task_in_the_same_job(project: Path) -> None:
    assert slurm_ready(), "NAGA_REQUIRE_SLURM=1 but Slurm is not running"
    (project / "tasks.txt").write_text("3\n")
    args = [*TASKS, "--slurm_config", "slurm.yaml"]
    with release_requeued(lambda: arrays(project)):
        proc = popen_script(project, "cluster.py", *args)
        wait_for((project / "started-3-0").exists, proc, 300)
        job = str(state(project)["param=3"]["job"])
        subprocess.run(["scontrol", "requeue", job], check=True)
        wait_for((project / "started-3-1").exists, proc, 300)  # killed, requeued, started again
        (project / "fast").write_text("")
        err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err
    entry = state(project)["param=3"]
    assert entry["status"] == "done" and str(entry["job"]) == job


# -- grids, dry runs, per-task resources --------------------------------------------------------


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@needs_slurm
def test_a_grid_dry_run_then_run_on_slurm(project: Path) -> None:
    assert slurm_ready(), "NAGA_REQUIRE_SLURM=1 but Slurm is not running"
    grid = ["--sweep", "lr=0.1,0.01", "model.layers=[64],[128, 128]"]
    args = [*grid, "--slurm_config", "slurm.yaml", "--n_jobs", "2"]
    before = listing(project)
    dry = sweep(project, *args, "--dry_run")
    assert dry.returncode == 0, dry.stderr
    assert listing(project) == before  # no tasks.yaml, no folder, no lock
    labels = [
        "lr=0.1,model.layers=_64",
        "lr=0.1,model.layers=_128,_128",
        "lr=0.01,model.layers=_64",
        "lr=0.01,model.layers=_128,_128",
    ]
    rows = dry.stdout.splitlines()
    assert rows[0].split() == ["ACTION", "TASK", "SAVE_DIR", "RESOURCES", "WHY"]
    for label, row in zip(labels, rows[1:5], strict=True):
        assert row.split()[:3] == ["run", label, f"results/sweep/{label}"]
        assert "slurm array 1: time=5, cpus_per_task=1" in row and row.endswith("new")
    assert "4 would run. Nothing was run, submitted or written." in rows[-1]

    done = sweep(project, *args)
    assert done.returncode == 0, done.stderr
    config = json.loads(
        (project / "results/sweep/lr=0.01,model.layers=_128,_128/config.json").read_text()
    )
    assert config["lr"] == 0.01 and config["model"]["layers"] == [128, 128]
    assert len(arrays(project)) == 1

    # The grids in another order: the same tasks, labels and folders, all done.
    again = sweep(project, "--sweep", "model.layers=[128, 128],[64]", "lr=0.01,0.1", "--dry_run")
    assert again.returncode == 0, again.stderr
    skipped = [row.split()[1] for row in again.stdout.splitlines()[1:-1]]
    assert sorted(skipped) == sorted(labels)
    assert all(row.split()[0] == "skip" for row in again.stdout.splitlines()[1:-1])


@needs_slurm
def test_per_task_slurm_options_go_to_their_own_array(project: Path) -> None:
    assert slurm_ready(), "NAGA_REQUIRE_SLURM=1 but Slurm is not running"
    (project / "tasks.yaml").write_text(
        "- {param: 1}\n- {param: 4, _slurm: {mem_gb: 1}}\n- {param: 5}\n"
    )
    (project / "fast").write_text("")
    args = ["--tasks", "tasks.yaml", "--slurm_config", "slurm.yaml", "--n_jobs", "2"]
    dry = sweep(project, *args, "--dry_run")
    rows = {row.split()[1]: row for row in dry.stdout.splitlines()[1:-1]}
    assert "slurm array 1: time=5, cpus_per_task=1 " in rows["param=1"]
    assert "slurm array 1:" in rows["param=5"]
    assert "slurm array 2: time=5, cpus_per_task=1, mem=1GB" in rows["param=4"]
    assert "2 job array(s) to submit" in dry.stdout

    done = sweep(project, *args)
    assert done.returncode == 0, done.stderr
    jobs = {label: str(e["job"]).split("_")[0] for label, e in state(project).items()}
    assert jobs["param=1"] == jobs["param=5"] != jobs["param=4"]
    script = next((project / "results/sweep/slurm").rglob(f"{jobs['param=4']}*submission.sh"))
    assert "#SBATCH --mem=1GB\n" in script.read_text()
    config = json.loads((project / "results/sweep/param=4/config.json").read_text())
    assert "_slurm" not in config and config["param"] == 4

    (project / "tasks.yaml").write_text("- {param: 1, _slurm: {memory: 1}}\n")
    bad = sweep(project, *args)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "tasks.yaml item 1: _slurm: unknown option 'memory'." in bad.stderr


# -- debug one task ----------------------------------------------------------------------------


def test_debug_task_opens_the_debugger_in_a_terminal(project: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    (project / "tasks.txt").write_text("1\n2\n")
    env = {**os.environ, "NAGA_DEBUG": "1", "TERM": "dumb", "IPYTHONDIR": str(project / ".ip")}
    env.pop("NAGA_WORKER", None)
    child = pexpect.spawn(
        sys.executable,
        ["cluster.py", *TASKS, "--debug_task", "param=2"],
        env=env,
        cwd=str(project),
        encoding="utf-8",
        timeout=90,
    )
    child.expect_exact("--debug_task param=2: running it in this process")
    child.expect_exact("debugger> ")
    child.sendline("a")  # the failing frame's local
    child.expect(r"\r\n0\r\n")
    child.sendline("p cfg.param")
    child.expect(r"\r\n2\r\n")
    child.sendline("q")
    child.expect_exact("ZeroDivisionError")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus not in (0, None)
    assert not (project / "results/sweep/tasks.yaml").exists()  # the sweep's state untouched
    assert (project / "started-2-0").exists() and not (project / "started-1-0").exists()


def test_debug_task_names_the_labels_when_one_is_unknown(project: Path) -> None:
    (project / "tasks.txt").write_text("1\n2\n13\n")
    done = sweep(project, *TASKS, "--debug_task", "param=3")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        "--debug_task param=3: no task of this sweep has that label. Did you mean 'param=13'? "
        "Its labels: param=1, param=2, param=13." in done.stderr
    )
    assert not (project / "results").exists()


# -- naga tasks and --dry_run on local and Dask sweeps ----------------------------------------


@pytest.mark.parametrize("backend", [[], ["--dask", "--n_jobs", "2"]], ids=["local", "dask"])
def test_naga_tasks_and_dry_run_of_a_local_or_dask_sweep(project: Path, backend: list[str]) -> None:
    if backend:
        pytest.importorskip("distributed")
    (project / "tasks.txt").write_text("1\n13\n")
    done = sweep(project, *TASKS, *backend)
    assert done.returncode == 1, done.stderr

    shown = naga(project, "tasks", "results/sweep")
    assert shown.returncode == 1, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("results/sweep: 2 task(s): 1 done, 0 running, 1 failed")
    assert lines[1].split() == ["STATUS", "TASK", "JOB", "DURATION", "LOG"]
    assert lines[2].split()[:3] == ["done", "param=1", "-"] and lines[2].split()[3].endswith("s")
    assert lines[2].split()[4] == str((project / "results/sweep/logs/param=1.log").resolve())
    assert lines[3].split()[:2] == ["failed", "param=13"]
    assert lines[4].strip() == "ValueError: unlucky thirteen"
    as_json = json.loads(naga(project, "tasks", "results/sweep/tasks.yaml", "--json").stdout)
    assert as_json["counts"]["done"] == 1 and as_json["holder"] is None
    assert [t["status"] for t in as_json["tasks"]] == ["done", "failed"]

    before = listing(project)
    (project / "tasks.txt").write_text("1\n13\n7\n")
    dry = sweep(project, *TASKS, *backend, "--dry_run")
    assert dry.returncode == 0, dry.stderr
    rows = {row.split()[1]: row for row in dry.stdout.splitlines()[1:-1]}
    where = "dask local" if backend else "local process"
    assert rows["param=1"].split()[0] == "skip" and "done (no run.lock to judge)" in rows["param=1"]
    assert rows["param=13"].split()[0] == "run"
    assert rows["param=13"].endswith("failed before: ValueError: unlucky thirteen")
    assert rows["param=7"].split()[0] == "run" and rows["param=7"].endswith("new")
    assert all(where in row for row in rows.values())
    assert "2 would run, 1 skipped" in dry.stdout
    assert listing(project) == [*before] and not (project / "started-7-0").exists()


def test_naga_tasks_watch_ends_at_once_on_a_finished_sweep(project: Path) -> None:
    (project / "tasks.txt").write_text("1\n")
    assert sweep(project, *TASKS).returncode == 0
    watched = naga(project, "tasks", "results/sweep", "--watch", "--interval", "0.2", timeout=60)
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.splitlines()[0] == (
        "results/sweep: 1 task(s): 1 done, 0 running (no sweep process attached)"
    )
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(  # on a terminal the table is drawn in place
        sys.executable,
        ["-m", "naga", "tasks", "results/sweep", "--watch", "--interval", "0.2"],
        cwd=str(project),
        env={**os.environ, "NO_COLOR": "1"},
        encoding="utf-8",
        timeout=60,
    )
    child.expect_exact("\x1b[H\x1b[J")
    child.expect(r"done\s+param=1\s+-\s+\d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    bad = naga(project, "tasks", "results/sweep", "--watch", "--interval", "0")
    assert bad.returncode == 2 and "--interval 0.0: give the seconds" in bad.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sweep", "lr=0.1,[1"], "--sweep lr=0.1,[1: '[' is never closed: close it."),
        (["--sweep", "lr=0.1,,0.2"], "--sweep lr=0.1,,0.2: an empty value"),
        (["--sweep", "lr"], "--sweep lr: a grid is KEY=V1,V2,..."),
        (["--sweep", "lr=1", "lr=2"], "--sweep lr=2: 'lr' has a grid already"),
        (["--sweep", "lrr=1,2"], "--sweep lrr=1: the config has no key 'lrr'. Did you mean 'lr'?"),
        (["--sweep", "lr=x"], "--sweep lr=x"),
        ([*TASKS, "--sweep", "param=1,2"], "'param' is set both by the task and by --sweep"),
        ([*TASKS, "--detach"], "--detach needs --slurm_config FILE"),
        (["--detach"], "--detach needs a task source"),
        ([*TASKS, "--debug_task", "param=1", "--dry_run"], "--debug_task runs one task here"),
        (["--sweep", "lr=1", "--task_to", "lr"], "--task_to lr needs --tasks FILE or"),
    ],
)
def test_bad_cluster_flags_exit_2_and_write_nothing(
    project: Path, args: list[str], message: str
) -> None:
    (project / "tasks.txt").write_text("1\n")
    done = sweep(project, *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert message in done.stderr
    assert not (project / "results").exists()


def test_naga_tasks_of_a_folder_without_a_sweep(tmp_path: Path) -> None:
    done = naga(tmp_path, "tasks", "nowhere")
    assert done.returncode == 2
    assert "naga: error: 'nowhere' holds no tasks.yaml: give the folder of a sweep" in done.stderr


STAGE = """
import time
from naga import clicfg, runlock
import model

class Config:
    lr = 0.1
    save_dir = "results/stage"

@clicfg(config_class=Config)
def main(cfg: Config):
    if cfg.lr == 0.3:
        raise RuntimeError("diverged")
    runlock(config=cfg, repos=["."])
    return {"score": model.score(cfg.lr)}

if __name__ == "__main__":
    main()
"""


def test_dry_run_says_which_done_tasks_went_stale_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "stage.py").write_text(STAGE)
    (tmp_path / "model.py").write_text("def score(lr):\n    return lr\n")
    (tmp_path / ".gitignore").write_text("results/\n")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (
        ["init", "-q"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "i"],
    ):
        subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True, capture_output=True)
    grid = ["--sweep", "lr=0.1,0.2,0.3"]
    assert run_script(tmp_path, "stage.py", *grid).returncode == 1
    (tmp_path / "model.py").write_text("def score(lr):\n    return -lr\n")
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if ".git" not in p.parts}
    dry = run_script(tmp_path, "stage.py", *grid, "--dry_run", "--n_jobs", "2")
    assert dry.returncode == 0, dry.stderr
    rows = {row.split()[1]: row for row in dry.stdout.splitlines()[1:-1]}
    assert rows["lr=0.1"].split()[0] == "run" and rows["lr=0.1"].endswith(
        "stale: model.py modified"
    )
    assert rows["lr=0.3"].endswith("failed before: RuntimeError: diverged")
    assert "3 would run. Nothing was run" in dry.stdout and "on 2 local worker(s)" in dry.stdout
    forced = run_script(tmp_path, "stage.py", "--sweep", "lr=0.1", "--dry_run", "--force")
    assert forced.stdout.splitlines()[1].endswith("--force")
    after = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if ".git" not in p.parts}
    assert after == before  # nothing written, nothing touched
