"""``naga dag``: the lineage of real runs (clicfg scripts calling runlock in a real git repository),
in every format; svg and png through the real Graphviz, the html page opened in a real headless
Chromium (a screenshot kept as a CI artifact)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from naga.cli import main
from naga.cli._dag import build_graph, to_html

PREPARE = """
from pathlib import Path
from naga import clicfg, runlock

class Config:
    rows = 100
    save_dir = "results/prepare"

@clicfg(config_class=Config)
def main(cfg: Config):
    (Path(cfg.save_dir) / "table.csv").write_text("x\\n" * cfg.rows)
    runlock(config=cfg, repos=["."])

if __name__ == "__main__":
    main()
"""

TRAIN = """
from pathlib import Path
from naga import clicfg, runlock

class Config:
    lr = 0.1
    epochs = 3
    model_file = "results/train/model.txt"
    save_dir = "results/train"

@clicfg(config_class=Config)
def main(cfg: Config):
    Path(cfg.save_dir).mkdir(parents=True, exist_ok=True)
    Path(cfg.save_dir, "model.txt").write_text(str(cfg.lr))
    runlock(config=cfg, repos=["."], prevs=["results/prepare"])
    return {"acc": round(0.9 - cfg.lr, 3), "loss": round(cfg.lr * 2, 3)}

if __name__ == "__main__":
    main()
"""

EVALUATE = """
from pathlib import Path
from naga import clicfg, runlock

class Config:
    models = ["results/train/lr=0.1", "results/train/lr=0.01"]
    data = "results/prepare/table.csv"
    save_dir = "results/evaluate"

@clicfg(config_class=Config)
def main(cfg: Config):
    Path(cfg.save_dir, "report.txt").write_text("ok")
    runlock(config=cfg, repos=["."], data=[cfg.data], prevs=cfg.models)
    return {"score": 0.8}

if __name__ == "__main__":
    main()
"""

CRASH = """
from naga import clicfg

class Config:
    mode = "raise"
    save_dir = "results/crash"

@clicfg(config_class=Config)
def main(cfg: Config):
    raise ValueError("bad batch")

if __name__ == "__main__":
    main()
"""

#: Every run of the pipeline, as `naga dag` displays them from the repository's root.
RUNS = [
    "results/prepare",
    "results/train/lr=0.01",
    "results/train/lr=0.1",
    "results/evaluate",
]


def _git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def _python(repo: Path, *args: str, ok: bool = True) -> None:
    done = subprocess.run(
        [sys.executable, *args], cwd=repo, capture_output=True, text=True, timeout=300
    )
    assert (done.returncode == 0) == ok, done.stderr


def make_pipeline(repo: Path) -> Path:
    """prepare -> a sweep of train (lr=0.1, lr=0.01) -> evaluate, which also reads prepare's
    table (an inferred upstream): a diamond. Plus results/crash, a run that failed."""
    repo.mkdir(parents=True)
    for name, text in [
        ("prepare.py", PREPARE),
        ("train.py", TRAIN),
        ("evaluate.py", EVALUATE),
        ("crash.py", CRASH),
    ]:
        (repo / name).write_text(text)
    (repo / "lrs.txt").write_text("0.1\n0.01\n")
    (repo / ".gitignore").write_text("results/\n")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "pipeline")
    _python(repo, "prepare.py")
    _python(repo, "train.py", "--tasks", "lrs.txt", "--task_to", "lr", "--n_jobs", "2")
    _python(repo, "evaluate.py")
    _python(repo, "crash.py", ok=False)
    return repo


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pipeline(tmp_path_factory.mktemp("pipeline") / "project")


@pytest.fixture
def project(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the pipeline for one test (paths in a run.lock are relative: it moves)."""
    repo = tmp_path / "project"
    shutil.copytree(built, repo, symlinks=True)
    monkeypatch.chdir(repo)
    return repo


def _dag(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["dag", *args]) == 0
    return capsys.readouterr().out


def _graph(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, dict]:
    data = json.loads(_dag(capsys, *args, "--json"))
    nodes = {n["path"]: n for n in data["nodes"]}
    nodes["__edges__"] = {(e["from"], e["to"]): e["inferred"] for e in data["edges"]}
    return nodes


def _need(tool: str, variable: str) -> str:
    found = shutil.which(tool)
    if found is None:
        if os.environ.get(variable) == "1":
            pytest.fail(f"{tool} is not installed and {variable}=1")
        pytest.skip(f"{tool} is not installed ({variable}=1 makes this a failure)")
    return found


