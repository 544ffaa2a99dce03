"""``naga ls --table``: real runs (the pipeline of test_dag: clicfg scripts calling runlock in a
real git repository, a real sweep, a failed run) as a comparison table in every format."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from naga.cli import main
from naga.cli._table import join_dash_values, parse_filter, read_config
from naga.lock import load_lock
from test_dag import make_pipeline


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pipeline(tmp_path_factory.mktemp("pipeline") / "project")


@pytest.fixture
def project(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    repo = tmp_path / "project"
    shutil.copytree(built, repo, symlinks=True)
    monkeypatch.chdir(repo)
    return repo


def _rows(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    assert main(["ls", *args, "--table", "--json"]) == 0
    rows: list[dict] = json.loads(capsys.readouterr().out)
    return rows


def test_columns_differing_config_keys_and_metrics(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _rows(capsys, "results")
    assert [r["run"] for r in rows] == [
        "crash",
        "evaluate",
        "prepare",
        "train/lr=0.01",
        "train/lr=0.1",
    ]
    columns = list(rows[0])
    assert columns[:3] == ["run", "status", "duration"]
    assert "save_dir" not in columns  # a run's identity is its folder, in the run column
    assert {"lr", "epochs", "rows", "models", "data", "mode"} <= set(columns)
    assert columns[-3:] == ["score", "acc", "loss"]  # result.json metrics, after the config
    by_run = {r["run"]: r for r in rows}
    assert by_run["crash"]["status"] == "failed"
    assert by_run["crash"]["mode"] == "raise"  # from config.json: a failed run has no run.lock
    assert by_run["train/lr=0.1"] | {"duration": 0} == {
        **{c: None for c in columns},
        "run": "train/lr=0.1",
        "status": "done",
        "duration": 0,
        "lr": 0.1,
        "epochs": 3,
        "model_file": "results/train/model.txt",
        "acc": 0.8,
        "loss": 0.2,
    }
    assert isinstance(by_run["prepare"]["duration"], float)


def test_a_sweep_folder_lists_its_tasks(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tasks = project / "results" / "train" / "tasks.yaml"
    tasks.write_text(
        tasks.read_text()
        + "- label: lr=0.5\n  origin: lrs.txt line 3\n  save_dir: results/train/lr=0.5\n"
        "  key: 0123456789abcdef\n  log: x.log\n  status: pending\n"
    )
    assert main(["ls", "results/train", "--table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["run", "status", "duration", "lr", "acc", "loss"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["lr=0.1", "done"],
        ["lr=0.01", "done"],
        ["lr=0.5", "pending"],
    ]
    assert lines[3].split()[2:] == ["-", "-", "-", "-"]


def test_sort_descending_as_typed(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows(capsys, "results", "--sort", "-acc")
    assert [r["run"] for r in rows][:2] == ["train/lr=0.01", "train/lr=0.1"]  # others last
    rows = _rows(capsys, "results", "--sort", "acc")
    assert [r["run"] for r in rows][:2] == ["train/lr=0.1", "train/lr=0.01"]
    rows = _rows(capsys, "results", "--sort", "status,-run")
    assert [r["run"] for r in rows] == [
        "train/lr=0.1",
        "train/lr=0.01",
        "prepare",
        "evaluate",
        "crash",
    ]
    # Through the installed command, as a shell passes it.
    done = subprocess.run(
        [sys.executable, "-m", "naga", "ls", "results", "--table", "--sort", "-loss", "--csv"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert [r["run"] for r in csv.DictReader(io.StringIO(done.stdout))][:2] == [
        "train/lr=0.1",
        "train/lr=0.01",
    ]


def test_filters(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def runs(*filters: str) -> list[str]:
        args = [a for f in filters for a in ("--filter", f)]
        return [r["run"] for r in _rows(capsys, "results", *args)]

    assert runs("acc >= 0.85") == ["train/lr=0.01"]
    assert runs("acc > 0.5", "lr != 0.01") == ["train/lr=0.1"]
    assert runs("status == failed") == ["crash"]
    assert runs("status==done", "rows<=100") == ["prepare"]
    assert runs("run == train/lr=0.1") == ["train/lr=0.1"]
    assert runs("lr < 1e-1") == ["train/lr=0.01"]
    assert runs("epochs == null") == ["crash", "evaluate", "prepare"]
    assert runs("config.save_dir == 'results/evaluate'") == ["evaluate"]
    assert runs("acc > high") == []  # numbers and text have no order
    assert runs("status < failed") == ["evaluate", "prepare", "train/lr=0.01", "train/lr=0.1"]
    assert parse_filter("flag == true") == ("flag", "==", True, "true")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--filter", "acc >> 1"], "--filter 'acc >> 1': expected KEY OP VALUE with OP one of"),
        (["--filter", "acc"], "--filter 'acc': expected KEY OP VALUE"),
        (["--filter", "acx > 1"], "--filter 'acx > 1': no column 'acx'. Did you mean 'acc'?"),
        (["--sort", "-los"], "--sort: no column 'los'. Did you mean 'loss'?"),
        (["--columns", "run,stauts"], "--columns: no column 'stauts'. Did you mean 'status'?"),
    ],
)
def test_bad_options_name_the_input(
    project: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["ls", "results", "--table", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("naga: error: " + message), captured.err


def test_columns_pick_and_order(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _rows(capsys, "results/train", "--columns", "acc,run,epochs,result.loss")
    assert rows == [
        {"acc": 0.8, "run": "lr=0.1", "epochs": 3, "result.loss": 0.2},
        {"acc": 0.89, "run": "lr=0.01", "epochs": 3, "result.loss": 0.02},
    ]


def test_csv_and_markdown(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "results/train", "--csv", "--columns", "run,status,duration,lr"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["run"], r["lr"]) for r in rows] == [("lr=0.1", "0.1"), ("lr=0.01", "0.01")]
    assert float(rows[0]["duration"]) >= 0  # seconds, for scripts
    assert main(["ls", "results", "--md", "--filter", "acc > 0", "--sort", "acc"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "| run | status | duration | lr | acc | loss |"
    assert out[1] == "| --- | --- | ---: | ---: | ---: | ---: |"
    assert out[2].startswith("| train/lr=0.1 | done | ") and out[2].endswith(" | 0.1 | 0.8 | 0.2 |")


def test_status_adds_fresh_and_the_reason(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _rows(capsys, "results", "--status")
    assert {r["run"]: r["fresh"] for r in rows} == {
        "crash": None,
        "evaluate": "fresh",
        "prepare": "fresh",
        "train/lr=0.01": "fresh",
        "train/lr=0.1": "fresh",
    }
    assert "reason" not in rows[0]
    with open(project / "train.py", "a") as handle:
        handle.write("TUNED = True\n")
    rows = _rows(capsys, "results", "--status", "--filter", "fresh == stale")
    assert [(r["run"], r["reason"]) for r in rows] == [
        ("evaluate", "upstream results/train/lr=0.1 is stale: train.py modified"),
        ("train/lr=0.01", "train.py modified"),
        ("train/lr=0.1", "train.py modified"),
    ]


def test_an_unreadable_run_lock_is_a_row_and_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "results" / "prepare" / "run.lock").write_text("lock_version: 2\nconfig: [\n")
    assert main(["ls", "results", "--table"]) == 2
    captured = capsys.readouterr()
    assert "results/prepare/run.lock' line 3 is not valid YAML" in captured.err
    assert [line.split()[:2] for line in captured.out.splitlines()][3] == ["prepare", "unreadable"]


def test_read_config_parses_only_the_config_block(project: Path, tmp_path: Path) -> None:
    for run in ("results/evaluate", "results/train/lr=0.1", "results/prepare"):
        assert read_config(project / run / "run.lock") == load_lock(project / run)["config"]
    # An alias whose anchor lies outside the config block: the whole file is read instead.
    lock = tmp_path / "run.lock"
    lock.write_text("lock_version: 2\ncwd: &here /x\nconfig:\n  where: *here\nprevs: {}\n")
    assert read_config(lock) == {"where": "/x"}


def test_rich_on_a_terminal_plain_text_otherwise(project: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "naga", "ls", "results/train", "--table"],
        cwd=str(project),
        encoding="utf-8",
        timeout=120,
        dimensions=(40, 160),
    )
    child.expect(pexpect.EOF)
    child.close()
    out = child.before
    assert child.exitstatus == 0, out
    assert "──" in out and "\x1b[32mdone" in out  # rich's header rule, colours
    assert "lr=0.01" in out and "0.89" in out
    # Piped: plain text, and rich is never imported.
    code = (
        "import sys; from naga.cli import main; status = main(['ls', 'results', '--table']); "
        "sys.stdout.flush(); assert 'rich' not in sys.modules, 'rich imported'; sys.exit(status)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("run            status  duration")


def test_join_dash_values() -> None:
    assert join_dash_values(["ls", "--sort", "-acc", "x"]) == ["ls", "--sort=-acc", "x"]
    assert join_dash_values(["ls", "--sort", "acc"]) == ["ls", "--sort", "acc"]
    assert join_dash_values(["ls", "--", "--sort", "-acc"]) == ["ls", "--", "--sort", "-acc"]
