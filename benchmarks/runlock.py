"""runlock on a dirty 20,000-file repository (no data), against the same snapshot with GitPython.

Run: .venv/bin/python benchmarks/runlock.py [files]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved, table, time_call


def make_repo(root: Path, count: int) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(["git", "init", "-q", str(root)], check=True, env=env)
    for i in range(count):
        folder = root / f"pkg{i // 500:03d}"
        folder.mkdir(exist_ok=True)
        (folder / f"mod{i}.py").write_text(f"VALUE = {i}\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, env=env)
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init"],
        cwd=root,
        check=True,
        env=env,
    )
    (root / "pkg000" / "mod0.py").write_text("VALUE = 'edited'\n")
    (root / "new_untracked.py").write_text("NEW = 1\n")


def gitpython_snapshot(root: Path) -> str:
    import git

    repo = git.Repo(root)
    repo.is_dirty(untracked_files=True)
    index_path = Path(tempfile.mkdtemp()) / "index"
    shutil.copy2(root / ".git" / "index", index_path)
    env = {"GIT_INDEX_FILE": str(index_path)}
    repo.git.add("-A", env=env)
    tree = repo.git.write_tree(env=env)
    commit = repo.git.commit_tree(
        tree,
        "-p",
        "HEAD",
        "-m",
        "snapshot",
        env={
            "GIT_AUTHOR_NAME": "b",
            "GIT_AUTHOR_EMAIL": "b@b",
            "GIT_COMMITTER_NAME": "b",
            "GIT_COMMITTER_EMAIL": "b@b",
        },
    )
    repo.git.update_ref(f"refs/bench/{commit}", commit)
    shutil.rmtree(index_path.parent)
    return str(commit)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    tmp = Path(tempfile.mkdtemp(prefix="naga-bench-"))
    os.environ["NAGA_CACHE_DIR"] = str(tmp / "cache")
    try:
        root = tmp / "repo"
        make_repo(root, count)
        from naga import runlock
        from naga.lock import git_state

        lock_path = tmp / "out" / "run.lock"
        runlock(config={"a": 1}, repos=[str(root)], runlock_path=lock_path)  # warm-up
        cases = {
            "GitPython: status + snapshot": lambda: time_call(lambda: gitpython_snapshot(root)),
            "naga git_state (status + snapshot)": lambda: time_call(lambda: git_state(root)),
            "naga runlock (git, environment, write)": lambda: time_call(
                lambda: runlock(config={"a": 1}, repos=[str(root)], runlock_path=lock_path)
            ),
        }
        table(
            f"dirty repository of {count} files, no data",
            interleaved(cases, 7),
            "GitPython: status + snapshot",
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
