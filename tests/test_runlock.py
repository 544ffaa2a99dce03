"""runlock against real git repositories and real files."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from naga import ConfigError, LockError, clicfg, load_lock, runlock
from naga.lock import changed_files, dir_manifest, git_state, hash_path
from naga.lock._git import strip_credentials


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


class Config:
    param = 1
    save_dir = "results/run"


def test_every_field(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(git_repo)
    (git_repo / "data").mkdir()
    (git_repo / "data" / "a.csv").write_text("a")
    (git_repo / "pixi.lock").write_text("lock")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-qm", "data")
    cfg = Config()
    written = runlock(
        config=cfg, repos=["."], data=["data", "data/a.csv"], runlock_path="results/run/run.lock"
    )
    lock = load_lock("results/run")
    assert lock == written
    assert list(lock)[:8] == [
        "lock_version",
        "naga_version",
        "created",
        "host",
        "command",
        "cwd",
        "caller",
        "config",
    ]
    assert lock["lock_version"] == 2 and lock["created"].endswith("Z")
    assert lock["caller"] == {
        "module": __name__,
        "function": "test_every_field",
        "file": "tests/test_runlock.py",
        "repo": str(Path(__file__).resolve().parents[1]),
    }
    assert lock["config"] == {"param": 1, "save_dir": "results/run"}
    repo = lock["repos"]["."]
    assert repo["commit"] == git(git_repo, "rev-parse", "HEAD").strip()
    assert repo["branch"] == "main" and repo["dirty"] is False and "snapshot" not in repo
    assert lock["data"]["data/a.csv"]["hash"].startswith("xxh3-128:")
    assert lock["data"]["data"]["files"] == 1 and lock["data"]["data"]["size"] == 1
    assert lock["environment"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert lock["environment"]["packages"]["pyyaml"]
    # Paths inside the repository are stored relative to the run.lock's folder.
    assert list(lock["environment"]["lock_files"]) == ["../../pixi.lock"]
    assert lock["data"]["data"]["path"] == "../../data"
    assert lock["data"]["data"]["abs"] == str(git_repo / "data")
    assert repo["location"] == "../.." and repo["tree"] and repo["object_format"] == "sha1"
    assert "tests/test_runlock.py" not in repo["used"]  # this file is in another repository
    assert lock["outputs"]["."]["files"] == 0  # results/run held nothing but the run.lock
    assert lock["prevs"] == {}


def test_dicts_prevs_and_config_sources(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(git_repo)
    (git_repo / "in.txt").write_text("x")
    first = runlock(config={"save_dir": "stage1"}, data={"input": "in.txt"})
    assert first["data"]["input"]["path"] == "../in.txt"
    (git_repo / "c.yml").write_text("param: 3\n")

    @clicfg(config_class=Config)
    def main(cfg: Config) -> dict:
        return runlock(config=cfg, repos={"code": str(git_repo)}, prevs=["stage1/run.lock"])

    lock = main(argv=["--config", "c.yml", "-o", "save_dir=stage2"])
    assert lock["prevs"] == {"../stage1": load_lock("stage1")} == load_lock("stage2")["prevs"]
    # The embedded stage does not repeat what the run records itself.
    assert "same_as_run" in (Path("stage2") / "run.lock").read_text()
    assert lock["config_sources"]["files"]["../c.yml"]["hash"].startswith("xxh3-128:")
    assert lock["repos"]["code"]["used"]["c.yml"]  # a config file read is a used file
    assert lock["config_sources"]["overrides"] == ["save_dir=stage2"]
    assert lock["repos"]["code"]["dirty"] is True


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"data": ["missing.csv"]},
            LockError,
            "data entry 'missing.csv': path 'missing.csv' does not exist",
        ),
        ({"prevs": ["nowhere"]}, LockError, "'nowhere' does not exist"),
        ({"prevs": ["."]}, LockError, "no run.lock in"),
        ({"repos": ["/"]}, LockError, "is not inside a git repository"),
        (
            {"config": {"save_dir": "x", "bad": object()}},
            ConfigError,
            "config key 'bad' holds a builtins.object",
        ),
        ({"config": {"a": 1}, "runlock_path": None}, LockError, "nowhere to write"),
    ],
)
def test_bad_input_writes_nothing(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, kwargs: dict, error: type, message: str
) -> None:
    monkeypatch.chdir(git_repo)
    kwargs = {"config": {"save_dir": "out"}, "runlock_path": "out/run.lock", **kwargs}
    with pytest.raises(error) as info:
        runlock(**kwargs)
    assert message in str(info.value)
    assert not (git_repo / "out").exists()


def test_snapshot_leaves_head_index_branches_and_tree_alone(git_repo: Path) -> None:
    (git_repo / "README.md").write_text("edited\n")
    (git_repo / "staged.txt").write_text("staged\n")
    git(git_repo, "add", "staged.txt")
    (git_repo / "new.txt").write_text("untracked\n")
    (git_repo / ".gitignore").write_text("ignored.txt\n")
    (git_repo / "ignored.txt").write_text("secret\n")
    index = git_repo / ".git" / "index"
    before = (
        git(git_repo, "status", "--porcelain"),
        index.read_bytes(),
        git(git_repo, "show-ref", "--heads"),
        git(git_repo, "rev-parse", "HEAD"),
    )
    state = git_state(git_repo)
    after = (
        git(git_repo, "status", "--porcelain"),
        index.read_bytes(),
        git(git_repo, "show-ref", "--heads"),
        git(git_repo, "rev-parse", "HEAD"),
    )
    assert before == after
    assert state["dirty"] is True
    snap = state["snapshot"]
    assert git(git_repo, "rev-parse", state["snapshot_ref"]).strip() == snap
    files = set(git(git_repo, "ls-tree", "-r", "--name-only", snap).split())
    assert files == {"README.md", "staged.txt", "new.txt", ".gitignore"}
    assert git(git_repo, "show", f"{snap}:README.md") == "edited\n"
    assert git(git_repo, "rev-parse", f"{snap}^").strip() == before[3].strip()


def test_remote_credentials_are_stripped(git_repo: Path) -> None:
    # Only scheme, host, port and path: every `@` of a password, and a token in the query.
    git(git_repo, "remote", "add", "origin", "https://user:p@ss:tok@example.com/org/r.git?t=1")
    assert git_state(git_repo)["remote"] == "https://example.com/org/r.git"
    assert strip_credentials("git@example.com:org/repo.git") == "example.com:org/repo.git"


def test_directory_hash_depends_on_paths_and_contents_only(tmp_path: Path) -> None:
    for top in ("a", "b"):
        (tmp_path / top / "sub").mkdir(parents=True)
        (tmp_path / top / "sub" / "x.bin").write_bytes(b"x" * 3_000_000)
        (tmp_path / top / "y.txt").write_text("y")
    os.utime(tmp_path / "b" / "y.txt", (1, 1))
    os.chmod(tmp_path / "b" / "y.txt", 0o600)
    first, second = hash_path(tmp_path / "a"), hash_path(tmp_path / "b")
    assert first["hash"] == second["hash"] and first["files"] == 2 and first["size"] == 3_000_001
    (tmp_path / "b" / "y.txt").write_text("z")
    changed = hash_path(tmp_path / "b")
    assert changed["hash"] != first["hash"]
    old, new = dir_manifest(first["hash"]), dir_manifest(changed["hash"])
    assert old is not None and new is not None
    assert changed_files(old, new) == {"added": [], "removed": [], "modified": ["y.txt"]}
    (tmp_path / "b" / "y.txt").rename(tmp_path / "b" / "z.txt")
    assert hash_path(tmp_path / "b")["hash"] != changed["hash"]


def test_unchanged_data_is_not_reread(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    for i in range(20):
        (folder / f"{i}.txt").write_text(str(i))
        os.utime(folder / f"{i}.txt", (time.time() - 10, time.time() - 10))
    first = hash_path(folder)
    # Same size and mtime, different bytes: only a cache hit can return the old hash. This shows
    # the re-check trusts (device, inode, size, mtime_ns) and does not read the file again.
    target = folder / "3.txt"
    st = target.stat()
    target.write_text("x")
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert hash_path(folder)["hash"] == first["hash"]


def _reference_dir_hash(root: Path) -> str:
    """The documented directory hash, computed independently of naga's code."""
    import xxhash

    files = sorted(p for p in root.rglob("*") if p.is_file())
    lines = "".join(
        f"{p.relative_to(root).as_posix()}\0{xxhash.xxh3_128_hexdigest(p.read_bytes())}\n"
        for p in files
    )
    return "xxh3-128:" + xxhash.xxh3_128_hexdigest(lines.encode())


