"""Snapshots that travel and stay tidy: naga gc, tag, push and pull, and big untracked files.

Real repositories in tmp_path, a real bare remote (``git init --bare``), the naga command run
in-process through ``naga.cli.main``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from naga import runlock
from naga._errors import LockError
from naga.cli import main
from naga.lock import gc_snapshots, hash_file, load_lock

ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env=ENV, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def exists(repo: Path, sha: str) -> bool:
    return subprocess.run(["git", "cat-file", "-e", sha], cwd=repo, env=ENV).returncode == 0


def snapshot_refs(repo: Path) -> set[str]:
    return set(git(repo, "for-each-ref", "--format=%(objectname)", "refs/naga/snapshots/").split())


def run(name: str, edit: str, *, prevs: list[str] | None = None) -> str:
    """A run in the current repository after an edit of train.py; its snapshot sha."""
    Path("train.py").write_text(f"EDIT = {edit!r}\n")
    lock = runlock(
        config={"edit": edit}, repos=["."], prevs=prevs, runlock_path=f"results/{name}/run.lock"
    )
    return str(lock["repos"]["."]["snapshot"])


@pytest.fixture
def project(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(git_repo)
    (git_repo / ".gitignore").write_text("results/\n")
    (git_repo / "train.py").write_text("EDIT = None\n")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-qm", "train")
    return git_repo


def user_state(repo: Path) -> tuple[str, ...]:
    return (
        git(repo, "rev-parse", "HEAD"),
        git(repo, "status", "--porcelain", "--untracked-files=all"),
        git(repo, "for-each-ref", "refs/heads/"),
        git(repo, "ls-files", "-s"),
    )


def test_gc_keeps_named_lineage_and_tagged_snapshots(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream = run("up", "up")
    downstream = run("down", "down", prevs=["results/up"])
    tagged = run("tagged", "tagged")
    orphans = [run("old1", "old1"), run("old2", "old2")]
    assert main(["tag", "keep", "results/tagged"]) == 0
    for gone in ("up", "tagged", "old1", "old2"):  # up stays named inside down's run.lock
        shutil.rmtree(project / "results" / gone)
    before = user_state(project)
    capsys.readouterr()

    # No run is running: the default keeps no young snapshot, the two unnamed ones would go.
    assert main(["gc", "results", "--dry_run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["deleted"]) == 2 and report["recent"] == 0
    # While a run under the roots is running, the young ones are kept (it may be about to name
    # one of them); --grace_min 0 overrides.
    running = Path("results") / "busy" / ".naga"
    running.mkdir(parents=True)
    (running / "record.json").write_text(
        json.dumps({"status": "running", "host": os.uname().nodename, "pid": os.getpid()})
    )
    assert main(["gc", "results", "--dry_run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["deleted"] == [] and report["recent"] == 2
    shutil.rmtree(running.parent)

    assert main(["gc", "results", "--dry_run", "--grace_min", "0"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("would delete 2 snapshot(s) in ")
    for sha in orphans:
        assert f"refs/naga/snapshots/{sha}  20" in out  # ref, then its date
    assert "kept 3: 2 named by 1 run.lock(s), 1 tagged" in out
    assert snapshot_refs(project) == {upstream, downstream, tagged, *orphans}

    report = gc_snapshots(["results"], grace_min=0, dry_run=True)
    assert {d["commit"] for d in report["deleted"]} == set(orphans)
    assert all(d["size"] and d["size"] > 0 for d in report["deleted"]) and report["freed"] > 0

    assert main(["gc", "results", "--grace_min", "0", "--prune_now"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("deleted 2 snapshot(s)") and "pruned" in out
    assert snapshot_refs(project) == {upstream, downstream, tagged}
    assert not any(exists(project, sha) for sha in orphans)
    assert all(exists(project, sha) for sha in (upstream, downstream, tagged))
    assert user_state(project) == before

    # Without the tag, the tagged snapshot goes too.
    assert main(["tag", "--delete", "keep"]) == 0
    assert main(["gc", "results", "--grace_min", "0"]) == 0
    assert snapshot_refs(project) == {upstream, downstream}


@pytest.mark.parametrize(
    ("status", "grace"), [("requeued", True), ("done", False), ("failed", False)]
)
def test_gc_grace_while_a_run_is_requeued(
    project: Path, capsys: pytest.CaptureFixture[str], status: str, grace: bool
) -> None:
    # A requeued run starts again with its Slurm job: in flight, as a running one is.
    run("kept", "kept")  # a run.lock under the roots: gc refuses roots without one
    orphan = run("old", "old")
    shutil.rmtree(project / "results" / "old")
    record = Path("results") / "job" / ".naga" / "record.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"status": status, "host": "node7", "pid": 4242}))
    capsys.readouterr()
    assert main(["gc", "results", "--dry_run", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    if grace:
        assert report["deleted"] == [] and report["recent"] == 1 and report["grace_min"] == 60
    else:
        assert [d["commit"] for d in report["deleted"]] == [orphan] and report["recent"] == 0


def test_gc_refuses_without_roots_or_receipts(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run("a", "a")
    (project / "empty").mkdir()
    refs = snapshot_refs(project)
    capsys.readouterr()
    assert main(["gc", "--grace_min", "0"]) == 2
    assert "naga gc needs the folders that hold your runs" in capsys.readouterr().err
    for root in ("resluts", "empty"):
        assert main(["gc", "results", root, "--grace_min", "0"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("naga: error: ") and f"'{root}'" in err and "Traceback" not in err
    with pytest.raises(LockError) as caught:
        gc_snapshots(["empty"], grace_min=0)
    assert caught.value.path == "empty" and "no run.lock under 'empty'" in str(caught.value)
    (project / "results" / "a" / "run.lock").write_text("lock_version: [")
    assert main(["gc", "results", "--grace_min", "0"]) == 2
    assert "deletes nothing while a receipt" in capsys.readouterr().err
    assert snapshot_refs(project) == refs


def test_tag_names_the_whole_lineage(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    upstream = run("up", "up")
    downstream = run("down", "down", prevs=["results/up"])
    capsys.readouterr()
    assert main(["tag", "paper/v1", "results/down"]) == 0
    assert "tagged results/down as refs/naga/tags/paper/v1: 2 commit(s) kept" in (
        capsys.readouterr().out
    )
    parents = git(project, "rev-list", "--parents", "-n1", "refs/naga/tags/paper/v1").split()[1:]
    assert parents == [downstream, upstream]
    assert git(project, "rev-parse", "refs/naga/tags/paper/v1^{tree}") == (
        "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # the empty tree: a tag holds no files
    )
    assert main(["tag", "--list", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["name"] == "paper/v1" and listed["run"] == "results/down" and listed["date"]
    assert main(["tag"]) == 0 and capsys.readouterr().out.startswith("paper/v1  results/down  ")

    assert main(["tag", "paper/v1", "results/up"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["tag", "paper/v1", "results/up", "--force"]) == 0
    assert git(project, "rev-list", "--parents", "-n1", "refs/naga/tags/paper/v1").split()[1:] == [
        upstream
    ]
    assert main(["tag", "bad..name", "results/up"]) == 2
    assert "'bad..name' is not a valid git ref name" in capsys.readouterr().err
    assert main(["tag", "x", "results/nothing"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["tag", "--delete", "paper/v2"]) == 2
    assert "Did you mean 'paper/v1'?" in capsys.readouterr().err
    assert main(["tag", "--delete", "paper/v1"]) == 0
    assert git(project, "for-each-ref", "refs/naga/tags/") == ""


def test_push_then_pull_in_another_clone_gives_the_same_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    a, b = tmp_path / "a", tmp_path / "b"
    git(tmp_path, "clone", "-q", str(remote), str(a))
    git(a, "config", "user.email", "t@example.com")
    git(a, "config", "user.name", "T")
    (a / ".gitignore").write_text("results/\n")
    (a / "train.py").write_text("EDIT = None\n")
    (a / "notes.md").write_text("notes\n")
    git(a, "add", ".")
    git(a, "commit", "-qm", "train")
    git(a, "push", "-q", "origin", "HEAD:main")
    git(tmp_path, "clone", "-q", "-b", "main", str(remote), str(b))

    monkeypatch.chdir(a)
    (a / "helper.py").write_text("HELP = 1\n")  # untracked: in the snapshot
    snapshot = run("train", "dirty")
    (a / "notes.md").write_text("notes, edited after the run\n")
    capsys.readouterr()
    assert main(["tag", "v1", "results/train"]) == 0
    assert main(["push"]) == 0
    assert (
        capsys.readouterr()
        .out.splitlines()[-1]
        .startswith("pushed to origin: 1 snapshot(s), 1 tag(s); 0 already there (1 run.lock(s)")
    )
    assert main(["push", "origin"]) == 0
    assert "0 snapshot(s), 0 tag(s); 2 already there" in capsys.readouterr().out
    assert main(["status", "--all", "results/train"]) == 0
    in_a = capsys.readouterr().out
    assert "notes.md modified" in in_a

    # The other clone: the results folder and the same working files, but not the snapshot.
    shutil.copytree(a / "results", b / "results")
    for name in ("train.py", "helper.py", "notes.md"):
        shutil.copy2(a / name, b / name)
    monkeypatch.chdir(b)
    assert main(["status", "--all", "results/train"]) == 0
    missing = capsys.readouterr()
    assert (
        f"snapshot commit {snapshot} is not in this repository: fetch it with `naga pull`"
        in missing.out
    )
    assert "git said" not in missing.out + missing.err

    assert main(["pull"]) == 0
    assert "fetched from origin: 1 snapshot(s), 1 tag(s); 0 already there" in (
        capsys.readouterr().out
    )
    assert git(b, "rev-parse", f"refs/naga/snapshots/{snapshot}") == snapshot
    assert main(["status", "--all", "results/train"]) == 0
    assert capsys.readouterr().out == in_a
    assert main(["tag", "--list"]) == 0 and "v1  results/train" in capsys.readouterr().out
    assert main(["pull"]) == 0 and "2 already there" in capsys.readouterr().out
    assert git(b, "for-each-ref", "refs/tags/", "refs/remotes/origin/") == git(
        b, "for-each-ref", "refs/remotes/origin/"
    )  # nothing but naga's refs was fetched

    # A tag moved in one clone is never overwritten on the other side, and says so.
    remote_tag = git(remote, "rev-parse", "refs/naga/tags/v1")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "2001-01-01T00:00:00Z")  # another tag commit
    assert main(["tag", "v1", "results/train", "--force"]) == 0
    assert main(["push"]) == 0
    assert "tag v1 differs from origin's: left it out" in capsys.readouterr().out
    assert git(remote, "rev-parse", "refs/naga/tags/v1") == remote_tag
    assert main(["pull"]) == 0
    assert "tag v1 differs from origin's: kept this one" in capsys.readouterr().out

    assert main(["push", "upstream"]) == 2
    assert "no git remote 'upstream'" in capsys.readouterr().err


def test_big_untracked_files_stay_out_of_the_snapshot(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(project / "weights.bin", "wb") as f:
        f.truncate(50 * 2**20)  # sparse: 50 MB on paper, nothing on disk
    (project / "small.py").write_text("SMALL = 1\n")
    blob = git(project, "hash-object", "weights.bin")  # computed, not written
    capsys.readouterr()
    lock = runlock(config={}, repos=["."], runlock_path="results/big/run.lock")
    err = capsys.readouterr().err
    assert err.count("leaves out 1 untracked file(s)") == 1 and "weights.bin (50.0 MB)" in err
    repo = load_lock("results/big")["repos"]["."]
    assert repo == lock["repos"]["."]
    assert repo["skipped"] == {
        "weights.bin": {"size": 50 * 2**20, "hash": f"xxh3-128:{hash_file('weights.bin')}"}
    }
    files = git(project, "ls-tree", "-r", "--name-only", repo["snapshot"]).split()
    assert "small.py" in files and "weights.bin" not in files
    assert not exists(project, blob)

    # The limit: the environment variable, else [tool.naga] in pyproject.toml.
    (project / "pyproject.toml").write_text("[tool.naga]\nsnapshot_max_file_mb = 0.001\n")
    (project / "data.csv").write_text("x" * 2048)
    lock = runlock(config={}, repos=["."], runlock_path="results/r2/run.lock")
    assert set(lock["repos"]["."]["skipped"]) == {"weights.bin", "data.csv"}
    monkeypatch.setenv("NAGA_SNAPSHOT_MAX_FILE_MB", "0")  # no limit, and over pyproject.toml
    lock = runlock(config={}, repos=["."], runlock_path="results/r3/run.lock")
    assert "skipped" not in lock["repos"]["."]
    assert "weights.bin" in git(project, "ls-tree", "--name-only", lock["repos"]["."]["snapshot"])
    monkeypatch.setenv("NAGA_SNAPSHOT_MAX_FILE_MB", "ten")
    with pytest.raises(LockError, match="NAGA_SNAPSHOT_MAX_FILE_MB is 'ten', not a size in MB"):
        runlock(config={}, repos=["."], runlock_path="results/r4/run.lock")
    assert not (project / "results" / "r4").exists()


def test_snapshot_with_an_embedded_repository_without_commits(project: Path) -> None:
    (project / "vendored").mkdir()
    git(project / "vendored", "init", "-q")  # `git add -A` fails on such a folder
    (project / "new.py").write_text("NEW = 1\n")
    lock = runlock(config={}, repos=["."], runlock_path="results/x/run.lock")
    files = git(project, "ls-tree", "--name-only", lock["repos"]["."]["snapshot"]).split()
    assert "new.py" in files and "vendored" not in files
    (project / "vendored" / "lib.py").write_text("LIB = 1\n")
    git(project / "vendored", "add", ".")
    git(project / "vendored", "-c", "user.name=T", "-c", "user.email=t@t", "commit", "-qm", "lib")
    lock = runlock(config={}, repos=["."], runlock_path="results/y/run.lock")
    entry = git(project, "ls-tree", lock["repos"]["."]["snapshot"], "vendored").split()
    assert entry[:3] == ["160000", "commit", git(project / "vendored", "rev-parse", "HEAD")]
