"""mlflow_lock against the bare MLflow calls it wraps, and its look-up cost as an experiment grows.

Run: .venv/bin/python benchmarks/mlflow_lock.py [rounds] [--against REV] [--server]. Uses a
sqlite store in a temp dir; ``--server`` a real ``mlflow server`` on 127.0.0.1 (every call a
request, as on a shared tracking server). ``--against REV`` also times the mlflow_lock of a git
revision (its ``src/naga/tracking/_mlflow.py``), interleaved with today's, for before/after.

Two cases, each timed interleaved with its baselines:
- a run's first log (a new directory: nothing to deprecate), the usual case;
- a run logged again (the same directory: its previous active run is deprecated).

Three baselines: the bare calls of the first benchmark (create, tags, params, run.lock, end); the
bare calls that store what mlflow_lock stores (the run's own start and end, a description,
params and metrics in one batch, a dataset input, run.lock and run.lock.yaml); and those plus
what one active run per directory takes by hand (mark the run active, find the directory's
other active run, deprecate and rename it): the calls mlflow_lock wraps on a re-log.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _common import interleaved, table, time_call

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    args = sys.argv[1:]
    against = None
    if "--against" in args:
        index = args.index("--against")
        against = args[index + 1]
        del args[index : index + 2]
    server = "--server" in args
    if server:
        args.remove("--server")
    rounds = int(args[0]) if args else 5
    tmp = Path(tempfile.mkdtemp(prefix="naga-bench-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    if server:
        os.environ["MLFLOW_TRACKING_URI"] = _start_server(tmp)
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
    (run_dir / ".naga" / "record.json").write_text(
        json.dumps({"status": "done", "start": "2024-05-01T12:00:00Z", "duration_s": 12.5})
    )
    (run_dir / "result.json").write_text('{"acc": 0.9, "loss": 0.1}\n')
    data_hash = lock["data"][str(run_dir / "out.txt")]["hash"]

    def bare() -> None:
        with mlflow.start_run(run_name="bare"):
            mlflow.set_tags({"commit": "x", "data": data_hash})
            mlflow.log_params({"param": 1, "nested.lr": 0.1})
            mlflow.log_artifact(str(run_dir / "run.lock"))

    client = mlflow.tracking.MlflowClient()

    def bare_same_content() -> str:
        from mlflow.entities import Dataset, DatasetInput, Metric, Param

        start = 1714564800000
        run = client.create_run(
            "0",
            start_time=start,
            tags={
                "commit": "x",
                "dir": "bare",
                "data": data_hash,
                "mlflow.note.content": "**done**",
            },
            run_name="bare-full",
        )
        run_id = run.info.run_id
        client.log_batch(
            run_id,
            params=[Param("param", "1"), Param("nested.lr", "0.1")],
            metrics=[Metric("acc", 0.9, start, 0), Metric("loss", 0.1, start, 0)],
        )
        source = json.dumps({"uri": str(run_dir / "out.txt")})
        client.log_inputs(run_id, [DatasetInput(Dataset("out", data_hash[9:], "local", source))])
        client.log_artifact(run_id, str(run_dir / "run.lock"))
        client.log_text(run_id, (run_dir / "run.lock").read_text(), "run.lock.yaml")
        client.set_terminated(run_id, end_time=start + 12500)
        return run_id

    def bare_one_active(previous: list[str] = []) -> None:  # noqa: B006 (the last run)
        """The same content, then what one active run per directory takes by hand: find the
        directory's active run, mark it deprecated and rename it."""
        from mlflow.entities import RunTag

        run_id = bare_same_content()
        client.set_tag(run_id, "naga.run_status", "active")
        found = client.search_runs(
            ["0"], "tags.`naga.run_status` = 'active' and tags.`dir` = 'bare'", max_results=50
        )
        for run in found:
            if run.info.run_id != run_id:
                tags = [RunTag("naga.run_status", "deprecated"), RunTag("superseded_by", run_id)]
                tags.append(RunTag("mlflow.runName", run.info.run_name + " (superseded)"))
                client.log_batch(run.info.run_id, tags=tags)

    baselines: dict[str, Callable[[], float]] = {
        "bare MLflow calls": lambda: time_call(bare),
        "bare, same content as naga": lambda: time_call(bare_same_content),
    }
    contenders: dict[str, Callable[..., Any]] = {"naga mlflow_lock": mlflow_lock}
    if against:
        contenders[f"naga mlflow_lock at {against}"] = _mlflow_lock_at(against, tmp)
    first: dict[str, Callable[[], float]] = dict(baselines)
    again: dict[str, Callable[[], float]] = {
        **baselines,
        "bare, same content, one active run": lambda: time_call(bare_one_active),
    }
    for label, function in contenders.items():
        folder = tmp / f"again-{len(again)}"  # each its own folder: one deprecation per log
        shutil.copytree(run_dir, folder)

        def once(function: Callable[..., Any] = function, folder: Path = folder) -> None:
            with function(folder):
                pass

        def new_folder(function: Callable[..., Any] = function, label: str = label) -> float:
            folder = tmp / f"first-{len(list(tmp.glob('first-*')))}"
            shutil.copytree(run_dir, folder)  # not timed
            return time_call(lambda: once(function, folder))

        once()  # warm-up
        first[label] = new_folder
        again[label] = lambda once=once: time_call(once)
    bare()
    bare_same_content()
    bare_one_active()
    table(
        "a run's first log (the usual case): create, tags, params, run.lock, end",
        interleaved(first, rounds),
        "bare MLflow calls",
    )
    table(
        "a run logged again: the same, and its previous active run deprecated",
        interleaved(again, rounds),
        "bare, same content, one active run",
    )

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


def _mlflow_lock_at(revision: str, tmp: Path) -> Callable[..., Any]:
    """The ``mlflow_lock`` of ``src/naga/tracking/_mlflow.py`` at a git revision."""
    source = subprocess.run(
        ["git", "show", f"{revision}:src/naga/tracking/_mlflow.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = tmp / "mlflow_lock_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("naga_mlflow_lock_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.mlflow_lock  # type: ignore[no-any-return]


def _start_server(tmp: Path) -> str:
    """A real ``mlflow server`` on a free port of 127.0.0.1, stopped when the benchmark ends."""
    import atexit
    import socket
    import time
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mlflow_bin = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or "mlflow"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    argv = [mlflow_bin, "server", "--backend-store-uri", f"sqlite:///{tmp / 'server.db'}"]
    argv += ["--artifacts-destination", str(tmp / "artifacts"), "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", "1"]
    log = open(tmp / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=log)
    atexit.register(proc.terminate)
    uri = f"http://127.0.0.1:{port}"
    for _ in range(360):
        try:
            urllib.request.urlopen(uri + "/health", timeout=2).close()
            return uri
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    raise SystemExit("mlflow server did not start: " + (tmp / "server.log").read_text()[-2000:])


def _cycle(folder: Path, experiment: str) -> None:
    from naga import mlflow_lock

    with mlflow_lock(folder, experiment=experiment):
        pass


if __name__ == "__main__":
    main()