def test_many_files_split_over_two_processes(tmp_path: Path) -> None:
    # 2,500 files: above the threshold where the cold path lists names and has two processes
    # open, fstat and hash; the warm path then re-reads only the file that changed.
    folder = tmp_path / "many"
    old = time.time() - 10
    for i in range(2500):
        sub = folder / f"{i // 500}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i}.bin").write_bytes(os.urandom(64 + i % 300))
        os.utime(sub / f"{i}.bin", (old, old))
    cold = hash_path(folder)
    assert cold["hash"] == _reference_dir_hash(folder) and cold["files"] == 2500
    assert hash_path(folder) == cold
    (folder / "3" / "1700.bin").write_bytes(b"changed")
    warm = hash_path(folder)
    assert warm["hash"] == _reference_dir_hash(folder) != cold["hash"]
    old_files, new_files = dir_manifest(cold["hash"]), dir_manifest(warm["hash"])
    assert old_files is not None and new_files is not None
    assert changed_files(old_files, new_files)["modified"] == ["3/1700.bin"]


HAMMER = """
import sys
from naga.lock import hash_path
for _ in range(20):
    hash_path(sys.argv[1])
print("ok")
"""


def test_cache_is_safe_with_concurrent_processes(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    for i in range(200):
        (folder / f"{i}.txt").write_text(str(i))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", HAMMER, str(folder)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs) and all(o.strip() == "ok" for o in outs)
    assert hash_path(folder)["files"] == 200


WRITER = """
import sys, itertools
from naga import runlock
for i in itertools.count():
    runlock(config={"i": i, "pad": "x" * 20000}, runlock_path=sys.argv[1])
"""


def test_killed_writer_never_leaves_a_partial_lock(tmp_path: Path) -> None:
    target = tmp_path / "run.lock"
    runlock(config={"i": -1}, runlock_path=target)
    rng = random.Random(0)
    for _ in range(25):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
        time.sleep(0.3 + rng.random() * 0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        lock = load_lock(target)
        assert isinstance(lock["config"]["i"], int)
        assert lock["config"].get("pad", "x" * 20000) == "x" * 20000


def test_repository_without_commits_and_detached_head(tmp_path: Path, git_repo: Path) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    git(fresh, "init", "-q")
    assert git_state(fresh)["dirty"] is False
    (fresh / "a.py").write_text("a")
    state = git_state(fresh)
    assert state["commit"] is None and state["dirty"] is True
    assert git(fresh, "ls-tree", "--name-only", state["snapshot"]).split() == ["a.py"]
    git(git_repo, "checkout", "-q", "--detach")
    detached = git_state(git_repo)
    assert detached["branch"] is None and detached["dirty"] is False


UNREADABLE = """
import os, sys
from naga.lock import hash_path
if os.geteuid() == 0:
    os.setuid(65534)  # as nobody: root reads any file, whatever its mode
try:
    hash_path(sys.argv[1])
except Exception as exc:
    print(type(exc).__name__, exc)
"""


def test_unreadable_or_special_data_files(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "ok.txt").write_text("ok")
    os.mkfifo(folder / "pipe")
    (folder / "gone").symlink_to(folder / "missing")
    assert hash_path(folder)["files"] == 1  # a FIFO and a dangling link are not data
    with pytest.raises(LockError, match="is not a regular file"):
        hash_path(folder / "pipe")  # never opened: a FIFO would block the read

    shared = Path(tempfile.mkdtemp(prefix="naga-unreadable-", dir="/tmp"))  # nobody reaches it
    try:
        shared.chmod(0o777)
        locked = shared / "locked.bin"
        locked.write_text("x")
        locked.chmod(0)
        done = subprocess.run(
            [sys.executable, "-c", UNREADABLE, str(locked)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "NAGA_CACHE_DIR": str(shared / "cache")},
        )
        assert done.stdout.startswith("LockError cannot read data file"), done.stdout + done.stderr
        assert (
            "locked.bin" in done.stdout and "permission denied: fix its permissions" in done.stdout
        )
    finally:
        shutil.rmtree(shared, ignore_errors=True)


NATIVE_THREAD = """
import _thread, time
from naga.lock._hashing import _fork_is_safe
before = _fork_is_safe()
stop = _thread.allocate_lock()
stop.acquire()
_thread.start_new_thread(stop.acquire, ())  # not tracked by the threading module
time.sleep(0.1)
print(before, _fork_is_safe())
"""


def test_no_fork_while_another_thread_runs() -> None:
    # Threads Python's threading module does not track (OpenMP pools of numpy or torch are such)
    # count too: forking then could leave a lock held forever in the child.
    done = subprocess.run(
        [sys.executable, "-c", NATIVE_THREAD], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == ["True", "False"], done.stderr
