"""The naga command end to end, on real runs in real git repositories."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

import naga
from naga import runlock
from naga.cli import main

SRC = str(Path(naga.__file__).resolve().parents[1])


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def naga_cmd(
    *args: str, python: str = sys.executable, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [python, "-m", "naga", *args], capture_output=True, text=True, timeout=300, cwd=cwd
    )


@pytest.fixture
def run_dirs(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(git_repo)
    (git_repo / "stage.py").write_text("print('stage')\n")
    (git_repo / "data").mkdir()
    for name in ("a.csv", "b.csv"):
        (git_repo / "data" / name).write_text(name)
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-qm", "stage")
    runlock(config={"param": 1}, repos=["."], data=["data"], runlock_path="results/pre/run.lock")
    runlock(
        config={"param": 2, "nested": {"lr": 0.1}},
        repos=["."],
        data=["data/a.csv"],
        prevs=["results/pre"],
        runlock_path="results/train/run.lock",
    )
    return git_repo


def test_status_up_to_date_then_each_kind_of_change(
    run_dirs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "results/pre", "results/train"]) == 0
    assert "results/train: up to date" in capsys.readouterr().out

    # stage.py was never imported by these runs (they ran in pytest): not a reason.
    (run_dirs / "stage.py").write_text("print('edited')\n")
    assert main(["status", "results/pre"]) == 0
    capsys.readouterr()
    (run_dirs / "data" / "b.csv").write_text("changed")
    assert main(["status", "results/pre"]) == 1
    out = capsys.readouterr().out
    assert "data         data/b.csv modified" in out and "stage.py" not in out

    # The downstream stage is stale because its upstream is, and says why.
    assert main(["status", "--json", "results/train"]) == 1
    report = json.loads(capsys.readouterr().out)["results/train"]
    notes = {c["note"] for c in report["reasons"]}
    assert "is stale: data/b.csv modified" in notes and report["up_to_date"] is False

    # Rerunning the upstream stage with the same (empty) outputs is information, not a reason.
    (run_dirs / "data" / "b.csv").write_text("b.csv")
    runlock(config={"param": 1}, repos=["."], data=["data"], runlock_path="results/pre/run.lock")
    assert main(["status", "--all", "results/train"]) == 0
    assert "upstream results/pre rerun with identical outputs" in capsys.readouterr().out


def test_head_moved_and_config_file_edited(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(git_repo)
    (git_repo / "c.yml").write_text("param: 3\n")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-qm", "config")

    @naga.clicfg(config_class={"param": 1, "save_dir": "out"})
    def stage(cfg: dict) -> None:
        runlock(config=cfg, repos=["."])

    stage(argv=["--config", "c.yml"])
    (git_repo / "c.yml").write_text("param: 4\n")
    git(git_repo, "commit", "-qam", "move")
    assert main(["status", "out"]) == 1
    out = capsys.readouterr().out
    # The config file is judged by the value it gave; the new commit is information only.
    assert "config       param 3 -> 4 (../c.yml)" in out and "HEAD" not in out
    assert main(["status", "--all", "out"]) == 1
    assert "HEAD" in capsys.readouterr().out


def test_package_upgrade_in_a_venv(tmp_path: Path, git_repo: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    packages = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    # naga and its dependencies come from this test run's environment, through a .pth file.
    (packages / "naga-test.pth").write_text("\n".join([SRC, *site.getsitepackages()]) + "\n")
    dist = packages / "fakepkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0\n")
    (dist / "top_level.txt").write_text("fakepkg\n")
    (packages / "fakepkg.py").write_text("")
    record = f"import fakepkg; from naga import runlock; runlock(config={{'a': 1}}, repos=['{git_repo}'], runlock_path='{tmp_path}/run/run.lock')"
    subprocess.run([python, "-c", record], check=True, cwd=tmp_path)
    assert naga_cmd("status", str(tmp_path / "run"), python=python).returncode == 0
    # naga run from another environment compares the run's own interpreter, not its own.
    assert naga_cmd("status", str(tmp_path / "run")).returncode == 0
    dist.rename(packages / "fakepkg-2.0.dist-info")
    for interpreter in (python, sys.executable):
        done = naga_cmd("status", str(tmp_path / "run"), python=interpreter)
        assert done.returncode == 1
        assert "environment  fakepkg 1.0 -> 2.0" in done.stdout
    shutil.rmtree(venv)  # the run's Python is gone: said, and this one compared instead
    done = naga_cmd("status", str(tmp_path / "run"))
    assert done.returncode == 1 and "the run's Python is gone" in done.stdout


def test_status_names_each_code_change_against_the_snapshot(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The run was made from a dirty tree: its snapshot holds an edit and an untracked file.
    monkeypatch.chdir(git_repo)
    (git_repo / ".gitignore").write_text("*.log\n")
    (git_repo / "README.md").write_text("edited before the run\n")
    (git_repo / "notes.txt").write_text("untracked, in the snapshot\n")
    (git_repo / "keep.txt").write_text("untracked, unchanged\n")
    runlock(config={"p": 1}, repos=["."], runlock_path="results/r/run.lock")
    assert main(["status", "results/r"]) == 0
    capsys.readouterr()

    (git_repo / "notes.txt").unlink()
    (git_repo / "new.py").write_text("x = 1\n")
    (git_repo / "README.md").write_text("edited after the run\n")
    (git_repo / "debug.log").write_text("ignored\n")
    (git_repo / "results" / "r" / "out.txt").write_text("a run's output is not code\n")
    # None of these files was used by the run: information under --all, listed against the
    # snapshot; the run's new output is named as such.
    assert main(["status", "--json", "--all", "results/r"]) == 1
    report = json.loads(capsys.readouterr().out)["results/r"]
    assert {c["key"]: c["note"] for c in report["also_changed"] if c["part"] == "code"} == {
        "README.md": "modified",
        "new.py": "added",
        "notes.txt": "deleted",
    }
    assert [(c["part"], c["key"], c["note"]) for c in report["reasons"]] == [
        ("outputs", "out.txt", "added")
    ]


def test_diff_and_ls(run_dirs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", "results/pre", "results/train"]) == 1
    out = capsys.readouterr().out
    assert "config       param: 1 -> 2" in out and "nested.lr: None -> 0.1  (added)" in out
    assert "data         data/a.csv" in out and "prevs" in out
    assert main(["diff", "results/pre", "results/pre/run.lock"]) == 0
    capsys.readouterr()
    assert main(["ls", ".", "--json", "--status"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in rows] == ["results/pre", "results/train"]
    assert rows[0]["stage"] == "tests/test_cli.py:run_dirs" and rows[0]["fresh"] == "up to date"
    assert rows[0]["status"] == "done"  # a receipt written without clicfg: done, no duration
    # A broken receipt is listed as such and does not hide the other runs.
    (run_dirs / "results" / "broken").mkdir()
    (run_dirs / "results" / "broken" / "run.lock").write_text("{{{\n")
    assert main(["ls", "results"]) == 2
    captured = capsys.readouterr()
    assert "results/broken  unreadable run.lock" in captured.out
    assert "results/train" in captured.out and "not valid YAML" in captured.err


def test_log_to_a_sqlite_store(
    run_dirs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{run_dirs / 'mlflow.db'}")
    assert main(["log", "results/pre", "results/train", "--json"]) == 0
    ids = json.loads(capsys.readouterr().out)
    assert set(ids) == {"results/pre", "results/train"}
    import mlflow

    run = mlflow.tracking.MlflowClient().get_run(ids["results/train"])
    assert run.data.tags["naga.prev.0.run_id"] == ids["results/pre"]


@pytest.mark.parametrize(
    ("args", "files", "message"),
    [
        (["status", "missing"], {}, "'missing' does not exist"),
        (["status", "empty"], {"empty/x.txt": "x"}, "no run.lock in 'empty'"),
        (
            ["diff", "corrupt", "corrupt"],
            {"corrupt/run.lock": "a: [\n"},
            "line 2 is not valid YAML",
        ),
        (["status", "foreign"], {"foreign/run.lock": "x: 1\n"}, "is not a naga run.lock"),
        (
            ["ls", "newer"],
            {"newer/run/run.lock": "lock_version: 99\n"},
            "has lock_version 99, newer than this naga reads",
        ),
        (["ls", "nowhere"], {}, "'nowhere' is not a directory"),
    ],
)
def test_bad_input_exits_2_cleanly(
    tmp_path: Path, args: list[str], files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    done = naga_cmd(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("naga: error: ") and message in lines[0], (
        done.stderr
    )


def test_help_shows_examples() -> None:
    done = naga_cmd("--help")
    assert done.returncode == 0 and "naga status results/process" in done.stdout
    for command in ("status", "diff", "ls", "log"):
        assert "example:" in naga_cmd(command, "--help").stdout


CRASHING = """
import os, sys, time
from naga import clicfg, runlock


