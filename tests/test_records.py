"""Run records, results, --if_stale and the replacement note: real scripts in real git repos."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

STAGE = """
from naga import clicfg, runlock


class Config:
    save_dir = "results/train"
    lr = 0.1
    kind = "json"


class Opaque:
    pass


@clicfg(config_class=Config)
def main(cfg: Config):
    with open(f"{cfg.save_dir}/model.txt", "w") as f:
        f.write(f"lr={cfg.lr}")
    runlock(config=cfg, repos=["."])
    print("trained", flush=True)
    return {"acc": 0.75, "lr": cfg.lr} if cfg.kind == "json" else Opaque()


if __name__ == "__main__":
    main()
"""


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def _project(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "train.py").write_text(STAGE)
    (repo / ".gitignore").write_text("results/\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return repo


def _run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "train.py", *args], cwd=repo, capture_output=True, text=True, timeout=120
    )


def test_if_stale_skips_a_fresh_run_and_runs_a_stale_one(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    first = _run(repo, "--if_stale")
    assert first.returncode == 0 and "trained" in first.stdout
    assert "holds no finished run: running" in first.stderr

    again = _run(repo, "--if_stale")  # nothing it used changed: like make, nothing to do
    assert again.returncode == 0 and "trained" not in again.stdout
    assert "is up to date" in again.stderr and "skipped" in again.stderr

    (repo / "README.md").write_text("not used by the run\n")
    assert "trained" not in _run(repo, "--if_stale").stdout

    (repo / "train.py").write_text(STAGE + "\nFIXED = True\n")
    stale = _run(repo, "--if_stale")
    assert "is stale (train.py modified): running" in stale.stderr
    assert "trained" in stale.stdout

    other = _run(repo, "--if_stale", "-o", "lr=0.2")  # another config in the same folder
    assert "holds a run of another config: running" in other.stderr and "trained" in other.stdout


def test_result_json_record_and_replacement_note(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    assert _run(repo).returncode == 0
    run = repo / "results" / "train"
    assert json.loads((run / "result.json").read_text()) == {"acc": 0.75, "lr": 0.1}
    record = json.loads((run / ".naga" / "record.json").read_text())
    assert record["status"] == "done" and record["end"] and record["duration_s"] >= 0

    same = _run(repo)  # the same config again: nothing to say
    assert "held a finished run" not in same.stderr
    replaced = _run(repo, "-o", "lr=0.4")
    assert (
        "naga: results/train held a finished run with lr=0.1; replacing it with lr=0.4. "
        "Runs built on it will show as stale." in replaced.stderr
    )
    assert json.loads((run / "result.json").read_text())["lr"] == 0.4

    opaque = _run(repo, "-o", "kind=opaque")  # JSON cannot hold it: one line, not an error
    assert opaque.returncode == 0
    assert "is not kept in result.json: JSON cannot hold it" in opaque.stderr
    assert json.loads((run / ".naga" / "record.json").read_text())["status"] == "done"


def test_result_of_a_function_call_without_save_dir_is_only_returned(tmp_path: Path) -> None:
    from naga import clicfg

    @clicfg(config_class={"x": 1})
    def main(cfg: dict) -> int:
        return cfg["x"] * 2

    assert main(x=4) == 8
    assert not list(tmp_path.iterdir())


def test_replaying_a_run_accepts_the_keys_it_added(tmp_path: Path) -> None:
    # Before: `--config results/x/run.lock` of a run made with `-o +extra=5` failed with
    # "the config has no key 'extra'"; a run's own record now replays as it ran.
    repo = _project(tmp_path)
    assert _run(repo, "-o", "+extra=5", "save_dir=results/plus").returncode == 0
    for source in ("results/plus/run.lock", "results/plus/config.json"):
        shown = _run(repo, "--config", source, "--print_config")
        assert shown.returncode == 0, shown.stderr
        assert "extra: 5" in shown.stdout
    # Any other file keeps refusing an unknown key.
    (repo / "other.yml").write_text("extra: 5\n")
    refused = _run(repo, "--config", "other.yml")
    assert refused.returncode == 2 and "no key 'extra'" in refused.stderr


# -- a Slurm job that submitit requeues ---------------------------------------------------------

#: A task that runs until it is signalled; its checkpoint() leaves a file `checkpointed`. Started
#: again after the requeue, the script leaves `restarted` and waits for a file `go` before its
#: record is rewritten, so the test reads the record the requeue left.
REQUEUED_JOB = """
import time
from pathlib import Path
from naga import clicfg

HERE = Path(__file__).parent
if (HERE / "checkpointed").exists():
    (HERE / "restarted").write_text("")
    while not (HERE / "go").exists():
        time.sleep(0.05)

class Config:
    save_dir = "run"

@clicfg(config_class=Config)
def main(cfg: Config):
    if (HERE / "checkpointed").exists():
        return {"resumed": 1}
    while True:
        time.sleep(0.05)

def checkpoint(cfg):
    (HERE / "checkpointed").write_text("")
    return None

