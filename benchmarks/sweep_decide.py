"""Deciding which of 10,000 done sweep tasks to rerun (each judged fresh or stale), against the
least a hand-written check would do: read every task's run.lock with PyYAML.

Run: python benchmarks/sweep_decide.py [tasks]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved, table, time_call

ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull}
STAGE = """
import sys
from naga import runlock
runlock(config={"lr": 0.1, "save_dir": "results/sweep/lr=0"}, repos=["."], data=["data"])
"""


def make_sweep(root: Path, count: int) -> list[Path]:
    from naga.lock._format import write_twin
    from naga.lock._runlock import dump_yaml

    subprocess.run(["git", "init", "-q", str(root)], check=True, env=ENV)
    (root / ".gitignore").write_text("results/\n")
    (root / "stage.py").write_text(STAGE)
    (root / "data").mkdir()
    for i in range(200):
        (root / "data" / f"{i}.csv").write_text(str(i))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=ENV)
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"],
        cwd=root,
        check=True,
        env=ENV,
    )
    subprocess.run([sys.executable, "stage.py"], cwd=root, check=True, env=ENV)
    from naga.lock import load_lock

    template = load_lock(root / "results/sweep/lr=0")
    folders = []
    for i in range(count):
        folder = root / "results" / "sweep" / f"lr={i}"
        folder.mkdir(parents=True, exist_ok=True)
        lock = {**template, "config": {"lr": i / count, "save_dir": f"results/sweep/lr={i}"}}
        lock["repos"] = {
            name: {**repo, "location": "../../.."} for name, repo in template["repos"].items()
        }
        lock["data"] = {
            name: {**entry, "path": "../../../data"} for name, entry in template["data"].items()
        }
        text = dump_yaml(lock)
        (folder / "run.lock").write_text(text)
        write_twin(folder / "run.lock", text, lock)
        folders.append(folder)
    return folders


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NAGA_CACHE_DIR"] = str(Path(tmp) / "cache")
        folders = make_sweep(Path(tmp) / "project", count)
        os.chdir(Path(tmp) / "project")
        paths = [str(f) for f in folders]
        import yaml

        from naga.lock import judge_many

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        def yaml_loop() -> None:
            for folder in folders:
                yaml.load((folder / "run.lock").read_text(), Loader=loader)

        verdicts = judge_many(paths)  # warm the hash cache, as a second rerun finds it
        assert not any(v.stale for v in verdicts), verdicts[0].reasons
        medians = interleaved(
            {
                "PyYAML load of every run.lock": lambda: time_call(yaml_loop),
                "naga: judge every task": lambda: time_call(lambda: judge_many(paths)),
            },
            3,
        )
        table(
            f"deciding a rerun of {count:,} done tasks (target < 3 s)",
            medians,
            "PyYAML load of every run.lock",
        )


if __name__ == "__main__":
    main()