def test_mermaid_is_the_default_off_a_terminal(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _dag(capsys, "results/evaluate")
    assert out.startswith("flowchart TD\n")
    assert out.count('["results/prepare"]:::fresh') == 1  # the diamond's top, drawn once
    assert 'subgraph g0["results/train (sweep)"]' in out
    # Inside the sweep's group a task is named by its folder, which names its swept value.
    assert '["lr=0.1"]:::fresh' in out and '["lr=0.01"]:::fresh' in out
    assert '["results/evaluate"]:::fresh' in out
    assert out.count(" --> ") == 4 and out.count(" -.-> ") == 1  # prepare -.-> evaluate: inferred
    assert "classDef stale fill:" in out


def test_edges_groups_and_keys(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    nodes = _graph(capsys, "results/evaluate")
    edges = nodes.pop("__edges__")
    assert sorted(nodes) == sorted(RUNS)
    assert edges == {
        ("results/prepare", "results/train/lr=0.01"): False,
        ("results/prepare", "results/train/lr=0.1"): False,
        ("results/train/lr=0.1", "results/evaluate"): False,
        ("results/train/lr=0.01", "results/evaluate"): False,
        ("results/prepare", "results/evaluate"): True,
    }
    assert [n for n in nodes if nodes[n]["group"] == "results/train"] == [
        "results/train/lr=0.01",
        "results/train/lr=0.1",
    ]
    # The keys that set a task apart from its stage's other runs; model_file is its identity.
    assert nodes["results/train/lr=0.1"]["keys"] == ["lr=0.1"]
    assert nodes["results/prepare"]["keys"] == []
    assert {n["state"] for n in nodes.values()} == {"fresh"}


def test_stale_nodes_carry_their_first_reason(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(project / "train.py", "a") as handle:
        handle.write("TUNED = True\n")
    nodes = _graph(capsys, "results")
    assert nodes["results/prepare"]["state"] == "fresh"
    assert nodes["results/train/lr=0.1"]["state"] == "stale"
    assert nodes["results/train/lr=0.1"]["note"] == "stale: train.py modified"
    assert nodes["results/evaluate"]["state"] == "stale"
    assert "is stale: train.py modified" in nodes["results/evaluate"]["note"]
    out = _dag(capsys, "results", "--format", "mermaid")
    assert '["lr=0.1<br/>stale: train.py modified"]:::stale' in out
    text = _dag(capsys, "results", "--format", "text")
    assert "stale    results/train/lr=0.1" in text and "stale: train.py modified" in text


def test_failed_running_and_missing_nodes(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A running run: a record naming a live process of this host (this test's own process).
    running = project / "results" / "running"
    (running / ".naga").mkdir(parents=True)
    record = {"status": "running", "start": "2025-01-01T00:00:00Z", "pid": os.getpid()}
    record["host"] = os.uname().nodename if hasattr(os, "uname") else socket.gethostname()
    (running / ".naga" / "record.json").write_text(json.dumps(record))
    shutil.rmtree(project / "results" / "prepare")
    nodes = _graph(capsys, "results")
    assert nodes["results/crash"]["state"] == "failed"
    assert nodes["results/crash"]["note"] == "failed: ValueError: bad batch"
    assert nodes["results/running"]["state"] == "running"
    assert nodes["results/prepare"]["state"] == "missing"  # still drawn: its downstreams name it
    assert nodes["results/prepare"]["note"] == "missing: the folder is gone"
    assert nodes["results/train/lr=0.1"]["state"] == "stale"
    out = _dag(capsys, "results", "--format", "dot")
    assert 'label="results/crash\\nfailed: ValueError: bad batch"' in out
    assert 'fillcolor="#fbd5d5"' in out and 'class="running"' in out


def _requeue(folder: Path) -> None:
    """Rewrite the run's record as the job's process does when Slurm requeues the job."""
    file = folder / ".naga" / "record.json"
    file.parent.mkdir(parents=True, exist_ok=True)
    record = json.loads(file.read_text()) if file.is_file() else {"start": "2025-01-01T00:00:00Z"}
    record.update(status="requeued", end="2025-01-01T00:01:00Z")
    file.write_text(json.dumps(record))


def test_requeued_nodes_are_drawn_as_such_not_judged(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with open(project / "train.py", "a") as handle:
        handle.write("TUNED = True\n")  # judged, both tasks would be stale
    _requeue(project / "results" / "train" / "lr=0.1")
    _requeue(project / "results" / "waiting")  # requeued before it wrote its run.lock
    nodes = _graph(capsys, "results")
    assert nodes["results/train/lr=0.1"]["state"] == "requeued"
    assert nodes["results/train/lr=0.1"]["note"] == "requeued"
    assert nodes["results/waiting"]["state"] == "requeued"  # not missing
    assert nodes["results/train/lr=0.01"]["state"] == "stale"  # a done run is still judged
    assert nodes["results/prepare"]["state"] == "fresh"
    out = _dag(capsys, "results", "--format", "mermaid")
    assert '["lr=0.1<br/>requeued"]:::requeued' in out
    assert "classDef requeued fill:#ece0f7,stroke:#7b1fa2,color:#4a126b" in out
    out = _dag(capsys, "results", "--format", "dot")
    assert 'fillcolor="#ece0f7"' in out and 'class="requeued"' in out
    text = _dag(capsys, "results", "--format", "text")
    assert "\nrequeued results/waiting\n" in text
    assert "   requeued\n" not in text  # its state says it: no note line
    page = to_html(build_graph(["results"]), b"<svg></svg>", "lineage")  # no Graphviz needed
    assert "</span>requeued</li>" in page and "2 requeued" in page  # the legend, the summary


def test_dot_format(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = _dag(capsys, "results/evaluate", "--format", "dot")
    assert out.startswith("digraph lineage {")
    assert "subgraph cluster_0 {" in out and 'label="results/train (sweep)";' in out
    assert out.count("n0 [label=") == 1
    assert 'n0 -> n3 [style=dashed, tooltip="inferred from a data path"];' in out


def test_output_file_is_written_atomically_and_its_extension_picks_the_format(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dag", "results", "-o", "out/lineage.mmd"]) == 0
    assert capsys.readouterr().out == ""
    assert (project / "out" / "lineage.mmd").read_text().startswith("flowchart TD")
    assert main(["dag", "results", "-o", "out/lineage.gv"]) == 0
    assert (project / "out" / "lineage.gv").read_text().startswith("digraph lineage")
    assert sorted(p.name for p in (project / "out").iterdir()) == ["lineage.gv", "lineage.mmd"]
    assert main(["dag", "results", "-o", "out/lineage.xyz"]) == 2
    assert "pass --format" in capsys.readouterr().err


def test_bad_paths_exit_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dag", "nowhere"]) == 2
    assert "'nowhere' does not exist" in capsys.readouterr().err
    (project / "empty").mkdir()
    assert main(["dag", "empty"]) == 2
    assert "no run under 'empty'" in capsys.readouterr().err


def test_svg_and_png_need_graphviz_and_say_how_to_install_it(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    no_tools = tmp_path / "bin"
    no_tools.mkdir()
    monkeypatch.setenv("PATH", str(no_tools))  # a PATH without Graphviz's dot
    assert main(["dag", "results", "--format", "svg", "-o", "lineage.svg"]) == 2
    err = capsys.readouterr().err
    assert "needs Graphviz's `dot`" in err
    for install in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz"):
        assert install in err
    assert not (project / "lineage.svg").exists()


def _svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [el.text or "" for el in root.iter("{http://www.w3.org/2000/svg}text")]


def test_svg_and_png_with_real_graphviz(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _need("dot", "NAGA_REQUIRE_GRAPHVIZ")
    assert main(["dag", "results/evaluate", "-o", "lineage.svg"]) == 0
    svg = (project / "lineage.svg").read_text()
    texts = _svg_texts(svg)
    for label in ("results/prepare", "lr=0.1", "lr=0.01", "results/evaluate"):
        assert texts.count(label) == 1, texts
    assert "results/train (sweep)" in texts
    assert svg.count("#d8f0dc") == 4  # four fresh nodes
    assert main(["dag", "results/evaluate", "--format", "png", "-o", "lineage.png"]) == 0
    assert (project / "lineage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _artifacts(name: str) -> Path:
    folder = Path(os.environ.get("NAGA_ARTIFACTS") or tempfile.mkdtemp(prefix="naga-artifacts-"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def _chromium(page: Path, tmp_path: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    assert exe is not None
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    return subprocess.run(
        [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1200,800",
            *flags,
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_html_page_renders_every_node_in_chromium(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _need("dot", "NAGA_REQUIRE_GRAPHVIZ")
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        _need("chromium", "NAGA_REQUIRE_CHROMIUM")
    with open(project / "train.py", "a") as handle:
        handle.write("TUNED = True\n")  # stale nodes too, with their reason
    page = project / "lineage.html"
    assert main(["dag", "results", "-o", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("<!doctype html>") and "<svg" in text
    assert "http://" not in text.split("<svg", 1)[0]  # nothing fetched: self-contained
    for state in ("fresh", "stale", "failed", "running", "missing"):
        assert f"</span>{state}</li>" in text  # the legend
    done = _chromium(page, tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    svg = dom[dom.index("<svg") : dom.index("</svg>") + len("</svg>")]
    texts = _svg_texts(svg)
    for label in ("results/prepare", "lr=0.1", "lr=0.01", "results/evaluate", "results/crash"):
        assert label in texts, texts
    assert "stale: train.py modified" in texts
    assert "failed: ValueError: bad batch" in texts
    shot = _artifacts("naga-dag-lineage.png")
    shot.unlink(missing_ok=True)
    done = _chromium(page, tmp_path, f"--screenshot={shot}")
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    print(f"screenshot: {shot}")


def test_text_is_the_default_on_a_terminal(project: Path) -> None:
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "naga", "dag", "results/evaluate"],
        cwd=str(project),
        encoding="utf-8",
        timeout=120,
    )
    child.expect(pexpect.EOF)
    child.close()
    out = child.before.replace("\r\n", "\n")
    assert child.exitstatus == 0, out
    assert "\x1b[32mfresh   \x1b[0m results/prepare\n" in out  # coloured by state
    assert "<- results/train/lr=0.1, results/train/lr=0.01, results/prepare (inferred)" in out
