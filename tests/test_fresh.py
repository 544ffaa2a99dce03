"""A sweep rerun skips only what is done and fresh: stale tasks run again, with the reason;
--force, --rerun failed; one sweep per folder at a time. Real git repos, real worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from helpers import popen_script, run_script

TRAIN = """
import os, sys, time
from naga import clicfg, runlock
import model


class Config:
    save_dir = "results/sweep"
    lr = 0.1
    data = "data/train.csv"
    pause = 0.0


@clicfg(config_class=Config)
def main(cfg: Config) -> dict:
    if cfg.lr == 0.3 and os.path.exists("fail"):
        raise RuntimeError("diverged")
    time.sleep(cfg.pause)
    with open("runs.log", "a") as log:
        log.write(f"{cfg.lr}\\n")
    with open(os.path.join(cfg.save_dir, "score.txt"), "w") as out:
        out.write(str(model.score(cfg.lr)))
    runlock(config=cfg, repos=["."], data=[cfg.data])
    return {"score": model.score(cfg.lr)}


if __name__ == "__main__":
    main()
"""


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def _project(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    (repo / "data").mkdir(parents=True)
    (repo / "train.py").write_text(TRAIN)
    (repo / "model.py").write_text("def score(lr):\n    return lr * 10\n")
    (repo / "data" / "train.csv").write_text("x\n1\n")
    (repo / "data" / "other.csv").write_text("y\n2\n")
    (repo / "tasks.txt").write_text("0.1\n0.2\n0.3\n")
    (repo / ".gitignore").write_text("results/\nruns.log\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return repo


def _sweep(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_script(repo, "train.py", "--tasks", "tasks.txt", "--task_to", "lr", *args)


def _ran(repo: Path) -> list[str]:
    """The tasks that ran since the last call, in order."""
    log = repo / "runs.log"
    if not log.exists():
        return []
    runs = sorted(log.read_text().split())
    log.unlink()
    return runs


def test_a_code_fix_reruns_the_stale_tasks_and_says_why(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    first = _sweep(repo, "--n_jobs", "2")
    assert first.returncode == 0, first.stderr
    assert _ran(repo) == ["0.1", "0.2", "0.3"]
    state = yaml.safe_load((repo / "results/sweep/tasks.yaml").read_text())
    assert [t["result"] for t in state["tasks"]] == [{"score": 1.0}, {"score": 2.0}, {"score": 3.0}]

    again = _sweep(repo)  # nothing changed: every task is done and fresh
    assert again.returncode == 0 and _ran(repo) == []
    assert "3 skipped" in again.stderr

    (repo / "README.md").write_text("a commit the runs did not use\n")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "readme")
    assert _sweep(repo).returncode == 0 and _ran(repo) == []

    (repo / "model.py").write_text("def score(lr):\n    return lr * 100\n")  # the fix
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "fix")
    fixed = _sweep(repo)
    assert fixed.returncode == 0, fixed.stderr
    assert "naga: 3 stale (model.py modified): rerun." in fixed.stderr
    assert _ran(repo) == ["0.1", "0.2", "0.3"]
    state = yaml.safe_load((repo / "results/sweep/tasks.yaml").read_text())
    assert state["tasks"][0]["result"] == {"score": 10.0}


def test_a_data_change_reruns_only_the_tasks_that_read_it(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    (repo / "tasks.yaml").write_text(
        "- {lr: 0.1, data: data/train.csv}\n- {lr: 0.2, data: data/other.csv}\n"
    )
    args = ["--tasks", "tasks.yaml"]
    assert run_script(repo, "train.py", *args).returncode == 0
    assert _ran(repo) == ["0.1", "0.2"]
    (repo / "data" / "other.csv").write_text("y\n3\n")
    done = run_script(repo, "train.py", *args)
    assert "1 stale (data/other.csv content changed): rerun." in done.stderr, done.stderr
    assert _ran(repo) == ["0.2"]


def test_force_and_rerun_failed(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    (repo / "fail").write_text("")
    first = _sweep(repo)
    assert first.returncode == 1 and _ran(repo) == ["0.1", "0.2"]
    (repo / "model.py").write_text("def score(lr):\n    return -lr\n")  # makes the done ones stale
    (repo / "fail").unlink()
    only_failed = _sweep(repo, "--rerun", "failed")
    assert only_failed.returncode == 0 and _ran(repo) == ["0.3"]
    assert "stale" not in only_failed.stderr
    forced = _sweep(repo, "--force")
    assert forced.returncode == 0 and _ran(repo) == ["0.1", "0.2", "0.3"]
    assert "--force: 3 done task(s) rerun" in forced.stderr


def test_two_concurrent_sweeps_never_run_a_task_twice(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    slow = popen_script(
        repo, "train.py", "--tasks", "tasks.txt", "--task_to", "lr", "-o", "pause=1.5"
    )
    lock = repo / "results/sweep/.naga/sweep.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text()):
        assert slow.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    refused = _sweep(repo, "-o", "pause=1.5")
    assert refused.returncode == 2
    assert f"another sweep is running in 'results/sweep' (pid {slow.pid} on " in refused.stderr
    assert "--wait" in refused.stderr and "Traceback" not in refused.stderr
    waited = _sweep(repo, "-o", "pause=1.5", "--wait")  # starts when the first one ends
    assert slow.wait(timeout=120) == 0
    assert waited.returncode == 0 and "3 skipped" in waited.stderr
    assert _ran(repo) == ["0.1", "0.2", "0.3"]  # each task ran once


def test_a_lock_left_by_a_killed_sweep_is_taken_over(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    slow = popen_script(
        repo, "train.py", "--tasks", "tasks.txt", "--task_to", "lr", "-o", "pause=30"
    )
    lock = repo / "results/sweep/.naga/sweep.lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text()):
        assert slow.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    slow.kill()
    slow.wait()
    done = _sweep(repo, "--n_jobs", "3")
    assert done.returncode == 0, done.stderr
    assert sys.executable  # the sweep ran: no stale lock held it
