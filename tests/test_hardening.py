"""Receipts under faults, bad input and attack: each case once broke naga; each is pinned here."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from naga import LockError, runlock
from naga.cli import main
from naga.lock import hash_path

ROOT = Path(__file__).resolve().parents[1]


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(
        ["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True
    ).stdout


# -- hashing ------------------------------------------------------------------------------


def test_a_file_truncated_while_hashed_is_a_clear_error_not_sigbus(tmp_path: Path) -> None:
    # Before: files of 1 MiB and more were read through mmap, and a file truncated meanwhile
    # killed the interpreter with SIGBUS (exit 135). A real truncation races the real hashing.
    big = tmp_path / "big.bin"
    script = textwrap.dedent(
        f"""
        import os, sys, threading
        from naga import LockError
        from naga.lock import hash_path
        path = {str(big)!r}
        outcomes = set()
        for attempt in range(20):
            with open(path, "wb") as f:
                f.truncate(256 * 2**20)
            timer = threading.Timer(0.002 * (attempt % 5), os.truncate, (path, 4096))
            timer.start()
            try:
                hash_path(path)
                outcomes.add("hashed")
            except LockError as exc:
                assert "changed while being hashed" in str(exc), exc
                outcomes.add("refused")
            timer.join()
        print(sorted(outcomes))
        """
    )
    env = {**os.environ, "NAGA_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert "refused" in done.stdout or "hashed" in done.stdout


def test_a_file_that_grew_since_its_stat_is_refused(tmp_path: Path) -> None:
    from naga.lock import hash_file

    data = tmp_path / "log.txt"
    data.write_bytes(b"x" * (3 << 20))
    with pytest.raises(OSError, match="changed while being hashed"):
        hash_file(data, size=1 << 20)  # the size a stat saw before the writer appended
    assert hash_file(data) == hash_file(data, size=3 << 20)


def test_a_symlink_loop_in_a_data_folder_is_named_as_such(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    (folder / "loop").symlink_to(folder)
    with pytest.raises(LockError, match="symbolic link loop") as info:
        hash_path(folder)
    assert "permissions" not in str(info.value)


def test_non_utf8_file_names_in_a_data_folder_hash(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    with open(os.fsencode(folder) + b"/caf\xe9.txt", "wb") as handle:  # latin-1, not UTF-8
        handle.write(b"x")
    first = hash_path(folder)["hash"]
    assert first == hash_path(folder)["hash"] and first.startswith("xxh3-128:")


def test_a_non_utf8_data_path_is_a_clear_error(git_repo: Path) -> None:
    bad = os.fsdecode(os.fsencode(str(git_repo)) + b"/caf\xe9.csv")
    with open(os.fsencode(bad), "wb") as handle:
        handle.write(b"x")
    with pytest.raises(LockError, match=r"not UTF-8.*rename it to a UTF-8 name"):
        runlock(config={"a": 1}, data=[bad], runlock_path=git_repo / "out" / "run.lock")
    assert not (git_repo / "out" / "run.lock").exists()


# -- git ----------------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the repository another owner")
def test_safe_directory_refusal_is_said_as_such(tmp_path: Path) -> None:
    repo = tmp_path / "theirs"
    repo.mkdir()
    git(repo, "init", "-q")
    os.chown(repo, 12345, 12345)  # another user's clone: git refuses it (CVE-2022-24765)
    with pytest.raises(LockError, match=r"safe\.directory") as info:
        runlock(config={"a": 1}, repos=[str(repo)], runlock_path=tmp_path / "r" / "run.lock")
    assert "not inside a git repository" not in str(info.value)
    assert not (tmp_path / "r" / "run.lock").exists()


UNREADABLE_UNTRACKED = """
import sys
from naga import LockError, runlock
try:
    runlock(config={"a": 1}, repos=[sys.argv[1]], runlock_path=sys.argv[2])
except LockError as exc:
    print("LockError", exc)
"""


def _without_root_powers() -> list[str]:
    """A command prefix that runs as root without the power to read or search any file
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), as another user would; empty for a user."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("as root, needs setpriv (util-linux) to drop the power to read any file")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]


