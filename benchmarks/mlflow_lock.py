"""mlflow_lock against the bare MLflow calls it wraps, and its look-up cost as an experiment grows.

Run: .venv/bin/python benchmarks/mlflow_lock.py [rounds]. Uses a sqlite store in a temp dir.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved, table, time_call


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    tmp = Path(tempfile.mkdtemp(prefix="naga-bench-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["NAGA_CACHE_DIR"] = str(tmp / "cache")
    os.chdir(tmp)
    import mlflow

    from naga import mlflow_lock, runlock

    run_dir = tmp / "run"
    run_dir.mkdir()
    (run_dir / "out.txt").write_text("x")
    lock = runlock(
        config={"param": 1, "nested": {"lr": 0.1}},
        data=[str(run_dir / "out.txt")],
        runlock_path=run_dir / "run.lock",
    )

    def bare() -> None:
        with mlflow.start_run(run_name="bare"):
            mlflow.set_tags({"commit": "x", "data": lock["data"][str(run_dir / "out.txt")]["hash"]})
            mlflow.log_params({"param": 1, "nested.lr": 0.1})
            mlflow.log_artifact(str(run_dir / "run.lock"))

    def naga_lock() -> None:
        with mlflow_lock(run_dir):
            pass

    bare()
    naga_lock()
    table(
        "one run: create, tag, params, run.lock artifact, end",
        interleaved(
            {
                "bare MLflow calls": lambda: time_call(bare),
                "naga mlflow_lock": lambda: time_call(naga_lock),
            },
            rounds,
        ),
        "bare MLflow calls",
    )

    client = mlflow.tracking.MlflowClient()
    results = {}
    for size in (100, 5000):
        experiment = client.create_experiment(f"size-{size}")
        for i in range(size):
            client.create_run(
                experiment, tags={"naga.logical_run_hash": f"{i:016x}", "naga.run_status": "active"}
            )
        folder = tmp / f"run-{size}"
        shutil.copytree(run_dir, folder)
        _cycle(folder, f"size-{size}")  # warm-up
        samples = [
            time_call(lambda folder=folder, size=size: _cycle(folder, f"size-{size}"))
            for _ in range(rounds)
        ]
        results[f"experiment of {size} runs"] = sorted(samples)[len(samples) // 2]
    table(
        "mlflow_lock as the experiment grows (deprecation look-up by hash tag)",
        results,
        "experiment of 100 runs",
    )
    shutil.rmtree(tmp, ignore_errors=True)


def _cycle(folder: Path, experiment: str) -> None:
    from naga import mlflow_lock

    with mlflow_lock(folder, experiment=experiment):
        pass


if __name__ == "__main__":
    main()
