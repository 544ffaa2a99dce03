"""``naga rerun``: a run reproduced from its receipt alone, in a temporary worktree of the recorded
commit, its outputs compared file by file. Real git repositories, real processes: a deterministic
three-stage pipeline (prepare -> train -> evaluate) whose stages are clicfg scripts that call
runlock, each reading the previous stage's outputs through ``data=``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import run_script

PREPARE = """
from pathlib import Path
from naga import clicfg, runlock


class Config:
    save_dir = "results/prepare"
    raw = "data/raw.csv"
    scale = 2


@clicfg(config_class=Config)
def main(cfg: Config) -> None:
    rows = [int(x) for x in Path(cfg.raw).read_text().split()]
    out = Path(cfg.save_dir)
    (out / "train.csv").write_text("".join(f"{r * cfg.scale}\\n" for r in rows[:-1]))
    (out / "test.csv").write_text(f"{rows[-1] * cfg.scale}\\n")
    runlock(config=cfg, repos=["."], data=[cfg.raw])


if __name__ == "__main__":
    main()
"""

TRAIN = """
from pathlib import Path
from naga import clicfg, runlock
import model


class Config:
    save_dir = "results/train"
    data = "results/prepare/train.csv"
    epochs = 3


@clicfg(config_class=Config)
def main(cfg: Config) -> dict:
    weight = model.fit([int(x) for x in Path(cfg.data).read_text().split()], cfg.epochs)
    out = Path(cfg.save_dir)
    (out / "ckpt").mkdir(exist_ok=True)
    (out / "model.txt").write_text(f"{weight}\\n")
    (out / "ckpt" / "last.txt").write_text(f"epochs {cfg.epochs}\\n")
    runlock(config=cfg, repos=["."], data=[cfg.data])
    return {"weight": weight}


if __name__ == "__main__":
    main()
"""

MODEL = "def fit(rows, epochs):\n    return sum(rows) * epochs\n"

EVALUATE = """
import json
from pathlib import Path
from naga import clicfg, runlock


class Config:
    save_dir = "results/evaluate"
    model = "results/train/model.txt"
    test = "results/prepare/test.csv"


@clicfg(config_class=Config)
def main(cfg: Config) -> None:
    weight = int(Path(cfg.model).read_text())
    test = int(Path(cfg.test).read_text())
    score = {"score": weight - test}
    (Path(cfg.save_dir) / "metrics.json").write_text(json.dumps(score))
    runlock(config=cfg, repos=["."], data=[cfg.model, cfg.test])


if __name__ == "__main__":
    main()
"""

CLOCK = """
import time
from pathlib import Path
from naga import clicfg, runlock


class Config:
    save_dir = "results/clock"


@clicfg(config_class=Config)
def main(cfg: Config) -> None:
    (Path(cfg.save_dir) / "same.txt").write_text("always the same\\n")
    (Path(cfg.save_dir) / "time.txt").write_text(f"{time.time_ns()}\\n")
    runlock(config=cfg, repos=["."])


if __name__ == "__main__":
    main()
