"""Provenance end to end (issue 12): a run is judged by what it actually used.

Every test builds a real project in a git repository under ``tmp_path``, runs its stages as
real processes (``python stage.py`` in the project, so ``sys.modules`` is the stage's own), and
asks ``naga status`` / ``naga diff`` / ``naga ls`` what changed. Each test checks both sides: the
change that must make a run stale does, and the changes that must not leave it up to date.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import re
import shutil
import site
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import naga
from naga._yaml import dump_yaml, load_yaml
from naga.cli import main
from naga.lock import load_lock
from naga.lock._environment import installed_packages
from naga.lock._hashing import hash_path

SRC = str(Path(naga.__file__).resolve().parents[1])

# -- the project: three stages and a helper module ---------------------------------------------

COMMON = """
def scale(x):
    return 2 * x
"""

PREPARE = """
from pathlib import Path

from naga import clicfg, runlock


class Config:
    n = 3
    save_dir = "results/prepare"


@clicfg(config_class=Config)
def main(cfg: Config) -> None:
    out = Path(cfg.save_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "test.csv").write_text("".join(f"{i}\\n" for i in range(cfg.n)))
    runlock(config=cfg, repos=["."])


if __name__ == "__main__":
    main()
"""

# Reads prepare's output as data=: prepare becomes an inferred upstream.
TRAIN = """
from pathlib import Path

from lib.common import scale
from naga import clicfg, runlock


class Config:
    data = "results/prepare/test.csv"
    save_dir = "results/train"


@clicfg(config_class=Config)
def main(cfg: Config) -> None:
    out = Path(cfg.save_dir)
    out.mkdir(parents=True, exist_ok=True)
    values = [scale(int(x)) for x in Path(cfg.data).read_text().split()]
    (out / "model.txt").write_text(f"{sum(values)}\\n")
    runlock(config=cfg, repos=["."], data=[cfg.data])


if __name__ == "__main__":
    main()
"""

# Names train as prevs=.
EVALUATE = """
from pathlib import Path

from naga import clicfg, runlock


class Config:
    model = "results/train"
    save_dir = "results/evaluate"


@clicfg(config_class=Config)
def main(cfg: Config) -> None:
    out = Path(cfg.save_dir)
    out.mkdir(parents=True, exist_ok=True)
    score = int((Path(cfg.model) / "model.txt").read_text()) / 10
    (out / "score.txt").write_text(f"{score}\\n")
    runlock(config=cfg, repos=["."], prevs=[cfg.model])


if __name__ == "__main__":
    main()
"""

# Lists a whole upstream run folder as data.
REPORT = """
from pathlib import Path

from naga import clicfg, runlock


class Config:
    source = "results/prepare"
    save_dir = "results/report"


