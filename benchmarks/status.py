"""`naga status` of a 3-stage chain whose data is a 50,000-file folder, unchanged, against what a
user would do by hand (a bare stat walk of the data folder plus `git status`), and runlock's
extra work for the judgement (used files, imported distributions, a 1,000-file run folder's
outputs) against runlock without it.

Run: python benchmarks/status.py [files]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved, table, time_call, time_command

ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "NAGA_CACHE_DIR": ""}

STAGE = """
import sys
from naga import runlock
name, data, prev = sys.argv[1], sys.argv[2], sys.argv[3:]
runlock(config={{"stage": name}}, repos=["."], data=[data], prevs=prev,
        runlock_path=f"results/{{name}}/run.lock")
"""


def make_project(root: Path, files: int) -> None:
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=ENV)
    (root / ".gitignore").write_text("data/\nresults/\n")
    (root / "stage.py").write_text(STAGE.format())
    for i in range(files):
        folder = root / "data" / f"d{i // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.txt").write_bytes(b"x" * (i % 97 + 1))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=ENV)
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"],
        cwd=root,
        check=True,
        env=ENV,
    )
    previous: list[str] = []
    for name in ("prepare", "train", "evaluate"):
        subprocess.run(
            [sys.executable, "stage.py", name, "data", *previous], cwd=root, check=True, env=ENV
        )
        previous = [f"results/{name}"]


def stat_walk(folder: str) -> int:
    count = 0
    for _, _, names in os.walk(folder):
        count += len(names)
        for _ in names:
            pass
    return count


def bare_walk_and_git_status(root: Path) -> None:
    for dirpath, _, names in os.walk(root / "data"):
        for name in names:
            os.stat(os.path.join(dirpath, name))
    subprocess.run(["git", "status", "--porcelain"], cwd=root, check=True, capture_output=True)


def runlock_extra(root: Path) -> None:
    """runlock with and without the judgement's extra records, in-process, 1,000 outputs."""
    from naga import runlock
    from naga.lock import _runlock

    run = root / "results" / "big"
    for i in range(1000):
        (run / f"o{i // 100}").mkdir(parents=True, exist_ok=True)
        (run / f"o{i // 100}" / f"{i}.txt").write_text(str(i))
    os.chdir(root)

    def with_extra() -> float:
        return time_call(
            lambda: runlock(config={"a": 1}, repos=["."], runlock_path=run / "run.lock")
        )

    real_used, real_imported = _runlock.used_files, _runlock.imported_distributions

    def without_extra() -> float:
        _runlock.used_files = lambda *a, **k: {}  # type: ignore[assignment]
        _runlock.imported_distributions = lambda *a, **k: {}  # type: ignore[assignment]
        try:
            return time_call(
                lambda: runlock(
                    config={"a": 1}, repos=["."], runlock_path=run / "run.lock", outputs=[]
                )
            )
        finally:
            _runlock.used_files, _runlock.imported_distributions = real_used, real_imported

    with_extra()  # warm the caches (hashes, the distribution map)
    medians = interleaved(
        {"runlock, v1 records": without_extra, "runlock, v2 records": with_extra}, 9
    )
    table(
        "runlock: the judgement's extra records (used files, imports, 1,000 outputs)",
        medians,
        "runlock, v1 records",
    )
    print(
        f"  extra: {(medians['runlock, v2 records'] - medians['runlock, v1 records']) * 1000:.1f} ms (target < 30 ms)"
    )


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        ENV["NAGA_CACHE_DIR"] = str(Path(tmp) / "cache")
        os.environ["NAGA_CACHE_DIR"] = ENV["NAGA_CACHE_DIR"]
        make_project(root, files)
        naga = [
            sys.executable,
            "-m",
            "naga",
            "status",
            "results/prepare",
            "results/train",
            "results/evaluate",
        ]
        time_command(naga, cwd=str(root))  # warm
        medians = interleaved(
            {
                "stat walk + git status": lambda: time_call(lambda: bare_walk_and_git_status(root)),
                "naga status (3 stages)": lambda: time_command(naga, cwd=str(root)),
            },
            7,
        )
        table(
            f"naga status of a 3-stage chain on {files:,} unchanged data files (target <= 1.5x)",
            medians,
            "stat walk + git status",
        )
        runlock_extra(root)


if __name__ == "__main__":
    main()