"""

_GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        env=_GIT_ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def _naga(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``naga ARGS`` in ``repo``, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "naga", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def _run(repo: Path, script: str, *args: str) -> None:
    done = run_script(repo, script, *args)
    assert done.returncode == 0, done.stderr


def _git_state(repo: Path) -> dict[str, str]:
    """What a rerun must leave as it was: the working tree, the index, HEAD, branches, refs."""
    return {
        "status": _git(repo, "status", "--porcelain", "--untracked-files=all"),
        "index": _git(repo, "ls-files", "-s"),
        "head": _git(repo, "rev-parse", "HEAD"),
        "symbolic": _git(repo, "symbolic-ref", "-q", "HEAD"),
        "branches": _git(repo, "branch", "-a", "-vv"),
        "refs": _git(repo, "for-each-ref"),
        "worktrees": _git(repo, "worktree", "list", "--porcelain"),
    }


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (but .git) with its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(folder).parts
    }


def _outputs_hash(run: Path) -> str:
    return yaml.safe_load((run / "run.lock").read_text())["outputs"]["."]["hash"]


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    """A project with the three stages run once. ``data/`` is ignored by git: the raw data is
    read from the user's tree, through a link in the worktree."""
    repo = tmp_path / "project"
    (repo / "data").mkdir(parents=True)
    (repo / "prepare.py").write_text(PREPARE)
    (repo / "train.py").write_text(TRAIN)
    (repo / "model.py").write_text(MODEL)
    (repo / "evaluate.py").write_text(EVALUATE)
    (repo / "clock.py").write_text(CLOCK)
    (repo / ".gitignore").write_text("results/\ndata/\n__pycache__/\n")
    (repo / "data" / "raw.csv").write_text("1\n2\n3\n4\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "pipeline")
    for script in ("prepare.py", "train.py", "evaluate.py"):
        _run(repo, script)
    return repo


def test_a_single_stage_is_reproduced_bit_for_bit(pipeline: Path) -> None:
    before = _git_state(pipeline)
    done = _naga(pipeline, "rerun", "results/train")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "results/train -> results/train@rerun-1: reproduced: 2 of 2 output files identical" in (
        done.stdout
    )
    rerun = pipeline / "results" / "train@rerun-1"
    original = pipeline / "results" / "train"
    assert (rerun / "model.txt").read_bytes() == (original / "model.txt").read_bytes()
    assert _outputs_hash(rerun) == _outputs_hash(original)
    # The rerun read prepare's output from the user's tree, through a link in the worktree.
    assert "data         results/prepare/train.csv: same as recorded" in done.stdout
    assert "warning" not in done.stdout  # same packages, and the recorded code was used
    # Its receipt reads as if it had run in the user's tree, and says what it reproduced.
    lock = yaml.safe_load((rerun / "run.lock").read_text())
    assert lock["rerun_of"]["run"] == "../train"
    assert lock["repos"]["."]["location"] == "../.."
    assert (
        lock["repos"]["."]["used"]
        == yaml.safe_load((original / "run.lock").read_text())["repos"]["."]["used"]
    )
    assert lock["data"]["results/prepare/train.csv"]["path"] == "../prepare/train.csv"
    assert json.loads((rerun / "result.json").read_text()) == {"weight": 36}
    status = _naga(pipeline, "status", "results/train@rerun-1")
    assert status.returncode == 0, status.stdout
    # Nothing of the user's moved: working tree, index, HEAD, branches, refs; no worktree left.
    assert _git_state(pipeline) == before
    # A second rerun takes the next free folder.
    again = _naga(pipeline, "rerun", "results/train")
    assert again.returncode == 0 and "results/train@rerun-2: reproduced" in again.stdout


def test_a_run_configured_by_a_file_is_rerun_without_a_false_warning(pipeline: Path) -> None:
    """The rerun reads the run's recorded config, not the config file the run read: that file
    is not code the rerun failed to use (before: "did not use the recorded conf.yml")."""
    (pipeline / "conf.yml").write_text("scale: 3\nsave_dir: results/scaled\n")
    _git(pipeline, "add", "conf.yml")
    _git(pipeline, "commit", "-qm", "a config")
    _run(pipeline, "prepare.py", "--config", "conf.yml")
    done = _naga(pipeline, "rerun", "results/scaled")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reproduced: 2 of 2 output files identical" in done.stdout
    assert "warning" not in done.stdout, done.stdout
    status = _naga(pipeline, "status", "results/scaled", "results/scaled@rerun-1")
    assert status.returncode == 0, status.stdout

    # Code the rerun really did not use from the worktree is still named: a module the stage
    # imports from the user's tree by an absolute path.
    (pipeline / "helper.py").write_text("VALUE = 1\n")
    script = f"import sys\nsys.path.insert(0, {str(pipeline)!r})\nimport helper\n" + PREPARE
    (pipeline / "pinned.py").write_text(script)
    _git(pipeline, "add", "helper.py", "pinned.py")
    _git(pipeline, "commit", "-qm", "a pinned helper")
    _run(pipeline, "pinned.py", "-o", "save_dir=results/pinned")
    done = _naga(pipeline, "rerun", "results/pinned")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning      the rerun did not use the recorded helper.py" in done.stdout


def test_upstream_reruns_use_the_recorded_code_and_feed_the_last_stage(pipeline: Path) -> None:
    recorded_prepare = _files(pipeline / "results" / "prepare")
    recorded = yaml.safe_load((pipeline / "results" / "evaluate" / "run.lock").read_text())
    # The first stage's code changes (committed), and its folder is overwritten by a run of it.
    (pipeline / "prepare.py").write_text(PREPARE.replace("scale = 2", "scale = 5"))
    _git(pipeline, "commit", "-qam", "scale 5")
    _run(pipeline, "prepare.py")
    assert _files(pipeline / "results" / "prepare") != recorded_prepare
    before = _git_state(pipeline)
    # Alone, the last stage cannot reproduce: what it read upstream changed.
    alone = _naga(pipeline, "rerun", "results/train")
    assert alone.returncode == 2
    assert "data differs from the receipt: results/prepare/train.csv: changed." in alone.stderr
    assert "or --upstream to reproduce the upstream stages first" in alone.stderr

    done = _naga(pipeline, "rerun", "results/evaluate", "--upstream")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.index("rerunning results/prepare") < out.index("rerunning results/train")
    assert out.index("rerunning results/train") < out.index("rerunning results/evaluate")
    for stage, count in (("prepare", 2), ("train", 2), ("evaluate", 1)):
        line = f"results/{stage} -> results/{stage}@rerun-1: reproduced: {count} of {count}"
        assert line in out
    results = pipeline / "results"
    # The upstream rerun ran the recorded code: its outputs are the recorded ones, not today's.
    rerun_prepare = {
        k: v for k, v in _files(results / "prepare@rerun-1").items() if k.endswith(".csv")
    }
    assert rerun_prepare == {k: v for k, v in recorded_prepare.items() if k.endswith(".csv")}
    embedded = recorded["prevs"]["../prepare"]["outputs"]["."]["hash"]
    assert _outputs_hash(results / "prepare@rerun-1") == embedded
    # The downstream stages were fed the reruns, not the overwritten originals.
    train = yaml.safe_load((results / "train@rerun-1" / "run.lock").read_text())
    assert train["config"]["data"] == str(results / "prepare@rerun-1" / "train.csv")
    assert "../prepare@rerun-1" in train["prevs"]
    evaluate = yaml.safe_load((results / "evaluate@rerun-1" / "run.lock").read_text())
    assert set(evaluate["prevs"]) == {"../train@rerun-1", "../prepare@rerun-1"}
    assert (results / "evaluate@rerun-1" / "metrics.json").read_bytes() == (
        results / "evaluate" / "metrics.json"
    ).read_bytes()
    assert _git_state(pipeline) == before


def test_a_nondeterministic_output_is_named_exit_1(pipeline: Path) -> None:
    _run(pipeline, "clock.py")
    done = _naga(pipeline, "rerun", "results/clock")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "not reproduced: 1 of 2 output files identical" in done.stdout
    assert "outputs  time.txt modified" in done.stdout
    assert "same.txt" not in done.stdout.split("not reproduced")[1]


def test_changed_data_refuses_unless_allowed(pipeline: Path) -> None:
    (pipeline / "data" / "raw.csv").write_text("1\n2\n3\n5\n")
    before = _files(pipeline / "results")
    done = _naga(pipeline, "rerun", "results/prepare")
    assert done.returncode == 2
    assert "naga: error: results/prepare: data differs from the receipt: data/raw.csv" in (
        done.stderr
    )
    assert "--allow_changed_data" in done.stderr
    assert "Traceback" not in done.stderr
    assert _files(pipeline / "results") == before  # refused before anything was written
    assert _git(pipeline, "worktree", "list").count("\n") == 1

    allowed = _naga(pipeline, "rerun", "results/prepare", "--allow_changed_data")
    assert allowed.returncode == 1, allowed.stdout + allowed.stderr
    assert "outputs  test.csv modified" in allowed.stdout
    assert (pipeline / "results" / "prepare@rerun-1" / "test.csv").read_text() == "10\n"


def test_dry_run_prints_the_plan_and_writes_nothing(pipeline: Path) -> None:
    before, files = _git_state(pipeline), _files(pipeline)
    done = _naga(pipeline, "rerun", "results/evaluate", "--upstream", "--dry_run")
    assert done.returncode == 0, done.stdout + done.stderr
    head = _git(pipeline, "rev-parse", "HEAD").strip()
    assert f"code         commit {head}" in done.stdout
    assert "would rerun results/prepare" in done.stdout
    assert "folder       results/evaluate@rerun-1" in done.stdout
    assert "--config " in done.stdout and "evaluate.py" in done.stdout
    assert "data         data/raw.csv: same as recorded" in done.stdout
    assert "results/train/model.txt: read from the rerun results/train@rerun-1" in done.stdout
    assert _git_state(pipeline) == before
    assert _files(pipeline) == files


def test_added_keys_and_json_output(pipeline: Path) -> None:
    """A config with a key added by ``-o +key=value``: `--config run.lock` alone refuses it
    (an unknown key), the rerun's config file marks it ``+note``."""
    _run(pipeline, "prepare.py", "-o", "+note=first try", "save_dir=results/noted")
    done = _naga(pipeline, "rerun", "results/noted", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["reproduced"] is True
    assert report["stages"][0]["status"] == "reproduced"
    config = yaml.safe_load(
        (pipeline / "results" / "noted@rerun-1" / ".naga" / "rerun-config.yml").read_text()
    )
    assert config["+note"] == "first try"
    lock = yaml.safe_load((pipeline / "results" / "noted@rerun-1" / "run.lock").read_text())
    assert lock["config"]["note"] == "first try"


def test_in_place_when_the_code_matches_else_refused(pipeline: Path) -> None:
    done = _naga(pipeline, "rerun", "results/train", "--in_place")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "results/train -> results/train: reproduced: 2 of 2" in done.stdout
    assert not (pipeline / "results" / "train@rerun-1").exists()
    (pipeline / "model.py").write_text(MODEL.replace("* epochs", "* epochs + 1"))
    refused = _naga(pipeline, "rerun", "results/train", "--in_place")
    assert refused.returncode == 2
    assert "--in_place needs the working tree to hold the code the run used" in refused.stderr
    assert "model.py modified" in refused.stderr


def test_a_sweep_task_is_rerun_and_a_sweep_folder_names_its_tasks(pipeline: Path) -> None:
    (pipeline / "epochs.txt").write_text("1\n2\n")
    _run(pipeline, "train.py", "--tasks", "epochs.txt", "--task_to", "epochs", "-o",
         "save_dir=results/sweep")  # fmt: skip
    sweep = _naga(pipeline, "rerun", "results/sweep")
    assert sweep.returncode == 2
    assert "is a sweep: rerun its tasks one at a time" in sweep.stderr
    task = next(p for p in (pipeline / "results" / "sweep").iterdir() if (p / "run.lock").exists())
    rel = f"results/sweep/{task.name}"
    done = _naga(pipeline, "rerun", rel)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{rel} -> {rel}@rerun-1: reproduced: 2 of 2" in done.stdout


def test_an_interactive_session_receipt_is_a_clear_error(pipeline: Path) -> None:
    code = "from naga import runlock; runlock(config={'save_dir': 'results/live'}, repos=['.'])"
    subprocess.run([sys.executable, "-c", code], cwd=pipeline, check=True)
    done = _naga(pipeline, "rerun", "results/live")
    assert done.returncode == 2
    assert "naga: error: results/live: its run.lock was written from an interactive session" in (
        done.stderr
    )
    assert "'<string>'" in done.stderr and "Traceback" not in done.stderr


def test_a_missing_snapshot_commit_is_named_with_naga_pull(pipeline: Path, tmp_path: Path) -> None:
    (pipeline / "notes.txt").write_text("untracked, not ignored: the tree is dirty\n")
    _run(pipeline, "prepare.py", "-o", "save_dir=results/dirty")
    snapshot = yaml.safe_load((pipeline / "results" / "dirty" / "run.lock").read_text())["repos"][
        "."
    ]["snapshot"]
    # Another machine: a clone (naga's snapshot refs are not cloned) with the results copied in.
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", pipeline.as_uri(), str(clone))
    subprocess.run(["cp", "-r", str(pipeline / "results"), str(clone / "results")], check=True)
    done = _naga(clone, "rerun", "results/dirty")
    assert done.returncode == 2
    assert f"the recorded snapshot commit {snapshot} is not in the repository" in done.stderr
    assert "naga pull" in done.stderr


def test_package_differences_warn_and_strict_refuses(pipeline: Path) -> None:
    """The receipt of a run on another machine: one imported package had another version."""
    lock_file = pipeline / "results" / "train" / "run.lock"
    lock = yaml.safe_load(lock_file.read_text())
    name = "pyyaml"  # installed here (the stages import nothing: it is naga's, not theirs)
    lock["environment"]["imported"][name] = "0.0.1"
    lock_file.write_text(yaml.safe_dump(lock, sort_keys=False))
    refused = _naga(pipeline, "rerun", "results/train", "--strict")
    assert refused.returncode == 2
    assert f"results/train: {name} 0.0.1 -> " in refused.stderr
    assert "drop --strict" in refused.stderr
    assert not (pipeline / "results" / "train@rerun-1").exists()
    done = _naga(pipeline, "rerun", "results/train")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"warning      environment differs: {name} 0.0.1 -> " in done.stdout