@clicfg(config_class=Config)
def main(cfg: Config) -> None:
    out = Path(cfg.save_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = (Path(cfg.source) / "test.csv").read_text().split()
    (out / "report.txt").write_text(f"{len(lines)} rows\\n")
    runlock(config=cfg, repos=["."], data=[cfg.source])


if __name__ == "__main__":
    main()
"""

# One task of a sweep; the second task waits so that its snapshot commit gets another time.
SWEEP = """
import time
from pathlib import Path

from naga import clicfg, runlock


class Config:
    param = 1
    save_dir = "results/sweep"


@clicfg(config_class=Config)
def main(cfg: Config) -> None:
    time.sleep(1.2 * (cfg.param - 1))
    out = Path(cfg.save_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "out.txt").write_text(f"{cfg.param}\\n")
    runlock(config=cfg, repos=["."])


if __name__ == "__main__":
    main()
"""

# Imports an installed distribution (the fake one of the venv fixture).
FIT = """
from pathlib import Path

import fakepkg
from naga import clicfg, runlock


class Config:
    save_dir = "results/fit"


@clicfg(config_class=Config)
def main(cfg: Config) -> None:
    out = Path(cfg.save_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fit.txt").write_text(fakepkg.NAME + "\\n")
    runlock(config=cfg, repos=["."])


if __name__ == "__main__":
    main()
"""

PROJECT_FILES = {
    ".gitignore": "results/\n",
    "README.md": "a project\n",
    "lib/__init__.py": "",
    "lib/common.py": COMMON,
    "prepare.py": PREPARE,
    "train.py": TRAIN,
    "evaluate.py": EVALUATE,
    "report.py": REPORT,
    "sweep.py": SWEEP,
    "fit.py": FIT,
}
STAGES = ("results/prepare", "results/train", "results/evaluate")


# -- helpers --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _hermetic_git(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither the user's nor the system's git config reaches these repositories."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def run_stage(
    repo: Path,
    script: str,
    *args: str,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
) -> None:
    """Run a stage as a user would, in the project, with its own interpreter process."""
    done = subprocess.run(
        [python, script, *args],
        cwd=repo,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"


@contextlib.contextmanager
def working_directory(folder: Path) -> Iterator[None]:
    """``contextlib.chdir`` (Python 3.11+) for Python 3.10."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def naga_cli(cwd: Path, *args: str) -> tuple[int, str]:
    """``naga ARGS`` in ``cwd``, in this process: its exit status and what it printed."""
    out = io.StringIO()
    with working_directory(cwd), contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


class Report:
    """One run's verdict as ``naga status`` printed it; lines with their spacing collapsed."""

    def __init__(self, verdict: str) -> None:
        self.verdict = verdict
        self.reasons: list[str] = []
        self.info: list[str] = []
        self.notes: list[str] = []

    @property
    def up_to_date(self) -> bool:
        return self.verdict == "up to date"

    def __repr__(self) -> str:
        return (
            f"Report({self.verdict!r}, reasons={self.reasons!r}, info={self.info!r}, "
            f"notes={self.notes!r})"
        )


def status(cwd: Path, *args: str) -> tuple[int, dict[str, Report]]:
    """``naga status ARGS`` in ``cwd``: exit status and the verdict of each run, parsed."""
    code, out = naga_cli(cwd, "status", *args)
    reports: dict[str, Report] = {}
    current: list[str] = []
    for line in out.splitlines():
        if not line.startswith(" "):
            name, _, verdict = line.rpartition(": ")
            report = reports[name] = Report(verdict)
            current = report.reasons
        elif line.strip() == "also changed, not used by this run:":
            current = report.info
        elif line.startswith("  note: "):
            report.notes.append(" ".join(line.split()[1:]))
        else:
            current.append(" ".join(line.split()))
    return code, reports


def naga_diff(cwd: Path, a: str, b: str) -> tuple[int, list[str], list[dict[str, Any]]]:
    """``naga diff A B``: exit status, the differences it printed (lines, spacing collapsed,
    without the information printed after them), and every change of ``--json``."""
    code, out = naga_cli(cwd, "diff", a, b)
    differences = []
    for line in out.splitlines()[1:]:
        if line.strip().startswith("information"):
            break
        differences.append(" ".join(line.split()))
    return code, differences, json.loads(naga_cli(cwd, "diff", "--json", a, b)[1])


def status_json(cwd: Path, *args: str) -> tuple[int, dict[str, Any]]:
    code, out = naga_cli(cwd, "status", "--json", *args)
    return code, json.loads(out)


def assert_up_to_date(cwd: Path, *dirs: str) -> None:
    code, reports = status(cwd, *dirs)
    assert code == 0 and all(r.up_to_date and not r.reasons for r in reports.values()), reports


def make_project(folder: Path) -> Path:
    """The project, committed: three pipeline stages, a helper module, and a few more stages."""
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.email", "test@example.com")
    git(folder, "config", "user.name", "Test")
    for name, text in PROJECT_FILES.items():
        write(folder / name, text)
    commit_all(folder, "the project")
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture
def pipeline(project: Path) -> Path:
    """The project with prepare -> train -> evaluate run once, in order."""
    for script in ("prepare.py", "train.py", "evaluate.py"):
        run_stage(project, script)
    return project


def make_venv(folder: Path) -> tuple[str, Path]:
    """A real virtual environment that sees naga and this environment's packages (through a
    .pth file), plus ``fakepkg`` 1.0, an importable distribution. Returns (python, purelib)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = str(folder / "bin" / "python")
    purelib = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    write(purelib / "naga-test.pth", "\n".join([SRC, *site.getsitepackages()]) + "\n")
    write(purelib / "fakepkg" / "__init__.py", "NAME = 'fake'\n")
    install_fake_dist(purelib, "fakepkg", "1.0", top_level="fakepkg")
    return python, purelib


def install_fake_dist(purelib: Path, name: str, version: str, top_level: str = "") -> Path:
    dist = purelib / f"{name}-{version}.dist-info"
    write(dist / "METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    if top_level:
        write(dist / "top_level.txt", top_level + "\n")
    return dist


def edit_lock(run_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite a run.lock through ``change(lock)``, as someone editing the file by hand."""
    lock_file = run_dir / "run.lock"
    lock = load_yaml(lock_file.read_text())
    change(lock)
    lock_file.write_text(dump_yaml(lock))


def executable_script(path: Path, marker: Path) -> Path:
    write(path, f"#!/bin/sh\ntouch '{marker}'\n")
    path.chmod(0o755)
    return path


# -- 1. a three-stage pipeline ---------------------------------------------------------------------


def test_pipeline_records_what_each_stage_used(pipeline: Path) -> None:
    used = {d: load_lock(pipeline / d)["repos"]["."]["used"] for d in STAGES}
    assert set(used["results/prepare"]) == {"prepare.py"}
    assert set(used["results/train"]) == {"train.py", "lib/__init__.py", "lib/common.py"}
    assert set(used["results/evaluate"]) == {"evaluate.py"}
    train = load_lock(pipeline / "results/train")
    assert train["data"]["results/prepare/test.csv"]["path"] == "../prepare/test.csv"
    assert train["prevs"]["../prepare"]["inferred"] is True
    evaluate = load_lock(pipeline / "results/evaluate")
    assert "inferred" not in evaluate["prevs"]["../train"]
    assert evaluate["repos"]["."]["location"] == "../.."
    assert_up_to_date(pipeline, *STAGES)


def test_pipeline_edit_of_train_reaches_downstream_only(pipeline: Path) -> None:
    # A helper module only train imports: train and everything after it, not prepare.
    common = pipeline / "lib" / "common.py"
    common.write_text(COMMON + "TUNED = True\n")
    code, reports = status(pipeline, *STAGES)
    assert code == 1
    assert reports["results/prepare"].up_to_date
    assert reports["results/train"].reasons == ["code lib/common.py modified"]
    assert reports["results/evaluate"].reasons == [
        "prevs upstream results/train is stale: lib/common.py modified"
    ]
    common.write_text(COMMON)
    assert_up_to_date(pipeline, *STAGES)

    # Edit train.py, not yet rerun: train names it, evaluate names the chain.
    (pipeline / "train.py").write_text(TRAIN.replace("sum(values)", "sum(values) + 1"))
    code, reports = status(pipeline, *STAGES)
    assert code == 1
    assert reports["results/prepare"].up_to_date
    assert reports["results/train"].reasons == ["code train.py modified"]
    assert reports["results/evaluate"].reasons == [
        "prevs upstream results/train is stale: train.py modified"
    ]

    # Rerun train: prepare and train are up to date; evaluate used the old train outputs.
    run_stage(pipeline, "train.py")
    assert status(pipeline, "results/prepare")[0] == 0
    assert status(pipeline, "results/train")[0] == 0
    code, reports = status(pipeline, "results/evaluate")
    assert code == 1
    assert reports["results/evaluate"].reasons == [
        "prevs upstream results/train outputs changed: results/train/model.txt modified"
    ]
    # evaluate never ran train.py: that edit is information for it, never a reason.
    code, reports = status(pipeline, "--all", "results/evaluate")
    assert "code train.py modified" in reports["results/evaluate"].info
    assert not any("train.py" in r for r in reports["results/evaluate"].reasons)

    code, data = status_json(pipeline, "results/evaluate")
    (reason,) = data["results/evaluate"]["reasons"]
    assert reason["part"] == "prevs" and reason["key"] == "upstream results/train"
    assert data["results/evaluate"]["up_to_date"] is False

    run_stage(pipeline, "evaluate.py")
    assert_up_to_date(pipeline, *STAGES)


# -- 2. what the run did not use ---------------------------------------------------------------


def test_unused_changes_are_information_and_imported_versions_are_reasons(
    project: Path, tmp_path: Path
) -> None:
    python, purelib = make_venv(tmp_path / "venv")
    run_stage(project, "fit.py", python=python)
    lock = load_lock(project / "results/fit")
    assert lock["environment"]["imported"]["fakepkg"] == "1.0"
    assert lock["environment"]["executable"] == python
    assert_up_to_date(project, "results/fit")

    old_head = git(project, "rev-parse", "HEAD")
    (project / "README.md").write_text("a project, documented\n")
    new_head = commit_all(project, "docs")
    write(project / "tasks.txt", "1\n2\n")
    install_fake_dist(purelib, "otherpkg", "0.1")

    code, reports = status(project, "results/fit")
    assert code == 0 and reports["results/fit"].up_to_date, reports
    assert reports["results/fit"].info == []  # listed only with --all
    code, reports = status(project, "--all", "results/fit")
    fit = reports["results/fit"]
    assert code == 0 and fit.up_to_date and fit.reasons == [], fit
    assert f"code HEAD {old_head} -> {new_head}" in fit.info
    assert "code README.md modified" in fit.info
    assert "code tasks.txt added" in fit.info
    assert "environment otherpkg installed" in fit.info
    code, data = status_json(project, "--all", "results/fit")
    assert data["results/fit"]["up_to_date"] is True
    assert all(not c["used"] for c in data["results/fit"]["also_changed"])

    # The version of a distribution the run imported: a reason, named, seen from either Python.
    shutil.rmtree(purelib / "fakepkg-1.0.dist-info")
    install_fake_dist(purelib, "fakepkg", "2.0", top_level="fakepkg")
    code, reports = status(project, "results/fit")
    assert code == 1 and reports["results/fit"].reasons == ["environment fakepkg 1.0 -> 2.0"]
    done = subprocess.run(
        [python, "-m", "naga", "status", "results/fit"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1 and "fakepkg 1.0 -> 2.0" in done.stdout, done.stdout


def test_naga_own_packages_count_only_when_the_run_uses_them(project: Path, tmp_path: Path) -> None:
    import yaml

    upgraded = yaml.__version__
    python, purelib = make_venv(tmp_path / "venv")

    def say_pyyaml(version: str, *parts: str) -> Callable[[dict[str, Any]], None]:
        def change(lock: dict[str, Any]) -> None:
            for part in parts:
                lock["environment"][part]["pyyaml"] = version

        return change

    # fit.py imports fakepkg, not yaml: PyYAML and xxhash are loaded by naga, not the run.
    run_stage(project, "fit.py", python=python)
    imported = load_lock(project / "results/fit")["environment"]["imported"]
    assert imported == {"fakepkg": "1.0"}, imported
    # An upgrade of PyYAML since: information, not a reason.
    edit_lock(project / "results/fit", say_pyyaml("0.1", "packages"))
    code, reports = status(project, "results/fit")
    assert code == 0 and reports["results/fit"].up_to_date, reports
    code, reports = status(project, "--all", "results/fit")
    assert f"environment pyyaml 0.1 -> {upgraded}" in reports["results/fit"].info

    # A script that imports yaml itself (in a function, among other modules): the run's.
    script = FIT.replace(
        "import fakepkg\n", "import fakepkg\n\n\ndef load():\n    import os, yaml\n"
    )
    write(project / "fit.py", script)
    run_stage(project, "fit.py", python=python)
    assert load_lock(project / "results/fit")["environment"]["imported"]["pyyaml"] == upgraded
    edit_lock(project / "results/fit", say_pyyaml("0.1", "packages", "imported"))
    code, reports = status(project, "results/fit")
    assert code == 1
    assert reports["results/fit"].reasons == [f"environment pyyaml 0.1 -> {upgraded}"]

    # A distribution the run imports that requires PyYAML: PyYAML is used through it.
    write(project / "fit.py", FIT.replace("import fakepkg\n", "import fakepkg\nimport yamluser\n"))
    write(purelib / "yamluser.py", "NAME = 'uses yaml'\n")
    dist = install_fake_dist(purelib, "yamluser", "1.0", top_level="yamluser")
    write(dist / "METADATA", (dist / "METADATA").read_text() + "Requires-Dist: PyYAML>=5\n")
    run_stage(project, "fit.py", python=python)
    imported = load_lock(project / "results/fit")["environment"]["imported"]
    assert imported == {"fakepkg": "1.0", "pyyaml": upgraded, "yamluser": "1.0"}, imported


def test_same_interpreter_reads_packages_where_the_run_found_them(
    project: Path, tmp_path: Path
) -> None:
    # The run found fakepkg on its PYTHONPATH; naga status, same Python, runs without it.
    extra = tmp_path / "extra"
    write(extra / "fakepkg" / "__init__.py", "NAME = 'fake'\n")
    install_fake_dist(extra, "fakepkg", "1.0", top_level="fakepkg")
    run_stage(project, "fit.py", env={"PYTHONPATH": str(extra)})
    environment = load_lock(project / "results/fit")["environment"]
    assert environment["imported"]["fakepkg"] == "1.0" and str(extra) in environment["sys_path"]
    assert str(extra) not in sys.path
    assert_up_to_date(project, "results/fit")  # fails: "environment fakepkg uninstalled"

    shutil.rmtree(extra / "fakepkg-1.0.dist-info")
    install_fake_dist(extra, "fakepkg", "2.0", top_level="fakepkg")
    code, reports = status(project, "results/fit")
    assert code == 1 and reports["results/fit"].reasons == ["environment fakepkg 1.0 -> 2.0"]


def test_comments_and_layout_of_used_code_are_information(pipeline: Path) -> None:
    """A used Python file is compared by its syntax tree when its bytes differ: a comment, a
    reformat (quotes, line breaks, blank lines, docstring indentation) changes nothing it runs."""
    common = pipeline / "lib" / "common.py"
    trees = load_lock(pipeline / "results/train")["repos"]["."]["used_ast"]
    assert trees["lib/common.py"].startswith("ast:") and "train.py" in trees

    reformatted = "\n".join(
        [
            "# helpers",
            "",
            "",
            "def scale(x):  # doubled",
            "    return (",
            "        2 * x",
            "    )",
            "",
        ]
    )
    common.write_text(reformatted)
    write(pipeline / "train.py", TRAIN.replace("\n", "\n\n", 3).replace('"', "'"))
    code, reports = status(pipeline, "results/train")
    assert code == 0 and reports["results/train"].up_to_date, reports
    code, reports = status(pipeline, "--all", "results/train")
    note = "modified: comments or layout only (the same syntax tree)"
    assert f"code lib/common.py {note}" in reports["results/train"].info
    assert f"code train.py {note}" in reports["results/train"].info

    # What the code does: a reason, as a docstring's words are.
    common.write_text(COMMON.replace("2 * x", "3 * x"))
    assert status(pipeline, "results/train")[1]["results/train"].reasons == [
        "code lib/common.py modified"
    ]
    common.write_text('"""Helpers, reworded."""\n' + COMMON)
    assert status(pipeline, "results/train")[1]["results/train"].reasons == [
        "code lib/common.py modified"
    ]
    common.write_text("def scale(x:\n")  # no longer parses
    assert status(pipeline, "results/train")[1]["results/train"].reasons == [
        "code lib/common.py modified"
    ]


def test_code_digest_ignores_docstring_layout_not_words(tmp_path: Path) -> None:
    from naga.lock._used import code_digest

    def digest(text: str) -> str | None:
        return code_digest(write(tmp_path / "m.py", text))

    one = digest('def f():\n    """Scale x.\n\n    Twice.\n    """\n    return 2\n')
    assert one is not None
    assert digest('def f():\n    """Scale x.\n\n        Twice.\n    """\n    return 2\n') == one
    assert digest('def f():\n    """Scale x.\n\n    Twice."""\n    return 2  # two\n') == one
    assert digest('def f():\n    """Scale x.\n\n    Thrice.\n    """\n    return 2\n') != one
    assert digest("def f(:\n") is None


def test_reformatting_real_code_keeps_its_syntax_tree(tmp_path: Path) -> None:
    """Every module of naga itself, reformatted by ruff to another line length (quotes,
    line breaks, trailing commas, docstring layout all move): the same digest, so running a
    formatter over a project does not make its runs stale."""
    from naga.lock._used import code_digest

    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable)) or shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it is in the test extra)")
    sources = sorted(Path(SRC, "naga").rglob("*.py"))
    copy = tmp_path / "copy"
    for source in sources:
        write(copy / source.relative_to(SRC), source.read_text())
    config = write(tmp_path / "ruff.toml", "line-length = 60\n[format]\nquote-style = 'single'\n")
    subprocess.run(
        [ruff, "format", "--config", str(config), str(copy)], check=True, capture_output=True
    )
    changed = 0
    for source in sources:
        formatted = copy / source.relative_to(SRC)
        changed += formatted.read_bytes() != source.read_bytes()
        assert code_digest(formatted) == code_digest(source), source
    assert changed > len(sources) // 2  # the formatter did move most files


def test_junk_in_data_and_output_folders_is_not_a_change(tmp_path: Path) -> None:
    """What Finder, Explorer, Python, Jupyter and git leave in a folder is neither data nor
    output; a real file added next to it is."""
    data = write(tmp_path / "data" / "raw" / "a.csv", "1\n").parent.parent
    run = tmp_path / "results" / "run"
    write(run / "out.txt", "result\n")
    with working_directory(tmp_path):
        naga.runlock(config={"a": 1}, data=["data"], runlock_path="results/run/run.lock")
    assert_up_to_date(tmp_path, "results/run")
    for folder in (data, data / "raw", run):
        write(folder / ".DS_Store", "\0finder")
        write(folder / "._a.csv", "apple double")
        write(folder / "Thumbs.db", "explorer")
        write(folder / "__pycache__" / "x.cpython-311.pyc", "bytecode")
        write(folder / ".ipynb_checkpoints" / "a-checkpoint.ipynb", "{}")
        write(folder / ".git" / "index", "git")
    assert_up_to_date(tmp_path, "results/run")

    write(data / "raw" / "b.csv", "2\n")
    write(run / "extra.txt", "more\n")
    code, reports = status(tmp_path, "results/run")
    assert code == 1
    assert reports["results/run"].reasons == [
        "data data/raw/b.csv added",
        "outputs output extra.txt added",
    ], reports


# -- 3. a dirty tree, then committed ---------------------------------------------------------------


def test_run_from_a_dirty_tree_then_committed_stays_up_to_date(project: Path) -> None:
    (project / "prepare.py").write_text(PREPARE + "# edited before the run\n")
    write(project / "notes.txt", "untracked, in the snapshot\n")
    old_head = git(project, "rev-parse", "HEAD")
    run_stage(project, "prepare.py")
    repo = load_lock(project / "results/prepare")["repos"]["."]
    assert repo["dirty"] is True and repo["snapshot"] != repo["commit"]
    assert_up_to_date(project, "results/prepare")

    new_head = commit_all(project, "exactly the tree the run saw")
    assert git(project, "rev-parse", "HEAD^{tree}") == repo["tree"]
    code, out = naga_cli(project, "status", "results/prepare")
    assert code == 0 and "up to date" in out and "HEAD" not in out, out
    code, reports = status(project, "--all", "results/prepare")
    assert code == 0 and reports["results/prepare"].info == [f"code HEAD {old_head} -> {new_head}"]

    (project / "prepare.py").write_text(PREPARE + "EDITED = 'after the run'\n")
    code, reports = status(project, "results/prepare")
    assert code == 1 and reports["results/prepare"].reasons == ["code prepare.py modified"]


# -- 4. two tasks of one sweep -----------------------------------------------------------------


def run_sweep(project: Path) -> tuple[Path, Path]:
    write(project / "tasks.txt", "1\n2\n")  # untracked: the tree is dirty, each task snapshots
    run_stage(project, "sweep.py", "--tasks", "tasks.txt", "--task_to", "param", "--n_jobs", "2")
    return project / "results/sweep/param=1", project / "results/sweep/param=2"


def test_sweep_tasks_differ_only_in_config(project: Path) -> None:
    one, two = run_sweep(project)
    repo_one, repo_two = (load_lock(d)["repos"]["."] for d in (one, two))
    assert repo_one["tree"] == repo_two["tree"] and repo_one["used"] == repo_two["used"]
    assert repo_one["snapshot"] != repo_two["snapshot"]  # made more than a second apart

    code, differences, changes = naga_diff(project, str(one), str(two))
    assert code == 1
    used = [c for c in changes if c["used"]]
    # What was swept, and what each task wrote (its own out.txt); save_dir is a run's identity.
    assert {(c["part"], c["key"]) for c in used} == {("config", "param"), ("outputs", ".")}, used
    assert any(c["part"] == "code" for c in changes)  # the snapshot ids, as information
    assert all(not c["used"] for c in changes if c["part"] == "code")
    assert "config param: 1 -> 2" in differences
    assert not any(line.startswith("code") for line in differences), differences

    # A used file that differs only in comments: information, the same code ran.
    (project / "sweep.py").write_text("# the sweep\n" + SWEEP)
    run_stage(project, "sweep.py", "-o", "param=1", "save_dir=results/commented")
    code, differences, changes = naga_diff(project, str(one), "results/commented")
    assert code == 0 and not any(c["used"] for c in changes), changes
    layout = [c for c in changes if c["key"] == ".:sweep.py"]
    assert [c["note"] for c in layout] == [
        "differs: comments or layout only (the same syntax tree)"
    ]

    # A used file that differs between two runs is a code difference, named.
    (project / "sweep.py").write_text(SWEEP + "VERSION = 2\n")
    run_stage(project, "sweep.py", "-o", "param=1", "save_dir=results/other")
    code, differences, changes = naga_diff(project, str(one), "results/other")
    used_code = {c["key"]: c["note"] for c in changes if c["used"] and c["part"] == "code"}
    assert code == 1 and used_code == {".:sweep.py": "differs"}
    assert any(line.startswith("code .:sweep.py") for line in differences), differences


def test_diff_of_identical_runs_ignores_snapshot_ids(project: Path, tmp_path: Path) -> None:
    write(project / "tasks.txt", "untracked: the tree is dirty\n")
    run_stage(project, "prepare.py")
    first = tmp_path / "first"
    shutil.copytree(project / "results/prepare", first)
    time.sleep(1.1)  # another second: another snapshot commit of the same tree
    run_stage(project, "prepare.py")
    a, b = load_lock(first), load_lock(project / "results/prepare")
    assert a["repos"]["."]["tree"] == b["repos"]["."]["tree"]
    assert a["repos"]["."]["snapshot"] != b["repos"]["."]["snapshot"]
    code, differences, changes = naga_diff(project, str(first), "results/prepare")
    assert code == 0 and differences == [], differences
    assert [c["key"] for c in changes] == ["..snapshot"] and not changes[0]["used"]


# -- 5. upstream reruns ----------------------------------------------------------------------------


def test_identical_upstream_rerun_is_information_changed_output_is_named(pipeline: Path) -> None:
    run_stage(pipeline, "prepare.py")  # the same bytes again
    assert_up_to_date(pipeline, *STAGES)
    code, reports = status(pipeline, "--all", "results/train")
    assert code == 0
    assert "prevs upstream results/prepare rerun with identical outputs" in (
        reports["results/train"].info
    )

    run_stage(pipeline, "prepare.py", "-o", "n=5")
    code, reports = status(pipeline, *STAGES)
    assert code == 1 and reports["results/prepare"].up_to_date
    train = reports["results/train"].reasons
    assert (
        "prevs upstream results/prepare outputs changed: results/prepare/test.csv modified" in train
    )
    assert "data results/prepare/test.csv content changed" in train
    assert reports["results/evaluate"].reasons == [
        "prevs upstream results/train is stale: results/prepare/test.csv content changed"
    ]


# -- 6. a moved project, a fresh clone -----------------------------------------------------------


def test_moved_project_and_fresh_clone_judge_the_same(pipeline: Path, tmp_path: Path) -> None:
    (pipeline / "lib" / "common.py").write_text(COMMON + "TUNED = True\n")  # something to report
    before = status_json(pipeline, *STAGES)
    assert before[0] == 1

    moved = tmp_path / "project2"
    shutil.move(pipeline, moved)
    assert status_json(moved, *STAGES) == before
    assert (
        status_json(moved, "--all", *STAGES)[1]["results/train"]["reasons"]
        == (before[1]["results/train"]["reasons"])
    )

    # The results copied next to a clone of the same commit: what was committed is up to date.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(moved), str(clone))
    assert git(clone, "rev-parse", "HEAD") == git(moved, "rev-parse", "HEAD")
    shutil.copytree(moved / "results", clone / "results")
    assert_up_to_date(clone, *STAGES)
    code, data = status_json(clone, "--all", *STAGES)
    assert code == 0 and all(not d["also_changed"] for d in data.values()), data


# -- 7. the run's own outputs ----------------------------------------------------------------------


def test_own_outputs_are_named_and_nagas_files_never_count(pipeline: Path) -> None:
    run = pipeline / "results/prepare"
    output = run / "test.csv"
    original = output.read_text()

    # naga's own files, and a nested run folder (another run's), are not outputs.
    write(run / "config.json", '{"hand": "written"}\n')
    write(run / "result.json", '{"score": 1}\n')
    write(run / ".naga" / "mlflow.json", '{"run_id": "0123"}\n')
    nested = run / "sub"
    shutil.copytree(pipeline / "results/evaluate", nested)
    write(nested / "extra.txt", "another run's output\n")
    assert_up_to_date(pipeline, *STAGES)

    output.write_text("edited\n")
    code, reports = status(pipeline, "results/prepare")
    assert code == 1 and reports["results/prepare"].reasons == ["outputs output test.csv modified"]
    output.write_text(original)
    assert_up_to_date(pipeline, *STAGES)

    output.unlink()
    code, reports = status(pipeline, "results/prepare")
    assert code == 1 and reports["results/prepare"].reasons == ["outputs output test.csv deleted"]
    output.write_text(original)

    write(run / "extra.csv", "new\n")
    code, reports = status(pipeline, "results/prepare")
    assert code == 1 and reports["results/prepare"].reasons == ["outputs output extra.csv added"]
    (run / "extra.csv").unlink()
    assert_up_to_date(pipeline, *STAGES)


# -- 8. MLflow's files are never data ------------------------------------------------------------


def test_mlflow_files_in_an_upstream_folder_are_not_data(project: Path) -> None:
    run_stage(project, "prepare.py")
    run_stage(project, "report.py")
    lock = load_lock(project / "results/report")
    assert lock["data"]["results/prepare"]["path"] == "../prepare"
    assert lock["prevs"]["../prepare"]["inferred"] is True
    assert_up_to_date(project, "results/prepare", "results/report")

    write(project / "results/prepare/.naga/mlflow.json", '{"run_id": "0123"}\n')
    write(project / "results/prepare/.naga/mlflow.lock", "")
    assert_up_to_date(project, "results/prepare", "results/report")

    # A user's file added there is data (and an output of prepare): named.
    write(project / "results/prepare/extra.csv", "9\n")
    code, reports = status(project, "results/report")
    assert code == 1
    assert "data results/prepare/extra.csv added" in reports["results/report"].reasons
    assert (
        "prevs upstream results/prepare is stale: output extra.csv added"
        in reports["results/report"].reasons
    )


# -- 9. judging executes nothing, fires no git hook ---------------------------------------------


def test_status_never_runs_the_recorded_interpreter(pipeline: Path, tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    script = executable_script(tmp_path / "evil" / "python", marker)

    def point_at_script(lock: dict[str, Any]) -> None:
        lock["environment"]["executable"] = str(script)

    for d in STAGES:
        edit_lock(pipeline / d, point_at_script)
    naga_cli(pipeline, "status", *STAGES)
    naga_cli(pipeline, "status", "--all", "--json", *STAGES)
    naga_cli(pipeline, "diff", "results/train", "results/evaluate")
    code, out = naga_cli(pipeline, "ls", "--status", "results")
    assert code == 0 and "results/evaluate" in out
    assert not marker.exists()
    subprocess.run([str(script)], check=True)  # the script does work when run
    assert marker.exists()


def test_status_fires_no_fsmonitor_hook(pipeline: Path, tmp_path: Path) -> None:
    marker = tmp_path / "FSMONITOR"
    hook = executable_script(tmp_path / "hook.sh", marker)
    git(pipeline, "config", "core.fsmonitor", str(hook))
    (pipeline / "lib" / "common.py").write_text(COMMON + "TUNED = True\n")  # work to do for --all
    write(pipeline / "tasks.txt", "1\n")
    assert status(pipeline, *STAGES)[0] == 1
    code, reports = status(pipeline, "--all", *STAGES)
    assert code == 1 and "code tasks.txt added" in reports["results/prepare"].info
    naga_cli(pipeline, "ls", "--status", "results")
    assert not marker.exists()
    git(pipeline, "status")  # git itself runs the hook here
    assert marker.exists()


# -- 10. a version-1 run.lock ------------------------------------------------------------------


def test_version_1_lock_loads_and_is_judged_the_old_way(project: Path) -> None:
    write(project / "data" / "x.csv", "1,2\n")
    commit_all(project, "data")
    old = project / "results" / "old"
    old.mkdir(parents=True)
    lock = {
        "lock_version": 1,
        "created": "2024-01-01T00:00:00.000000Z",
        "command": [sys.executable, "old.py"],
        "cwd": str(project),
        "config": {"param": 1},
        "repos": {
            ".": {
                "path": ".",
                "root": str(project),
                "commit": git(project, "rev-parse", "HEAD"),
                "branch": "main",
                "dirty": False,
                "remote": None,
            }
        },
        "data": {"data/x.csv": {"hash": hash_path(project / "data" / "x.csv")["hash"]}},
        "environment": {"python": platform.python_version(), "packages": installed_packages()},
        "prevs": {},
    }
    (old / "run.lock").write_text(dump_yaml(lock))
    assert load_lock(old)["lock_version"] == 1

    code, reports = status(project, "results/old")
    assert code == 0 and reports["results/old"].up_to_date, reports
    (note,) = reports["results/old"].notes
    assert note.startswith("lock_version 1: judged the old way"), note
    assert reports["results/old"].info == []
    code, data = status_json(project, "results/old")
    assert data["results/old"]["lock_version"] == 1 and data["results/old"]["up_to_date"]

    # The old way: any new commit or edited file is a reason.
    (project / "README.md").write_text("a project, documented\n")
    commit_all(project, "docs")
    code, reports = status(project, "results/old")
    reasons = reports["results/old"].reasons
    assert code == 1 and "code README.md modified" in reasons
    assert any(r.startswith("code HEAD ") for r in reasons), reasons


# -- 11. run.lock size ---------------------------------------------------------------------------


def test_embedded_stages_do_not_repeat_the_environment(pipeline: Path) -> None:
    text = (pipeline / "results/evaluate/run.lock").read_text()
    assert len(re.findall(r"^\s*packages:", text, re.M)) == 1
    assert len(re.findall(r"^\s*environment:", text, re.M)) == 3  # the run, train, prepare
    assert len(re.findall(r"^\s*same_as_run:", text, re.M)) == 2

    lock = load_lock(pipeline / "results/evaluate")  # expanded back on load
    train = lock["prevs"]["../train"]
    prepare = train["prevs"]["../prepare"]
    for stage in (train, prepare):
        assert "same_as_run" not in stage["environment"]
        assert stage["environment"]["packages"] == lock["environment"]["packages"]
        assert stage["environment"]["python"] == lock["environment"]["python"]


# -- 12. config files, judged by the values they gave the run ------------------------------------

CONFIGURED = """
from dataclasses import dataclass, field

from naga import clicfg, runlock


@dataclass
class Model:
    lr: float = 0.1
    depth: int = 2


@dataclass
class Config:
    save_dir: str = "results/exp"
    model: Model = field(default_factory=Model)
    seed: int = 0
    user: str = "nobody"
    note: str = ""


@clicfg(config_class=Config)
def main(cfg: Config) -> None:
    runlock(config=cfg, repos=["."])


if __name__ == "__main__":
    main()
"""

EXPERIMENTS = """\
defaults: [base]
base:
  seed: 1
  user: ${env:NAGA_TEST_USER}
small:
  model: {lr: 0.01, depth: 4}
big:
  model: {lr: 0.5, depth: 8}
other_script:
  epochs: 3
"""


@pytest.fixture
def configured(tmp_path: Path) -> Path:
    """A project run once as ``exp.py --config exps.yaml --experiment small -o model.depth=3``."""
    folder = tmp_path / "configured"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.email", "test@example.com")
    git(folder, "config", "user.name", "Test")
    write(folder / "exp.py", CONFIGURED)
    write(folder / "exps.yaml", EXPERIMENTS)
    commit_all(folder, "the project")
    args = ("--config", "exps.yaml", "--experiment", "small", "-o", "model.depth=3")
    run_stage(folder, "exp.py", *args, env={"NAGA_TEST_USER": "ada"})
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def test_config_file_edits_the_run_did_not_take_are_information(configured: Path) -> None:
    exps = configured / "exps.yaml"
    sources = load_lock(configured / "results/exp")["config_sources"]
    assert sources["taken"] == {"seed": 1, "user": "${env:NAGA_TEST_USER}", "model.lr": 0.01}
    assert_up_to_date(configured, "results/exp")

    # A comment, another experiment, a key -o overrode, a key of another script, and the
    # environment of whoever checks: nothing the run took changed.
    write(exps, "# tuned\n" + exps.read_text())
    edit(exps, "lr: 0.5, depth: 8", "lr: 0.7, depth: 9")
    edit(exps, "lr: 0.01, depth: 4", "lr: 0.01, depth: 6")
    edit(exps, "epochs: 3", "epochs: 30")
    code, reports = status(configured, "results/exp")  # NAGA_TEST_USER is unset here
    assert code == 0 and reports["results/exp"].up_to_date, reports
    code, reports = status(configured, "--all", "results/exp")
    assert code == 0
    assert reports["results/exp"].info == [
        "config config file ../../exps.yaml modified: no value this run took changed"
    ]


def test_config_values_the_run_took_are_reasons_named_by_key(configured: Path) -> None:
    exps = configured / "exps.yaml"
    original = exps.read_text()

    # The selected experiment's value.
    edit(exps, "lr: 0.01, depth: 4", "lr: 0.02, depth: 4")
    code, reports = status(configured, "results/exp")
    assert code == 1
    assert reports["results/exp"].reasons == ["config model.lr 0.01 -> 0.02 (../../exps.yaml)"]
    code, data = status_json(configured, "results/exp")
    (reason,) = data["results/exp"]["reasons"]
    assert (reason["part"], reason["key"], reason["old"], reason["new"]) == (
        "config",
        "model.lr",
        0.01,
        0.02,
    )

    # A value the top-level defaults give every experiment; a value no longer set; a new one.
    exps.write_text(original.replace("seed: 1", "seed: 2"))
    assert status(configured, "results/exp")[1]["results/exp"].reasons == [
        "config seed 1 -> 2 (../../exps.yaml)"
    ]
    exps.write_text(original.replace("  seed: 1\n", ""))
    assert status(configured, "results/exp")[1]["results/exp"].reasons == [
        "config seed 1 -> 0 (the default): ../../exps.yaml no longer sets it"
    ]
    exps.write_text(original.replace("small:\n", "small:\n  note: tuned\n  user: x\n"))
    assert status(configured, "results/exp")[1]["results/exp"].reasons == [
        "config note the default -> tuned (set by ../../exps.yaml now)",
        "config user ${env:NAGA_TEST_USER} -> x (../../exps.yaml)",
    ]
    # A key a file now sets to the value the run had anyway: nothing changed.
    exps.write_text(original.replace("small:\n", "small:\n  save_dir: results/exp\n"))
    assert_up_to_date(configured, "results/exp")

    # The experiment gone, the file gone: the file is named, with what went wrong.
    exps.write_text(original.replace("small:", "tiny:"))
    (reason,) = status(configured, "results/exp")[1]["results/exp"].reasons
    assert reason.startswith("config config file ../../exps.yaml modified: ")
    assert "has no experiment 'small'" in reason
    exps.unlink()
    assert status(configured, "results/exp")[1]["results/exp"].reasons == [
        "config config file ../../exps.yaml deleted"
    ]
    exps.write_text(original)
    assert_up_to_date(configured, "results/exp")


def test_a_receipt_without_taken_values_judges_the_file(configured: Path) -> None:
    """A run.lock of an older naga (no ``taken``): any edit of a config file is a reason."""
    edit_lock(configured / "results/exp", lambda lock: lock["config_sources"].pop("taken"))
    assert_up_to_date(configured, "results/exp")
    write(configured / "exps.yaml", "# tuned\n" + (configured / "exps.yaml").read_text())
    code, reports = status(configured, "results/exp")
    assert code == 1 and reports["results/exp"].reasons == ["code exps.yaml modified"]


def test_sweep_tasks_judge_their_config_files_by_value(configured: Path) -> None:
    exps = configured / "exps.yaml"
    write(configured / "seeds.txt", "5\n6\n")
    sweep = ("--config", "exps.yaml", "--experiment", "small", "-o", "save_dir=results/sweep")
    args = (*sweep, "--tasks", "seeds.txt", "--task_to", "seed")
    run_stage(configured, "exp.py", *args, env={"NAGA_TEST_USER": "ada"})
    task = "results/sweep/seed=5"
    sources = load_lock(configured / task)["config_sources"]
    # seed is the task's own: the files' seed (1) is not what the task took.
    assert sources["task_keys"] == ["seed", "save_dir"]
    taken = {"user": "${env:NAGA_TEST_USER}", "model.lr": 0.01, "model.depth": 4}
    assert sources["taken"] == taken

    # The files' seed changed: the tasks set their own. Quiet, and the sweep skips them.
    edit(exps, "seed: 1", "seed: 9")
    assert_up_to_date(configured, task, "results/sweep/seed=6")
    done = subprocess.run(
        [sys.executable, "exp.py", *args],
        cwd=configured,
        env={**os.environ, "NAGA_TEST_USER": "ada"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0 and "2 skipped (done before)" in done.stderr, done.stderr

    # A value the tasks took from the file: each task is stale, the key named.
    edit(exps, "lr: 0.01", "lr: 0.03")
    code, reports = status(configured, task)
    assert code == 1
    assert reports[task].reasons == ["config model.lr 0.01 -> 0.03 (../../../exps.yaml)"]
