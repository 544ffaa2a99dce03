"""`naga ls ROOT --table` over 1,000 run folders, against reading the same files in a bare loop.

One real run.lock is written by runlock (a git repository, an upstream stage embedded, the whole
environment), then copied into 1,000 run folders with varied config (lr, seed, model.depth), each
with a run record and a result.json, as @clicfg leaves them. The command (a new process, as a user
runs it) is timed against a bare loop in one process that reads the same files with PyYAML's C
loader and json: the least any tool must do to show those runs, interpreter start not included.

Run: python benchmarks/table.py [runs]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved, table, time_call, time_command

ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "NAGA_CACHE_DIR": ""}

STAGE = """
import sys
from naga import runlock
name, prev = sys.argv[1], sys.argv[2:]
config = {"lr": 0.1, "seed": 0, "model": {"depth": 4, "width": 128}, "data": "data/train.csv",
          "save_dir": f"results/{name}", "checkpoint": f"results/{name}/model.pt"}
runlock(config=config, repos=["."], data=["data"], prevs=prev, runlock_path=f"results/{name}/run.lock")
"""


def real_lock(root: Path) -> str:
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=ENV)
    (root / ".gitignore").write_text("results/\n")
    (root / "stage.py").write_text(STAGE)
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text("x\n" * 1000)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=ENV)
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"],
        cwd=root,
        check=True,
        env=ENV,
    )
    for name, prev in (("prepare", []), ("train", ["results/prepare"])):
        subprocess.run([sys.executable, "stage.py", name, *prev], cwd=root, check=True, env=ENV)
    return (root / "results" / "train" / "run.lock").read_text()


def make_runs(root: Path, text: str, count: int) -> Path:
    from naga._yaml import dump_yaml, load_yaml

    lock = load_yaml(text)
    runs = root / "sweep"
    for i in range(count):
        folder = runs / f"lr={i}"
        (folder / ".naga").mkdir(parents=True)
        save_dir = f"sweep/lr={i}"
        lock["config"] = {
            **lock["config"],
            "lr": round(0.001 * (i + 1), 6),
            "seed": i % 7,
            "model": {"depth": 2 + i % 5, "width": 128},
            "save_dir": save_dir,
            "checkpoint": f"{save_dir}/model.pt",
        }
        (folder / "run.lock").write_text(dump_yaml(lock))
        record = {
            "status": "done" if i % 50 else "failed",
            "start": "2025-01-01T00:00:00Z",
            "end": "2025-01-01T00:01:00Z",
            "duration_s": 60.0 + i % 13,
            "host": "elsewhere",  # another machine's run: no pid check
            "pid": 1,
        }
        (folder / ".naga" / "record.json").write_text(json.dumps(record))
        (folder / "result.json").write_text(
            json.dumps({"acc": 0.5 + (i % 97) / 200, "loss": i / 1e3})
        )
    return runs


def bare_loop(runs: Path) -> int:
    """What any table of these runs must at least do: parse every file (no output)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    count = 0
    for folder in sorted(runs.iterdir()):
        with open(folder / "run.lock", encoding="utf-8") as handle:
            config = yaml.load(handle, Loader=loader)["config"]
        with open(folder / ".naga" / "record.json", encoding="utf-8") as handle:
            json.load(handle)
        with open(folder / "result.json", encoding="utf-8") as handle:
            json.load(handle)
        count += len(config)
    return count


def config_block_loop(runs: Path) -> int:
    """The same loop, parsing only each run.lock's `config:` block, as `naga ls --table` does."""
    from naga.cli._table import read_config

    count = 0
    for folder in sorted(runs.iterdir()):
        count += len(read_config(folder / "run.lock"))
        with open(folder / ".naga" / "record.json", encoding="utf-8") as handle:
            json.load(handle)
        with open(folder / "result.json", encoding="utf-8") as handle:
            json.load(handle)
    return count


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        text = real_lock(root / "project")
        runs = make_runs(root, text, count)
        print(f"{count} runs, run.lock {len(text):,} bytes each (a real one, config varied)")
        naga = [sys.executable, "-m", "naga", "ls", str(runs), "--table"]
        out = subprocess.run(naga, capture_output=True, text=True, check=True).stdout.splitlines()
        print(f"`naga ls --table`: {len(out) - 1} rows; columns: {out[0].split()}")
        medians = interleaved(
            {
                "bare loop (PyYAML C + json)": lambda: time_call(lambda: bare_loop(runs)),
                "loop parsing only config:": lambda: time_call(lambda: config_block_loop(runs)),
                "naga ls --table (new process)": lambda: time_command(naga),
                "python -c pass (start-up)": lambda: time_command([sys.executable, "-c", "pass"]),
            },
            rounds=5,
        )
        table(f"reading {count} runs", medians, "bare loop (PyYAML C + json)")
        start = time.perf_counter()
        yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        per_lock = time.perf_counter() - start
        print(
            f"\none whole run.lock through PyYAML's C loader: {per_lock * 1000:.2f} ms; "
            f"x{count} = {per_lock * count:.2f} s: parsing whole receipts would dominate, so "
            f"`naga ls --table` parses only their `config:` block."
        )


if __name__ == "__main__":
    main()
