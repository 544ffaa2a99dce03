"""mlflow_lock against a real MLflow: a sqlite store in a temp dir and a real `mlflow server`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helpers import free_port
from naga import TrackingError, clicfg, load_lock, mlflow_lock, runlock
from naga._urls import strip_credentials
from naga.tracking import TAG_STATUS, remembered_run, ui_hint
from naga.tracking._content import describe, run_times

mlflow = pytest.importorskip("mlflow")
QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    mlflow_bin = shutil.which("mlflow", path=os.path.dirname(sys.executable))
    assert mlflow_bin, "the mlflow command (full mlflow) is needed for the server tests"
    env = {
        **os.environ,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    proc = subprocess.Popen(
        [
            mlflow_bin,
            "server",
            "--backend-store-uri",
            f"sqlite:///{folder / 'mlflow.db'}",
            "--artifacts-destination",
            str(folder / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(folder / "server.log", "w"),  # noqa: SIM115
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(uri + "/health", timeout=2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(
                    "mlflow server did not start: " + (folder / "server.log").read_text()[-2000:]
                )
            time.sleep(0.5)
    yield uri
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def make_run(
    root: Path, name: str, git_repo: Path | None = None, prevs: list[str] | None = None
) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "out.txt").write_text(name)
    runlock(
        config={"param": 1, "save_dir": str(folder), "nested": {"lr": 0.1}, "long": "x" * 7000},
        repos=[str(git_repo)] if git_repo else None,
        data=[str(folder / "out.txt")],
        prevs=prevs,
    )
    return folder


def runs_of(uri: str, folder: Path) -> list:
    client = mlflow.tracking.MlflowClient(uri)
    return client.search_runs(
        ["0"], filter_string=f"tags.`naga.logical_run_id` = '{folder.resolve()}'"
    )


def test_logical_runs_in_a_sqlite_store(store: str, tmp_path: Path, git_repo: Path) -> None:
    folder = make_run(tmp_path, "results/a", git_repo)
    with mlflow_lock(folder) as first:
        mlflow.log_metric("score", 1.0)
    with mlflow_lock(folder) as second:
        pass
    client = mlflow.tracking.MlflowClient(store)
    old, new = client.get_run(first.info.run_id), client.get_run(second.info.run_id)
    assert old.data.tags[TAG_STATUS] == "deprecated" and new.data.tags[TAG_STATUS] == "active"
    assert old.data.tags["naga.superseded_by_run_id"] == new.info.run_id
    assert new.data.tags["naga.supersedes_run_id"] == old.info.run_id
    assert old.data.metrics["score"] == 1.0
    assert new.data.params["nested.lr"] == "0.1" and new.data.params["param"] == "1"
    assert (
        new.data.params["long"].endswith("...[truncated]") and len(new.data.params["long"]) == 6000
    )
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=git_repo, capture_output=True, text=True
    ).stdout.strip()
    assert new.data.tags["mlflow.source.git.commit"] == commit
    assert new.data.tags["mlflow.runName"] == "results/a"
    artifacts = [a.path for a in client.list_artifacts(new.info.run_id)]
    assert "run.lock" in artifacts
    assert remembered_run(folder)["run_id"] == new.info.run_id


def test_skipped_params_are_listed(store: str, tmp_path: Path) -> None:
    folder = tmp_path / "skipped"
    folder.mkdir()
    runlock(config={"ok": 1, "back`tick": 2, "k" * 300: 3, "save_dir": str(folder)})
    with mlflow_lock(folder) as run:
        pass
    data = mlflow.tracking.MlflowClient(store).get_run(run.info.run_id).data
    assert data.params["ok"] == "1" and "back`tick" not in data.params
    assert data.tags["naga.skipped_params"] == "back`tick, " + "k" * 300


def test_exception_fails_the_run_and_keeps_the_previous_active(store: str, tmp_path: Path) -> None:
    folder = make_run(tmp_path, "b")
    with mlflow_lock(folder) as good:
        pass
    with pytest.raises(ZeroDivisionError), mlflow_lock(folder) as bad:
        1 / 0  # noqa: B018
    client = mlflow.tracking.MlflowClient(store)
    assert client.get_run(bad.info.run_id).info.status == "FAILED"
    assert client.get_run(bad.info.run_id).data.tags[TAG_STATUS] == "failed"
    assert client.get_run(bad.info.run_id).data.params["param"] == "1"  # logged all the same
    assert client.get_run(good.info.run_id).data.tags[TAG_STATUS] == "active"


@pytest.mark.parametrize("where", ["store", "server"])
def test_a_config_param_changed_in_the_block_is_refused(
    where: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Params go with the final status in one request, after the block: a config param the block
    # logged with another value is refused then, and the run ends FAILED, as when MLflow
    # refused it inside the block.
    store = request.getfixturevalue(where)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    folder = make_run(tmp_path, "changed")
    with mlflow_lock(folder) as good:
        mlflow.log_param("param", 1)  # the same value: fine
    with (
        pytest.raises(TrackingError, match=r"refused the config params of .*changed.*another name"),
        mlflow_lock(folder) as bad,
    ):
        mlflow.log_param("param", 2)
    client = mlflow.tracking.MlflowClient(store)
    assert client.get_run(bad.info.run_id).info.status == "FAILED"
    assert client.get_run(bad.info.run_id).data.tags[TAG_STATUS] == "failed"
    assert client.get_run(good.info.run_id).data.tags[TAG_STATUS] == "active"
    assert remembered_run(folder)["run_id"] == good.info.run_id
    with pytest.raises(ValueError), mlflow_lock(folder) as failed:  # the same, in a failed block
        mlflow.log_param("param", 3)
        raise ValueError
    assert client.get_run(failed.info.run_id).data.tags[TAG_STATUS] == "failed"


def test_lineage_and_missing_lock(store: str, tmp_path: Path) -> None:
    upstream = make_run(tmp_path, "up")
    with mlflow_lock(upstream) as up:
        pass
    downstream = make_run(tmp_path, "down", prevs=[str(upstream)])
    with mlflow_lock(downstream) as down:
        pass
    tags = mlflow.tracking.MlflowClient(store).get_run(down.info.run_id).data.tags
    assert tags["naga.prev.0.run_id"] == up.info.run_id
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.warns(UserWarning, match="has no run.lock"), mlflow_lock(bare) as run:
        assert run.info.run_id


CONCURRENT = """
import random, sys, time
from naga import mlflow_lock
with mlflow_lock(sys.argv[1]):
    time.sleep(random.random())  # finish in another order than started