class Config:
    save_dir = "results/crash"
    mode = "raise"


@clicfg(config_class=Config)
def main(cfg: Config) -> dict:
    if cfg.mode == "raise":
        raise ValueError("bad batch")
    if cfg.mode == "hang":
        print("started", flush=True)
        time.sleep(600)
    return {"acc": 0.5, "loss": 1.25}


if __name__ == "__main__":
    main()
"""


def test_ls_lists_failed_died_and_done_runs_with_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run.py").write_text(CRASHING)
    crash = subprocess.run(
        [sys.executable, "run.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert crash.returncode == 1 and "ValueError: bad batch" in crash.stderr
    ok = subprocess.run(
        [sys.executable, "run.py", "-o", "mode=ok", "save_dir=results/ok"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "results/ok/result.json").read_text()) == {
        "acc": 0.5,
        "loss": 1.25,
    }
    hang = subprocess.Popen(
        [sys.executable, "run.py", "-o", "mode=hang", "save_dir=results/hang"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert hang.stdout is not None and hang.stdout.readline() == "started\n"
    assert main(["ls", str(tmp_path / "results"), "--json"]) == 0
    statuses = {Path(r["path"]).name: r["status"] for r in json.loads(capsys.readouterr().out)}
    assert statuses == {"crash": "failed", "hang": "running", "ok": "done"}
    hang.kill()  # kill -9: the record still says running; its pid is gone
    hang.wait()
    assert main(["ls", str(tmp_path / "results"), "--json"]) == 0
    rows = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)}
    assert rows["hang"]["status"] == "died"
    assert rows["crash"]["failure"] == "ValueError: bad batch"
    record = json.loads((tmp_path / "results/crash/.naga/record.json").read_text())
    assert record["error"]["where"].endswith("run.py:14") and record["duration_s"] >= 0
    assert record["host"] and record["pid"] and record["command"][-1] == "run.py"
