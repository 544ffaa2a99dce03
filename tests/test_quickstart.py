"""The README's first set-up command runs the quickstart end to end (here without reinstalling)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_script_runs_end_to_end(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    env["TMPDIR"] = str(tmp_path)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "quickstart.sh"), "--python", sys.executable],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Running with param: 10" in out
    assert "Logged artifacts for run: " in out
    assert "results/process: up to date" in out
    assert "results/process/param=3" in out
    assert "param: 1 -> 2" in out  # naga diff between two tasks
    assert "results/process: MLflow run " in out  # naga log
    assert "quickstart done" in out
    assert "is up to date" in done.stderr and "skipped" in done.stderr  # --if_stale
    assert "reproduced: 1 of 1 output files identical" in out  # naga rerun
    assert "graph" in out or "flowchart" in out  # naga dag --format mermaid