def test_an_unreadable_untracked_file_keeps_gits_message(git_repo: Path) -> None:
    secret = git_repo / "secret.txt"
    secret.write_text("x")
    secret.chmod(0)
    lock = git_repo / "r" / "run.lock"
    # Root reads any file whatever its mode (CAP_DAC_OVERRIDE), and so does the git naga starts.
    # As root, naga runs in a process that has lost that power (and CAP_DAC_READ_SEARCH) for
    # good, so neither it nor its git can read the file. Still root, it owns the repository, so
    # git trusts it (another user's git would refuse root's repository, for another message).
    done = subprocess.run(
        [
            *_without_root_powers(),
            sys.executable,
            "-c",
            UNREADABLE_UNTRACKED,
            str(git_repo),
            str(lock),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.startswith("LockError"), done.stdout + done.stderr
    assert "git said" in done.stdout and "secret.txt" in done.stdout, done.stdout
    assert not lock.exists()


UNSEARCHABLE = """
from naga import clicfg


@clicfg(config_class={"a": 1})
def main(cfg):
    print("ran", cfg)


main()
"""


@pytest.mark.parametrize("flag", ["--config", "--tasks"])
def test_a_file_in_a_folder_that_cannot_be_searched_is_not_said_missing(
    tmp_path: Path, flag: str
) -> None:
    # Before: "config file 'locked/c.yml' does not exist" for a file that exists, in a folder
    # the user may not search (os.path.exists says False for both).
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "c.yml").write_text("a: 2\n")
    (tmp_path / "script.py").write_text(UNSEARCHABLE)
    locked.chmod(0o600)  # its names readable, the folder not searchable
    try:
        done = subprocess.run(
            [*_without_root_powers(), sys.executable, "script.py", flag, "locked/c.yml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        locked.chmod(0o700)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Permission denied" in done.stderr and "does not exist" not in done.stderr
    assert "Traceback" not in done.stderr
    # A file that is really missing is still said to be.
    done = subprocess.run(
        [sys.executable, "script.py", flag, "locked/missing.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "does not exist" in done.stderr, done.stderr


# -- receipts of any shape through every subcommand --------------------------------------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.floats(allow_nan=False)
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
_parts = ("config", "repos", "data", "outputs", "prevs", "environment", "caller", "created")


@st.composite
def _receipts(draw: st.DrawFn) -> dict[str, object]:
    lock: dict[str, object] = {"lock_version": draw(st.sampled_from([1, 2]))}
    for part in draw(st.lists(st.sampled_from(_parts), unique=True)):
        lock[part] = draw(_values)
    return lock


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(a=_receipts(), b=_receipts())
def test_any_receipt_shape_gives_a_verdict_or_a_message(
    tmp_path: Path, a: dict[str, object], b: dict[str, object]
) -> None:
    # Before: `repos: [1, 2]` or `environment: "x"` crashed status, ls and diff with a
    # traceback, and one such lock hid every other run from `naga ls`.
    for name, lock in (("a", a), ("b", b)):
        (tmp_path / name).mkdir(exist_ok=True)
        (tmp_path / name / "run.lock").write_text(yaml.safe_dump(lock))
    for argv in (
        ["status", str(tmp_path / "a")],
        ["status", "--all", "--json", str(tmp_path / "b")],
        ["diff", str(tmp_path / "a"), str(tmp_path / "b")],
        ["ls", str(tmp_path), "--status"],
    ):
        assert main(argv) in (0, 1, 2), argv


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    parts=st.fixed_dictionaries(
        {
            "configs": st.one_of(st.lists(st.one_of(st.just("../c.yml"), _values)), _values),
            "taken": st.one_of(st.dictionaries(st.one_of(st.text(), st.integers()), _values)),
        },
        optional={
            k: st.one_of(_values, st.lists(st.text(max_size=6)))
            for k in ("experiment", "overrides", "task_keys", "overrides_file")
        },
    ),
    config=_values,
)
def test_any_config_sources_shape_gives_a_verdict_or_a_message(
    tmp_path: Path, parts: dict[str, object], config: object
) -> None:
    # The values a run's config files gave it are replayed from what run.lock names: a
    # receipt of any shape must give a verdict or one message, never a traceback.
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    (tmp_path / "c.yml").write_text("a: 1\nb: {c: 2}\nx: {a: 3}\n")
    sources = {"files": {"../c.yml": {"hash": "xxh3-128:0", "abs": "/nowhere"}}, **parts}
    lock = {"lock_version": 2, "config": config, "config_sources": sources}
    (run / "run.lock").write_text(yaml.safe_dump(lock))
    assert main(["status", str(run)]) in (0, 1, 2)
    assert main(["status", "--all", "--json", str(run)]) in (0, 1, 2)


def test_one_wrong_shape_receipt_does_not_hide_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, body in (
        ("good", "lock_version: 2\ncreated: x\n"),
        ("bad", "lock_version: 2\nrepos: [1, 2]\nenvironment: x\n"),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.lock").write_text(body)
    assert main(["ls", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "bad" in out and "good" in out


# -- inspecting never executes what a receipt names --------------------------------------


def test_status_never_runs_the_interpreter_a_lock_names(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    evil = tmp_path / "python"
    evil.write_text(f"#!/bin/sh\ntouch {marker}\necho '[\"3.11.0\", []]'\n")
    evil.chmod(0o755)
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.lock").write_text(
        yaml.safe_dump(
            {
                "lock_version": 2,
                "environment": {
                    "python": "3.11.0",
                    "executable": str(evil),
                    "sys_path": [str(tmp_path)],
                    "imported": {"numpy": "1.0"},
                },
            }
        )
    )
    for argv in (
        ["status", str(run)],
        ["status", "--all", str(run)],
        ["ls", str(tmp_path), "--status"],
        ["diff", str(run), str(run)],
    ):
        main(argv)
    assert not marker.exists()


def test_status_never_fires_the_repositorys_fsmonitor(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(git_repo)
    (git_repo / "a.txt").write_text("a")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-qm", "a")
    runlock(config={"a": 1}, repos=["."], runlock_path="results/r/run.lock")
    marker = git_repo.parent / "FSMONITOR_RAN"
    hook = git_repo.parent / "hook.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    git(git_repo, "config", "core.fsmonitor", str(hook))
    (git_repo / "b.txt").write_text("b")
    for argv in (
        ["status", "results/r"],
        ["status", "--all", "results/r"],
        ["diff", "results/r", "results/r"],
    ):
        main(argv)
    assert not marker.exists()


def test_a_dirty_submodule_dirties_the_parent_and_is_recorded(tmp_path: Path) -> None:
    # Before: `git add -A` staged only the submodule's pointer, so uncommitted changes inside
    # the submodule left the parent `dirty: false`, and nothing recorded the submodule's code.
    lib = tmp_path / "lib"
    lib.mkdir()
    git(lib, "init", "-q", "-b", "main")
    (lib / "util.py").write_text("X = 1\n")
    git(lib, "add", ".")
    git(lib, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "lib")
    app = tmp_path / "app"
    app.mkdir()
    git(app, "init", "-q", "-b", "main")
    git(app, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib")
    git(app, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "app")

    clean = runlock(config={"a": 1}, repos=[str(app)], runlock_path=tmp_path / "r1" / "run.lock")
    assert clean["repos"][str(app)]["dirty"] is False
    assert clean["repos"][f"{app}/lib"]["dirty"] is False

    (app / "lib" / "util.py").write_text("X = 2\n")  # uncommitted, inside the submodule
    lock = runlock(config={"a": 1}, repos=[str(app)], runlock_path=tmp_path / "r2" / "run.lock")
    parent, sub = lock["repos"][str(app)], lock["repos"][f"{app}/lib"]
    assert parent["dirty"] is True and sub["dirty"] is True
    assert sub["commit"] == git(app / "lib", "rev-parse", "HEAD").strip()
    snapshot_file = git(app / "lib", "show", f"{sub['snapshot']}:util.py")
    assert snapshot_file == "X = 2\n"  # the submodule's own snapshot holds the edit


def test_unusable_sqlite_stores_are_clear_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: a store under a regular file died in MLflow's mkdir (FileExistsError), and a
    # corrupt sqlite file with sqlalchemy's DatabaseError: tracebacks, exit 1.
    pytest.importorskip("mlflow")
    run = tmp_path / "run"
    run.mkdir()
    runlock(config={"a": 1}, runlock_path=run / "run.lock")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "corrupt.db").write_text("not a database at all")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for uri, expected in (
        (f"sqlite:///{tmp_path}/afile/mlflow.db", "which is a file, not a folder"),
        (f"sqlite:///{tmp_path}/corrupt.db", "is not a usable sqlite database"),
    ):
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        assert main(["log", str(run)]) == 2
        assert expected in capsys.readouterr().err


# -- Dask: a task's side effects happen once, each log holds its own task ------------------

DASK_SCRIPT = """
import os, sys, time
from naga import clicfg


class Config:
    save_dir = "results/d"
    n = 0


@clicfg(config_class=Config)
def main(cfg):
    with open("ran.log", "a") as f:
        f.write(f"{cfg.n}\\n")
    print(f"task {cfg.n} says hello", flush=True)
    time.sleep(0.5)
    if cfg.n == 0:
        os.kill(os.getpid(), 11)  # a segfault in native code
    print(f"task {cfg.n} says bye", flush=True)


if __name__ == "__main__":
    main()
"""


def _dask_project(tmp_path: Path) -> Path:
    (tmp_path / "d.py").write_text(DASK_SCRIPT)
    (tmp_path / "tasks.txt").write_text("0\n1\n2\n3\n")
    return tmp_path


def _dask_sweep(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "d.py", "--tasks", "tasks.txt", "--task_to", "n", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def test_dask_a_segfaulting_task_fails_alone_and_nothing_runs_twice(tmp_path: Path) -> None:
    # Before: on `--dask --n_jobs 2` the segfault killed the Dask worker: an innocent task that
    # never started failed with KilledWorker, and finished tasks ran twice.
    pytest.importorskip("distributed")
    folder = _dask_project(tmp_path)
    done = _dask_sweep(folder, "--dask", "--n_jobs", "2")
    assert done.returncode == 1, done.stderr
    state = yaml.safe_load((folder / "results/d/tasks.yaml").read_text())
    statuses = {t["label"]: t["status"] for t in state["tasks"]}
    assert statuses == {"n=0": "failed", "n=1": "done", "n=2": "done", "n=3": "done"}
    assert "KilledWorker" not in done.stderr
    assert sorted((folder / "ran.log").read_text().split()) == ["0", "1", "2", "3"]


def test_dask_multithreaded_worker_keeps_each_log_its_own(tmp_path: Path) -> None:
    # Before: with `dask worker --nthreads 4`, tasks swapped the process-wide stdout and cwd,
    # and every task's output went into one task's log.
    pytest.importorskip("distributed")
    from helpers import dask_cluster

    folder = _dask_project(tmp_path)
    (folder / "tasks.txt").write_text("1\n2\n3\n4\n")
    with dask_cluster(tmp_path, nworkers=1, nthreads=4) as address:
        done = _dask_sweep(folder, "--dask", address)
        assert done.returncode == 0, done.stderr
        for n in (1, 2, 3, 4):
            log = (folder / f"results/d/logs/n={n}.log").read_text()
            assert f"task {n} says hello" in log and f"task {n} says bye" in log
            others = [m for m in (1, 2, 3, 4) if m != n]
            assert not any(f"task {m} says" in log for m in others), log
        assert sorted((folder / "ran.log").read_text().split()) == ["1", "2", "3", "4"]


def test_dask_a_finished_outcome_is_not_computed_again(tmp_path: Path) -> None:
    # Dask computes a task again when the worker holding its result dies: the outcome recorded
    # before returning is returned instead of running the task a second time.
    from naga.launch._backend import Entry, Task, TaskStatus
    from naga.launch._process import outcome_file, run_isolated

    folder = _dask_project(tmp_path)
    entry = Entry(str(folder / "d.py"), "__main__", "main")  # as the sweep names a script
    task = Task(
        1,
        "k1",
        "n=1",
        {"n": 1, "save_dir": str(folder / "results/d/n=1")},
        str(folder / "results/d/logs/n=1.log"),
        entry,
        str(folder),
        None,
    )
    first = run_isolated(task)
    assert first.status is TaskStatus.DONE and Path(outcome_file(task)).is_file()
    again = run_isolated(task)  # as Dask's recomputation would call it
    assert again == first
    assert (folder / "ran.log").read_text().split() == ["1"]