main.checkpoint = checkpoint
"""


@contextlib.contextmanager
def _submitted(tmp_path: Path, max_requeues: int, timeout_min: float | None) -> Iterator[Any]:
    """The job of one task of REQUEUED_JOB, as the Slurm backend submits it, on submitit's local
    executor: the same checkpoint protocol (USR2, checkpoint(), the job's requeue and restart)
    with no Slurm (its requeue is an exit with status 144 that the local controller restarts).
    A job still there at the end is let go and killed, so a failing test leaves no process."""
    job = _submit(tmp_path, max_requeues, timeout_min)
    try:
        yield job
    finally:
        (tmp_path / "go").write_text("")
        if not job.done():
            os.kill(_job_process(job), signal.SIGKILL)  # submitit's job ignores SIGTERM


def _submit(tmp_path: Path, max_requeues: int, timeout_min: float | None) -> Any:
    submitit = pytest.importorskip("submitit")
    from naga.launch._backend import Entry, Task
    from naga.launch._requeue import SlurmTask

    tmp_path.mkdir(exist_ok=True)
    script = tmp_path / "job.py"
    script.write_text(REQUEUED_JOB)
    task = Task(
        index=0,
        key="k",
        label="run",
        config={"save_dir": "run"},  # relative: the task's, from its cwd
        log=str(tmp_path / "logs" / "run.log"),
        entry=Entry(file=str(script), module="__main__", name="main"),
        cwd=str(tmp_path),
        timeout_min=timeout_min,
    )
    executor = submitit.LocalExecutor(folder=tmp_path / "submitit", max_num_timeout=max_requeues)
    executor.update_parameters(timeout_min=60)
    return executor.submit(SlurmTask(task, max_requeues))


def _job_process(job: Any) -> int:
    """The job's own process: the child of submitit's local controller (Linux)."""
    controller = int(job.job_id)
    children = Path(f"/proc/{controller}/task/{controller}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def _wait(condition: Callable[[], bool], job: Any, timeout: float = 120) -> None:
    """Poll ``condition`` until it holds; fail when the job ends first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert not job.done(), job.stderr()
        assert time.monotonic() < deadline, f"timed out after {timeout} s"
        time.sleep(0.05)


def _running(run: Path) -> Callable[[], bool]:
    from naga._record import read_record

    return lambda: (read_record(run) or {}).get("status") == "running"


def _signal_time_limit(job: Any) -> None:
    """What Slurm sends ``signal_delay_s`` before the time limit (or on a preemption)."""
    from submitit.local.local import LocalJobEnvironment

    os.kill(_job_process(job), LocalJobEnvironment._usr_sig())


@pytest.mark.parametrize("timeout_min", [None, 30.0], ids=["in the job", "in its own process"])
def test_a_requeued_run_reads_requeued_until_its_job_starts_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], timeout_min: float | None
) -> None:
    # Before: the exit submitit raises to end a job it requeues was written as `failed`, and
    # `naga ls` showed the run failed until the job started again (minutes, on a busy cluster);
    # a task run in its own process (--task_timeout) was killed and read as `died`.
    from naga._record import read_record
    from naga.cli._main import main as naga
    from naga.launch._backend import TaskStatus

    run = tmp_path / "run"
    with _submitted(tmp_path, max_requeues=1, timeout_min=timeout_min) as job:
        _wait(_running(run), job)
        _signal_time_limit(job)
        _wait((tmp_path / "restarted").exists, job)  # requeued, started again, waiting for `go`

        assert (read_record(run) or {}).get("status") == "requeued"
        on_disk = json.loads((run / ".naga" / "record.json").read_text())
        assert on_disk["status"] == "requeued" and "error" not in on_disk and on_disk["end"]
        assert naga(["ls", str(tmp_path)]) == 0
        assert f"{run}  requeued" in capsys.readouterr().out
        assert naga(["ls", str(tmp_path), "--table", "--csv"]) == 0
        assert "run,requeued," in capsys.readouterr().out

        (tmp_path / "go").write_text("")
        assert job.result().status is TaskStatus.DONE
    assert (read_record(run) or {})["status"] == "done"
    assert json.loads((run / "result.json").read_text()) == {"resumed": 1}


def test_a_run_stopped_without_a_requeue_still_fails_and_a_killed_one_dies(tmp_path: Path) -> None:
    from naga._record import read_record
    from naga.launch._backend import TaskStatus

    # No requeue left: submitit stops the task with UncompletedJobError, a failure of the run.
    run = tmp_path / "stopped" / "run"
    with _submitted(tmp_path / "stopped", max_requeues=0, timeout_min=None) as job:
        _wait(_running(run), job)
        _signal_time_limit(job)
        assert job.result().status is TaskStatus.TIMEOUT
    record = read_record(run) or {}
    assert record["status"] == "failed" and record["error"]["type"] == "UncompletedJobError"

    # Killed with no requeue under way: the record says running, and reads as died.
    run = tmp_path / "killed" / "run"
    with _submitted(tmp_path / "killed", max_requeues=1, timeout_min=None) as job:
        _wait(_running(run), job)
        os.kill(_job_process(job), signal.SIGKILL)
        job.wait()  # its controller reaped it and ended: no requeue
    assert json.loads((run / ".naga" / "record.json").read_text())["status"] == "running"
    assert (read_record(run) or {})["status"] == "died"
