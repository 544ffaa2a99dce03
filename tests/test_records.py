"""Run records, results, --if_stale and the replacement note: real scripts in real git repos."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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

    (repo / "train.py").write_text(STAGE + "\n# a fix\n")
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