"""


def _concurrent(uri: str, folder: Path, n: int = 4) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CONCURRENT, str(folder)],
            env=env,
            cwd=folder.parent,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    assert_one_active(strip_credentials(uri), folder)


def assert_one_active(uri: str, folder: Path) -> str:
    """Exactly one active run of ``folder``, the others deprecated, and mlflow.json names it."""
    runs = runs_of(uri, folder)
    active = [r.info.run_id for r in runs if r.data.tags[TAG_STATUS] == "active"]
    others = sorted(r.data.tags[TAG_STATUS] for r in runs if r.info.run_id not in active)
    assert len(active) == 1 and others == ["deprecated"] * (len(runs) - 1), (active, others)
    assert remembered_run(folder)["run_id"] == active[0]
    for run in runs:
        if run.info.run_id != active[0]:  # every deprecated run points at a run of the folder
            assert run.data.tags["naga.superseded_by_run_id"] in {r.info.run_id for r in runs}
    return active[0]


def test_concurrent_writers_on_a_new_sqlite_store(tmp_path: Path) -> None:
    folder = make_run(tmp_path, "c")
    _concurrent(f"sqlite:///{tmp_path / 'fresh.db'}", folder)


def test_server_store_and_concurrency(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    folder = make_run(tmp_path, "s")
    with mlflow_lock(folder, experiment="naga-test") as run:
        mlflow.log_metric("m", 2.0)
    client = mlflow.tracking.MlflowClient(server)
    assert client.get_run(run.info.run_id).data.tags[TAG_STATUS] == "active"
    assert "run.lock" in [a.path for a in client.list_artifacts(run.info.run_id)]
    _concurrent(server, make_run(tmp_path, "s2"))


def test_concurrent_logs_on_a_server_remember_the_active_run(server: str, tmp_path: Path) -> None:
    # Issue 14.6: a process whose run started first but finished last used to remember its own,
    # just deprecated, run in .naga/mlflow.json (1 trial in 3), so later stages linked to it.
    folder = make_run(tmp_path, "race")
    for _ in range(3):
        _concurrent(server, folder)


def test_an_older_run_finishing_last_remembers_the_active_run(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The race of issue 14.6 made deterministic: run B starts after run A and finishes first.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    folder = make_run(tmp_path, "older")
    with mlflow_lock(folder) as first:
        pass
    with mlflow_lock(folder) as older:
        done = subprocess.run(
            [sys.executable, "-m", "naga", "log", str(folder)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    newer = assert_one_active(server, folder)
    assert newer not in (first.info.run_id, older.info.run_id)
    client = mlflow.tracking.MlflowClient(server)
    tags = {r: client.get_run(r).data.tags for r in (first.info.run_id, older.info.run_id, newer)}
    assert tags[older.info.run_id]["naga.superseded_by_run_id"] == newer
    assert tags[first.info.run_id]["naga.superseded_by_run_id"] == newer
    # The winner keeps the link to the run it replaced; the late loser does not rewrite it.
    assert tags[newer]["naga.supersedes_run_id"] == first.info.run_id
    assert "naga.supersedes_run_id" not in tags[older.info.run_id]
    downstream = make_run(tmp_path, "after-older", prevs=[str(folder)])
    with mlflow_lock(downstream) as down:
        pass
    assert client.get_run(down.info.run_id).data.tags["naga.prev.0.run_id"] == newer


def with_credentials(uri: str, userinfo: str = "user:secret") -> str:
    scheme, _, rest = uri.partition("://")
    return f"{scheme}://{userinfo}@{rest}"


def test_credentials_in_the_tracking_uri(server: str, tmp_path: Path, git_repo: Path) -> None:
    # Issue 14.8: MLflow sends the user information of the URI as basic auth (requests does),
    # so naga's reachability check must too; it used to take "user:secret@127.0.0.1" for the
    # host. The secret must not be printed, nor stored in .naga/mlflow.json or in a tag.
    remote = "https://user:p@ss:tok@example.com/org/r.git?private_token=abc#frag"
    subprocess.run(["git", "remote", "add", "origin", remote], cwd=git_repo, check=True)
    folder = make_run(tmp_path, "creds", git_repo)
    env = {**os.environ, "MLFLOW_TRACKING_URI": with_credentials(server)}
    done = subprocess.run(
        [sys.executable, "-m", "naga", "log", str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "secret" not in done.stdout + done.stderr
    assert f"at: {server}/#/experiments/" in done.stdout  # MLflow's run link, without them
    assert f"MLflow UI: {server}/#/experiments/0\n" in done.stdout  # how to open the UI
    memory_text = (folder / ".naga" / "mlflow.json").read_text()
    assert "secret" not in memory_text and "user" not in memory_text
    memory = remembered_run(folder)
    assert memory["tracking_uri"] == server
    run = mlflow.tracking.MlflowClient(server).get_run(memory["run_id"])
    logged = repr(run.data.tags) + repr(run.data.params)
    for secret in ("secret", "tok", "abc", "frag"):
        assert secret not in logged
    assert run.data.tags["mlflow.source.git.repoURL"] == "https://example.com/org/r.git"
    assert_one_active(server, folder)


def test_unreachable_server_error_hides_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", with_credentials(uri, "us%40er:s3cr%2Ft"))
    folder = make_run(tmp_path, "hidden")
    with pytest.raises(TrackingError) as caught, mlflow_lock(folder):
        pytest.fail("must not run")
    message = str(caught.value)
    assert f"MLflow tracking server {uri} is unreachable" in message
    for secret in ("s3cr", "us%40er", "us@er"):
        assert secret not in message
    assert remembered_run(folder) is None


def test_reachability_check_sends_basic_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    # A stub HTTP server stands in for MLflow here only to see the request headers of the
    # /health check (the real server does not enforce auth in these tests).
    import base64
    import http.server
    import threading

    from naga.tracking._store import _check_reachable

    seen: list[tuple[str, str | None]] = []

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append((self.path, self.headers.get("Authorization")))
            self.send_response(401 if "deny" in self.path else 200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{stub.server_address[1]}"
        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
        _check_reachable(with_credentials(base + "/prefix/", "us%40er:se%3Acret"))
        _check_reachable(base)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "env-user")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "env-pw")
        _check_reachable(base)
        _check_reachable(with_credentials(base, "url-user:url-pw"))  # the URI wins, as in MLflow
        with pytest.raises(
            TrackingError, match=r"refused naga's credentials \(HTTP 401\)"
        ) as caught:
            _check_reachable(with_credentials(base + "/deny", "me:pw0"))
        assert "pw0" not in str(caught.value)
    finally:
        stub.shutdown()
    decoded = [
        (path, base64.b64decode(auth.split()[1]).decode() if auth else None) for path, auth in seen
    ]
    assert decoded == [
        ("/prefix/health", "us@er:se:cret"),
        ("/health", None),
        ("/health", "env-user:env-pw"),
        ("/health", "url-user:url-pw"),
        ("/deny/health", "me:pw0"),
    ]


def test_unreachable_server_fails_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # naga checks /health with a short timeout before MLflow's own client (whose HTTP retries
    # take minutes) is used: the error is naga's TrackingError naming the URI.
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    folder = make_run(tmp_path, "u")
    with (
        pytest.raises(TrackingError, match=f"MLflow tracking server {uri} is unreachable"),
        mlflow_lock(folder),
    ):
        pytest.fail("must not run")
    assert remembered_run(folder) is None


def test_seed_log_py_runs_as_written(tmp_path: Path) -> None:
    for name in ("process.py", "log.py", ".gitignore"):
        shutil.copy(QUICKSTART / name, tmp_path / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    env["GIT_CONFIG_GLOBAL"] = os.devnull
    for args in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=a", "-c", "user.email=a@b", "commit", "-qm", "i"],
    ):
        subprocess.run(args, cwd=tmp_path, check=True, env=env)
    subprocess.run([sys.executable, "process.py"], cwd=tmp_path, check=True, env=env, timeout=120)
    done = subprocess.run(
        [sys.executable, "log.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Logged artifacts for run: " in done.stdout
    assert (tmp_path / "mlflow.db").is_file()


def test_old_mlruns_folder_is_explained(tmp_path: Path) -> None:
    # An ./mlruns file store in the working directory makes MLflow's default URI fall back to
    # it, and MLflow 3 refuses the file store: naga says so and how to fix it (exit 2).
    folder = make_run(tmp_path, "m")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    make_store = "import mlflow\nwith mlflow.start_run():\n    mlflow.log_param('a', 1)\n"
    subprocess.run(
        [sys.executable, "-c", make_store],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=300,
        env={**env, "MLFLOW_TRACKING_URI": "file:./mlruns", "MLFLOW_ALLOW_FILE_STORE": "true"},
    )
    assert (tmp_path / "mlruns").is_dir()
    done = subprocess.run(
        [sys.executable, "-m", "naga", "log", str(folder)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "an mlruns folder exists in the working directory" in done.stderr
    assert "MLFLOW_TRACKING_URI=sqlite:///mlflow.db" in done.stderr
    assert remembered_run(folder) is None


# -- Issue 15: MLflow that reads well (checked through the server's REST API) ---------------------


def rest(server: str, endpoint: str, **query: str) -> dict[str, Any]:
    """GET ``/api/2.0/mlflow/<endpoint>`` of the real server, as the MLflow UI does."""
    url = f"{server}/api/2.0/mlflow/{endpoint}?{urllib.parse.urlencode(query)}"
    with urllib.request.urlopen(url, timeout=30) as answer:
        return dict(json.load(answer))


def rest_run(server: str, run_id: str) -> dict[str, Any]:
    run = rest(server, "runs/get", run_id=run_id)["run"]
    run["tags"] = {t["key"]: t["value"] for t in run["data"].get("tags", [])}
    run["metrics"] = {m["key"]: m["value"] for m in run["data"].get("metrics", [])}
    return dict(run)


def write_record(folder: Path, **fields: Any) -> dict[str, Any]:
    """A run record as ``@clicfg`` writes it (``naga._record``), with times chosen by the test."""
    record = {
        "status": "done",
        "start": "2024-05-01T12:00:00Z",
        "host": "node7",
        "pid": 1,
        "command": [sys.executable, "train.py", "-o", "lr=0.2"],
        "end": "2024-05-01T12:02:04Z",
        "duration_s": 123.25,
        **fields,
    }
    (folder / ".naga").mkdir(exist_ok=True)
    (folder / ".naga" / "record.json").write_text(json.dumps(record))
    return record


START_MS = 1714564800000  # 2024-05-01T12:00:00Z


def test_the_run_has_the_experiments_times(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The MLflow run used to start and end when it was logged, so the UI's duration was the
    # logging's (a fraction of a second) and the list sorted runs by when they were logged.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    folder = make_run(tmp_path, "timed")
    write_record(folder)
    with mlflow_lock(folder) as run:
        pass
    info = rest_run(server, run.info.run_id)["info"]
    assert int(info["start_time"]) == START_MS
    assert int(info["end_time"]) == START_MS + 123_250  # start + duration_s: to the millisecond
    assert info["status"] == "FINISHED"
    # Without a record, run.lock's creation time starts the run.
    bare = make_run(tmp_path, "no-record")
    created = run_times(None, {"created": "2024-05-01T12:00:00.500000Z"})
    assert created == (START_MS + 500, None)
    with mlflow_lock(bare) as run:
        pass
    lock = load_lock(bare)
    assert int(rest_run(server, run.info.run_id)["info"]["start_time"]) == run_times(None, lock)[0]


def test_run_lock_is_also_logged_as_yaml(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The MLflow UI previews only files it knows by extension: `run.lock` showed nothing.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    folder = make_run(tmp_path, "yaml")
    with mlflow_lock(folder) as run:
        pass
    listed = rest(server, "artifacts/list", run_id=run.info.run_id)
    assert sorted(f["path"] for f in listed["files"]) == ["run.lock", "run.lock.yaml"]
    client = mlflow.tracking.MlflowClient(server)
    shown = Path(client.download_artifacts(run.info.run_id, "run.lock.yaml", str(tmp_path)))
    assert shown.read_text() == (folder / "run.lock").read_text()


def test_data_are_dataset_inputs(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The data show in MLflow's dataset view: name, digest (naga's hash), source (the path).
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    folder = make_run(tmp_path, "inputs")
    with mlflow_lock(folder) as run:
        pass
    entry = next(iter(load_lock(folder)["data"].values()))
    (dataset_input,) = rest_run(server, run.info.run_id)["inputs"]["dataset_inputs"]
    dataset = dataset_input["dataset"]
    assert dataset["name"] == str(folder / "out.txt")  # the data name as given to runlock
    assert dataset["digest"] == entry["hash"].removeprefix("xxh3-128:")
    assert dataset["source_type"] == "local"
    assert json.loads(dataset["source"]) == {"uri": str(folder / "out.txt")}
    assert json.loads(dataset["profile"]) == {"hash": entry["hash"], "size": 6, "files": 1}
    assert dataset_input["tags"] == [{"key": "mlflow.data.context", "value": "input"}]


def test_dataset_inputs_survive_mlflows_race(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow checks that a dataset is new to the experiment, then inserts it: two processes
    # logging the same new data at once, one got "UNIQUE constraint failed: datasets..." and
    # died (1 in 6 trials of 4 processes on a real server). The race cannot be timed from a
    # test: the first call fails here as it did there, the retry finds the dataset.
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    real = MlflowClient.log_inputs
    calls: list[int] = []

    def racing(self: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise MlflowException("UNIQUE constraint failed: datasets.experiment_id")
        real(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "log_inputs", racing)
    folder = make_run(tmp_path, "race-inputs")
    with mlflow_lock(folder) as run:
        pass
    inputs = MlflowClient(store).get_run(run.info.run_id).inputs.dataset_inputs
    assert len(calls) == 2 and [i.dataset.name for i in inputs] == [str(folder / "out.txt")]


def test_the_result_is_logged_as_metrics(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    folder = make_run(tmp_path, "metrics")
    write_record(folder)
    (folder / "result.json").write_text('{"acc": 0.93, "loss": 0.25, "epochs": 3}\n')
    with mlflow_lock(folder) as run:
        mlflow.log_metric("extra", 1.0)  # the block still logs to the run
    logged = rest_run(server, run.info.run_id)
    assert logged["metrics"] == {"acc": 0.93, "loss": 0.25, "epochs": 3.0, "extra": 1.0}
    history = rest(server, "metrics/get-history", run_id=run.info.run_id, metric_key="acc")
    assert [int(m["timestamp"]) for m in history["metrics"]] == [START_MS + 123_250]
    # A result that is not a flat mapping of numbers is no metric (it shows in the description).
    (folder / "result.json").write_text('{"best": {"acc": 0.9}}\n')
    with mlflow_lock(folder) as run:
        pass
    logged = rest_run(server, run.info.run_id)
    assert logged["metrics"] == {}
    assert '`{"best": {"acc": 0.9}}`' in logged["tags"]["mlflow.note.content"]


def test_a_superseded_run_is_marked_in_its_name(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    folder = make_run(tmp_path, "results/marked")
    write_record(folder)  # every log has the same start time: the newest log still wins
    runs = []
    for _ in range(3):
        with mlflow_lock(folder) as run:
            runs.append(run.info.run_id)
    seen = [rest_run(server, run_id) for run_id in runs]
    names = [run["info"]["run_name"] for run in seen]
    assert names == ["results/marked (superseded)"] * 2 + ["results/marked"]
    assert [run["tags"]["mlflow.runName"] for run in seen] == names
    assert [run["tags"][TAG_STATUS] for run in seen] == ["deprecated", "deprecated", "active"]
    assert seen[1]["tags"]["naga.superseded_by_run_id"] == runs[2]
    assert remembered_run(folder)["run_id"] == runs[2]


@dataclass
class Train:
    lr: float = 0.1
    depth: int = 3
    save_dir: str = "results/train"
    data: str = "data.txt"
    prev: str = "results/prepare"


@clicfg
def train(cfg: Train) -> dict[str, float]:
    runlock(config=cfg, repos=["."], data={"input": cfg.data}, prevs=[cfg.prev])
    return {"acc": 0.875}


def test_the_description_summarises_the_run(
    server: str, git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The MLflow run's description (the "Description" box of the UI) says in a few lines what
    # ran: the command, the config's changes from the defaults, the code, the data, the
    # upstream runs as links, the result. It used to be empty.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.chdir(git_repo)
    (git_repo / "data.txt").write_text("hello\n")
    (git_repo / ".gitignore").write_text("results/\n")
    (git_repo / "fast.yml").write_text("depth: 2\n")
    prepare = git_repo / "results" / "prepare"
    prepare.mkdir(parents=True)
    runlock(config={"save_dir": str(prepare)})
    with mlflow_lock(prepare, experiment="described") as up:
        pass
    train(argv=["--config", "fast.yml", "-o", "lr=0.2"])
    folder = git_repo / "results" / "train"
    with mlflow_lock(folder, experiment="described") as run:
        pass
    note = rest_run(server, run.info.run_id)["tags"]["mlflow.note.content"]
    lock = load_lock(folder)
    repo = next(iter(lock["repos"].values()))
    data_hash = lock["data"]["input"]["hash"].removeprefix("xxh3-128:")
    link = f"[`../prepare`](#/experiments/{up.info.experiment_id}/runs/{up.info.run_id})"
    assert note.startswith("**done** in ")
    assert "- **config**: files `../../fast.yml`; overrides `lr=0.2`" in note, note
    assert f"- **code**: `.` `{repo['commit'][:12]}` on `main`, dirty (snapshot " in note
    assert f"- **data**: `input` `xxh3-128:{data_hash[:12]}`" in note
    assert f"- **upstream**: {link}" in note
    assert "- **result**: `acc` = 0.875" in note
    assert "- **command**: `python " in note
    # The same summary, from the same files: a pure function of run.lock, record and result.
    record = json.loads((folder / ".naga" / "record.json").read_text())
    upstream = {"../prepare": (up.info.experiment_id, up.info.run_id)}
    assert note == describe(folder, lock, record, {"acc": 0.875}, upstream)


def test_the_description_of_a_folder_without_receipt_or_record(tmp_path: Path) -> None:
    note = describe(tmp_path, None, None, None, {})
    assert note.startswith("**logged by naga** (no run record")
    assert "no run.lock: config, code and data are unknown" in note
    failed = {"status": "failed", "start": "2024-05-01T12:00:00Z", "duration_s": 4000}
    failed["error"] = {"type": "ValueError", "message": "bad `x`", "where": "train.py:3"}
    assert describe(tmp_path, None, failed, None, {}).startswith(
        "**failed** in 1 h 6 min, started 2024-05-01T12:00:00Z: `ValueError: bad 'x'` at "
        "`train.py:3`"
    )


def test_the_block_is_mlflows_active_run_and_ends_with_it(store: str, tmp_path: Path) -> None:
    # naga makes its run MLflow's active run without mlflow.start_run's three extra requests:
    # the fluent API must still see it, nest it, and end runs the block left open.
    folder = make_run(tmp_path, "fluent")
    with mlflow.start_run() as outer:
        with mlflow_lock(folder) as run:
            assert mlflow.active_run().info.run_id == run.info.run_id
            child = mlflow.start_run(nested=True)  # left open by the block
        assert mlflow.active_run().info.run_id == outer.info.run_id
    assert mlflow.active_run() is None
    assert mlflow.last_active_run().info.run_id == outer.info.run_id
    client = mlflow.tracking.MlflowClient(store)
    assert client.get_run(run.info.run_id).data.tags["mlflow.parentRunId"] == outer.info.run_id
    assert client.get_run(child.info.run_id).info.status == "FINISHED"
    with mlflow_lock(folder) as run:
        pass
    assert mlflow.active_run() is None and mlflow.last_active_run().info.run_id == run.info.run_id


def test_ui_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    local = ui_hint("sqlite:///mlflow.db", "4")
    assert local.startswith(
        f"MLflow UI: mlflow ui --backend-store-uri sqlite:///{tmp_path / 'mlflow.db'}, "
        f"then open http://127.0.0.1:5000/#/experiments/4"
    )
    assert (
        ui_hint("https://u:tok@mlflow.example.org/?x=1") == "MLflow UI: https://mlflow.example.org"
    )
    database = ui_hint("postgresql://me:s3cret@db:5432/mlflow")
    assert "--backend-store-uri postgresql://db:5432/mlflow" in database
    assert "s3cret" not in database and "credentials, left out here" in database
    assert ui_hint("databricks") == "MLflow UI: the one serving tracking URI databricks"


def test_naga_log_says_how_to_open_the_ui(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from naga.cli import main

    folder = make_run(tmp_path, "shown")
    assert main(["log", str(folder), "--experiment", "shown"]) == 0
    out = capsys.readouterr().out.splitlines()
    experiment = remembered_run(folder)["experiment_id"]
    assert out[-1].startswith(
        f"MLflow UI: mlflow ui --backend-store-uri {store}, "
        f"then open http://127.0.0.1:5000/#/experiments/{experiment}"
    )
